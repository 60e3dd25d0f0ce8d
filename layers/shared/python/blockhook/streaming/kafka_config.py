"""Connection settings for kafka-python: plaintext locally, SASL/IAM on MSK Serverless."""

from __future__ import annotations

from typing import Any


def connection_options(bootstrap: str, auth: str) -> dict[str, Any]:
    options: dict[str, Any] = {"bootstrap_servers": bootstrap.split(",")}
    if auth == "iam":
        # kafka-python signs the SASL handshake with the function's role; botocore finds
        # the credentials and the region (AWS_DEFAULT_REGION) in the Lambda environment.
        options.update(security_protocol="SASL_SSL", sasl_mechanism="AWS_MSK_IAM")
    elif auth != "plaintext":
        raise ValueError(f"unknown Kafka auth {auth!r}: expected 'plaintext' or 'iam'")
    return options
