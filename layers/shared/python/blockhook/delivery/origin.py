"""What made a delivery, recorded with it and shown in the delivery log (`origin`).

- `live`: the matcher matched a block from the chain (also the return of a block after a reorg);
- `removed`: a reorg replaced a block whose events were sent: the `"removed": true` delivery;
- `backfill`: a backfill job's past blocks;
- `catch_up`: an address added to a monitor, matched again over blocks the matcher had already
  passed (from the chain's head when the add was answered);
- `reconcile`: a reconcile with `heal` (missing events sent, stale ones taken back);
- `test`: `POST /v1/monitors/{id}/test`.

The webhook body does not carry it: the body's fields are fixed (a receiver tells a removal by
`removed`, a test by `test`). A record stored without an origin answers null.
"""

from __future__ import annotations

from typing import Literal

LIVE = "live"
REMOVED = "removed"
BACKFILL = "backfill"
CATCH_UP = "catch_up"
RECONCILE = "reconcile"
TEST = "test"
ORIGINS = (LIVE, REMOVED, BACKFILL, CATCH_UP, RECONCILE, TEST)

Origin = Literal["live", "removed", "backfill", "catch_up", "reconcile", "test"]
