"""Produce blocks and reverts to the `blocks` topic, acknowledged by the broker
before the caller moves its checkpoint.

One producer serves every chain, each polled in its own thread: a thread's `flush` answers for the
messages that thread sent, so one chain's failed produce is never reported to, or hidden from, another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from blockhook.streaming.codec import BackfillTarget, BlockHeader, encode_block, encode_revert, message_key
from blockhook.streaming.kafka_config import connection_options

BATCH_BYTES = 1_000_000


class ProduceFailed(RuntimeError):
    """The broker did not acknowledge every message: the checkpoint must not move."""


class BlockProducer:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        auth: str = "plaintext",
        claims: Callable[[int, bytes], str] | None = None,
        **overrides: Any,
    ) -> None:
        """`claims(chain_id, data)` stores an event too large for a message and returns its key."""
        self.topic = topic
        self.claims = claims
        self._sent = threading.local()
        self._producer = KafkaProducer(
            **connection_options(bootstrap, auth),
            acks="all",  # a message counts once every in-sync replica has it
            linger_ms=5,
            max_request_size=1_048_576,
            # Up to a megabyte of block messages in one record batch, sent in one request: at the default
            # 16 KB every block message (~100 KB and up) went alone, a request and an acknowledgement
            # each, about 4x the client's CPU while catching up. A batch stays under the brokers' default
            # message.max.bytes (1,048,588); a message larger than a batch (none passes the codec's
            # MAX_MESSAGE_BYTES) goes in one of its own.
            batch_size=BATCH_BYTES,
            **overrides,
        )

    def send_block(
        self,
        header: BlockHeader,
        events: Sequence[Mapping[str, Any]],
        backfill: BackfillTarget | None = None,
        finality: Mapping[str, int | None] | None = None,
    ) -> None:
        claims = self.claims
        store = None if claims is None else (lambda data: claims(header.chain_id, data))
        for value in encode_block(header, events, backfill=backfill, claims=store, finality=finality):
            self._send(header.chain_id, value)

    def send_revert(self, chain_id: int, number: int, block_hash: str) -> None:
        self._send(chain_id, encode_revert(chain_id, number, block_hash))

    @property
    def _pending(self) -> list[Any]:
        if not hasattr(self._sent, "futures"):
            self._sent.futures = []
        return self._sent.futures

    def _send(self, chain_id: int, value: bytes) -> None:
        self._pending.append(self._producer.send(self.topic, key=message_key(chain_id), value=value))

    def discard(self) -> None:
        """Forget what this thread sent since its last flush (after a failure mid-poll: the poll is
        repeated, and these outcomes must not be counted against the next one)."""
        self._sent.futures = []

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for the broker's acknowledgement of everything this thread sent; raise if any failed."""
        self._producer.flush(timeout=timeout)
        pending, self._sent.futures = self._pending, []
        failures = [
            future.exception if future.is_done else "no acknowledgement in time"
            for future in pending
            if not future.succeeded()
        ]
        if failures:
            raise ProduceFailed(f"{len(failures)} of {len(pending)} messages not acknowledged: {failures[0]!r}")
        return len(pending)

    def close(self) -> None:
        self._producer.close(timeout=10)


def ensure_topic(bootstrap: str, topic: str, partitions: int = 3, auth: str = "plaintext") -> None:
    admin = KafkaAdminClient(**connection_options(bootstrap, auth))
    try:
        if topic not in admin.list_topics():
            admin.create_topics([NewTopic(topic, partitions, 1)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()
