"""Webhook secrets sealed with KMS: the tables hold ciphertext only (CONTRACT section 4).

A secret is encrypted under the deployment's key (`BLOCKHOOK_SECRETS_KEY_ID`) with the
monitor's id as encryption context, so a ciphertext copied onto another monitor does not
decrypt. The API seals on create and rotation; the deliver function opens to sign. Opened
secrets are kept in memory for the life of the process (keyed by ciphertext, which changes on
every rotation), so a warm deliver function calls KMS once per monitor and secret, not per
webhook. Locally the same code talks to the moto server's KMS, whose key `make up` creates.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from blockhook.config import settings

SEALED_PREFIX = "kms1:"
LOCAL_KEY_ALIAS = "alias/blockhook-webhook-secrets"
_CONTEXT_NAME = "blockhook:monitor_id"
_OPENED_CACHE_SIZE = 10_000  # monitors a warm process keeps opened secrets of


class SecretBoxError(RuntimeError):
    """A secret could not be sealed or opened (key missing or disabled, KMS unreachable, wrong monitor)."""


def new_secret() -> str:
    return "whsec_" + secrets.token_hex(24)


class KmsSecretBox:
    def __init__(self, key_id: str, client: Any = None) -> None:
        if not key_id:
            raise SecretBoxError("no KMS key configured for webhook secrets (BLOCKHOOK_SECRETS_KEY_ID)")
        self.key_id = key_id
        self._client = client
        self._opened: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()  # the deliver function opens from several threads

    @property
    def client(self):
        if self._client is None:
            self._client = boto3.client("kms")
        return self._client

    def seal(self, secret: str, monitor_id: str) -> str:
        try:
            answer = self.client.encrypt(
                KeyId=self.key_id, Plaintext=secret.encode("utf-8"), EncryptionContext={_CONTEXT_NAME: monitor_id}
            )
        except (ClientError, BotoCoreError) as error:
            raise SecretBoxError(f"cannot seal the secret of {monitor_id}: {_reason(error)}") from None
        sealed = SEALED_PREFIX + base64.b64encode(answer["CiphertextBlob"]).decode("ascii")
        self._remember((sealed, monitor_id), secret)
        return sealed

    def open(self, sealed: str, monitor_id: str) -> str:
        with self._lock:
            if (sealed, monitor_id) in self._opened:
                self._opened.move_to_end((sealed, monitor_id))
                return self._opened[(sealed, monitor_id)]
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretBoxError(f"the stored secret of {monitor_id} is not a sealed secret")
        try:
            blob = base64.b64decode(sealed[len(SEALED_PREFIX) :], validate=True)
            answer = self.client.decrypt(
                KeyId=self.key_id, CiphertextBlob=blob, EncryptionContext={_CONTEXT_NAME: monitor_id}
            )
        except binascii.Error:
            raise SecretBoxError(f"the stored secret of {monitor_id} is not valid base64") from None
        except (ClientError, BotoCoreError) as error:
            raise SecretBoxError(f"cannot open the secret of {monitor_id}: {_reason(error)}") from None
        secret = answer["Plaintext"].decode("utf-8")
        self._remember((sealed, monitor_id), secret)
        return secret

    def _remember(self, key: tuple[str, str], secret: str) -> None:
        with self._lock:
            self._opened[key] = secret
            self._opened.move_to_end(key)
            while len(self._opened) > _OPENED_CACHE_SIZE:
                self._opened.popitem(last=False)


@lru_cache(maxsize=1)
def configured_secret_box() -> KmsSecretBox:
    """The process's box, on the configured key. One per process: it keeps what it opened."""
    return KmsSecretBox(settings().secrets_key_id)


def _reason(error: Exception) -> str:
    # The error code only: KMS messages can quote key ARNs, never the plaintext, but keep logs short.
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code", "ClientError")
    return error.__class__.__name__


def ensure_local_key(client: Any = None) -> str:
    """The ARN of the local stack's key (alias LOCAL_KEY_ALIAS), created on first use.

    For the local stack and tests only; in the cloud the CDK stack owns the key."""
    client = client or boto3.client("kms")
    try:
        return client.describe_key(KeyId=LOCAL_KEY_ALIAS)["KeyMetadata"]["Arn"]
    except client.exceptions.NotFoundException:
        pass
    key = client.create_key(Description="blockhook webhook secrets (local)")["KeyMetadata"]
    client.create_alias(AliasName=LOCAL_KEY_ALIAS, TargetKeyId=key["KeyId"])
    return key["Arn"]
