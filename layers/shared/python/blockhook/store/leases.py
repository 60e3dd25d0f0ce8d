"""One ingest at a time per chain: a lease on the item "lease#<chain_id>", instead of Lambda's reserved
concurrency (which an account still at its default concurrency quota cannot grant).

An invocation takes a chain's lease until its own deadline plus a margin: Lambda ends an invocation at
its deadline, so a holder never outlives its lease, and a crashed one frees the chain once its lease
runs out. A holder lets go when it stops, so the next scheduled invocation, which asks again every
second meanwhile, takes over at once. The checkpoint's conditional writes still refuse a second writer;
the lease keeps two from reading and publishing the same blocks at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pynamodb.exceptions import UpdateError

from blockhook.store.models import ChainStateModel

# Clocks of two Lambda hosts differ by milliseconds; this much more keeps a lease past its holder's end.
MARGIN_SECONDS = 5.0


def _item(chain_id: int) -> ChainStateModel:
    return ChainStateModel(f"lease#{chain_id}")


class ChainLeases:
    """The leases of one ingest invocation, `holder` (its request id), which ends at `deadline` (unix s)."""

    def __init__(self, holder: str, deadline: float, clock: Callable[[], float] = time.time) -> None:
        self.holder = holder
        self.until = deadline + MARGIN_SECONDS
        self.clock = clock

    def take(self, chain_id: int) -> bool:
        """Hold the chain's lease: True when free, run out, or already ours; False while another holds it."""
        try:
            _item(chain_id).update(
                actions=[
                    ChainStateModel.holder.set(self.holder),
                    ChainStateModel.held_until.set(self.until),
                    ChainStateModel.chain_id.set(chain_id),
                ],
                condition=ChainStateModel.holder.does_not_exist()
                | (ChainStateModel.held_until < self.clock())
                | (ChainStateModel.holder == self.holder),
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, chain_id: int) -> None:
        """Let go of the chain's lease, if this invocation still holds it."""
        try:
            _item(chain_id).update(
                actions=[ChainStateModel.holder.remove(), ChainStateModel.held_until.remove()],
                condition=ChainStateModel.holder == self.holder,
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
