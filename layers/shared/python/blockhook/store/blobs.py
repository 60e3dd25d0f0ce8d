"""Values too large for where they would go, kept in S3 and referred to by key.

Three writers, each under its own prefix: ingest keeps an event too large to cross Kafka inline
(`events/`), the matcher a match record or a delivery body too large for a DynamoDB item
(`matches/`, `deliveries/`). Keys are content-addressed (`<prefix>/<sha256 of the bytes>`): writing
the same value again (a retried poll, a repeated batch) writes the same object, and a key never
names two different values, so an object is never overwritten with something else.
"""

from __future__ import annotations

import hashlib
import os
import threading
from functools import lru_cache
from typing import Any

# Room for a DynamoDB item's other attributes under its 400 KB limit.
MAX_INLINE_ITEM_BYTES = 300_000
DEFAULT_BUCKET = "blockhook-large-objects"


class BlobUnavailable(RuntimeError):
    """S3 did not store or answer a value; the caller fails and is retried, nothing is skipped."""


def bucket_name() -> str:
    return os.environ.get("BLOCKHOOK_LARGE_OBJECTS_BUCKET") or DEFAULT_BUCKET


class BlobStore:
    def __init__(self, bucket: str, client: Any = None) -> None:
        self.bucket = bucket
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        # Made once, under a lock: each chain's ingest thread may be the first to need it, and boto3's
        # default session is not safe to make clients from at once (the client itself is).
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("s3")
            return self._client

    def put(self, prefix: str, data: bytes) -> str:
        """Store `data`; returns its key."""
        key = f"{prefix}/{hashlib.sha256(data).hexdigest()}"
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/octet-stream")
        except Exception as error:  # botocore's errors have no common base worth naming here
            raise BlobUnavailable(f"cannot store s3://{self.bucket}/{key}: {error}") from error
        return key

    def get(self, key: str) -> bytes:
        try:
            data = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as error:
            raise BlobUnavailable(f"cannot read s3://{self.bucket}/{key}: {error}") from error
        if hashlib.sha256(data).hexdigest() != key.rpartition("/")[2]:
            raise BlobUnavailable(f"s3://{self.bucket}/{key} does not hold the value it was stored with")
        return data


@lru_cache(maxsize=1)
def configured_blobs() -> BlobStore:
    """The process's store (a warm Lambda reuses its client)."""
    return BlobStore(bucket_name())


def spill(prefix: str, data: bytes, limit: int = MAX_INLINE_ITEM_BYTES) -> tuple[bytes | None, str | None]:
    """(data, None) when it fits an item inline; else (None, key) with the data stored under `prefix`."""
    if len(data) <= limit:
        return data, None
    return None, configured_blobs().put(prefix, data)


def unspill(inline: bytes | None, key: str | None) -> bytes:
    """The value `spill` was given, from the item's inline bytes or from the store."""
    if key:
        return configured_blobs().get(key)
    if inline is None:
        raise BlobUnavailable("an item holds neither its value nor a reference to it")
    return inline


def create_local_bucket(name: str | None = None) -> None:
    """Create the bucket if it does not exist (local stack and tests; the cloud uses CDK)."""
    import boto3

    client = boto3.client("s3")
    bucket = name or bucket_name()
    try:
        client.head_bucket(Bucket=bucket)
        return
    except client.exceptions.ClientError:
        pass
    region = client.meta.region_name
    placed = {} if region in (None, "us-east-1") else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    client.create_bucket(Bucket=bucket, **placed)
