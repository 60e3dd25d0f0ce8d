"""Connection settings for kafka-python: plaintext locally, IAM on MSK Serverless.

IAM the way AWS documents it for Python clients: SASL OAUTHBEARER with a token from AWS's own signer,
aws-msk-iam-sasl-signer-python (a SigV4-presigned `kafka-cluster:Connect` URL, base64url-encoded,
valid 15 minutes), made from the function role's credentials in the Lambda environment.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from kafka.net.sasl.oauth import AbstractTokenProvider

# A token lives 15 minutes; a new one is made this long before the old one runs out.
TOKEN_REFRESH_MARGIN_SECONDS = 60


class MskIamTokens(AbstractTokenProvider):
    """OAUTHBEARER tokens for MSK IAM, one reused until shortly before it expires (kafka-python asks for
    one on every connection)."""

    def __init__(self, region: str) -> None:
        super().__init__()
        self.region = region
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0

    def token(self) -> str:
        # Imported here: the signer loads only where IAM is used (never locally).
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        with self._lock:
            if self._token is None or time.time() > self._expires_at - TOKEN_REFRESH_MARGIN_SECONDS:
                token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(self.region)
                self._token, self._expires_at = token, expiry_ms / 1000
            return self._token


def connection_options(bootstrap: str, auth: str) -> dict[str, Any]:
    options: dict[str, Any] = {"bootstrap_servers": bootstrap.split(",")}
    if auth == "iam":
        options.update(
            security_protocol="SASL_SSL",
            sasl_mechanism="OAUTHBEARER",
            sasl_oauth_token_provider=MskIamTokens(_region()),
        )
    elif auth != "plaintext":
        raise ValueError(f"unknown Kafka auth {auth!r}: expected 'plaintext' or 'iam'")
    return options


def _region() -> str:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ValueError("Kafka auth 'iam' needs the AWS region: AWS_REGION is not set")
    return region
