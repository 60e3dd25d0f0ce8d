"""RPC URLs kept in AWS Secrets Manager, so that node URLs with API keys never sit in a template or
an environment variable.

A chain entry names its secret (`"rpc_url_secret": "blockhook/rpc/ethereum"`) instead of listing
`rpc_urls`; the secret's value is a JSON list of http(s) URLs (failover in order) or one URL as plain
text. It is read once, when the chain registry loads (a Lambda's cold start). Messages name the
secret, never its value.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError


class RpcSecretError(ValueError):
    """The secret cannot be read, or does not hold RPC URLs."""


def rpc_urls_from_secret(secret_id: str, client: Any = None) -> list[str]:
    """The RPC URLs a Secrets Manager secret (name or ARN) holds."""
    client = client or boto3.client("secretsmanager")
    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise RpcSecretError(f"secret {secret_id!r}: cannot read it ({code})") from None
    except BotoCoreError as exc:
        raise RpcSecretError(f"secret {secret_id!r}: cannot read it ({exc.__class__.__name__})") from None
    text = answer.get("SecretString")
    if not isinstance(text, str) or not text.strip():
        raise RpcSecretError(f"secret {secret_id!r}: has no text value (expected a JSON list of RPC URLs)")
    return parse_rpc_secret(text, secret_id)


def parse_rpc_secret(text: str, secret_id: str = "secret") -> list[str]:
    """`["https://a", "https://b"]` or `https://a`; anything else is refused without echoing it."""
    text = text.strip()
    if text.startswith("["):
        try:
            urls = json.loads(text)
        except ValueError:
            raise RpcSecretError(f"secret {secret_id!r}: starts like a JSON list but is not valid JSON") from None
    else:
        urls = [text]
    if not urls or not all(isinstance(url, str) and url.strip() for url in urls):
        raise RpcSecretError(f"secret {secret_id!r}: expected one URL or a non-empty JSON list of URL strings")
    return [url.strip() for url in urls]
