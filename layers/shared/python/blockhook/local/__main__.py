"""`python -m blockhook.local` (what `make up` runs): the whole system until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from blockhook.local.servers import ServerStartError
from blockhook.local.stack import LocalOptions, LocalSystem


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    system = LocalSystem(LocalOptions.from_env())
    try:
        system.start()
    except (ServerStartError, RuntimeError) as error:
        print(f"blockhook could not start: {error}", file=sys.stderr)
        return 1
    print(system.describe(), flush=True)
    parent = os.getppid()
    try:
        # Also stop when whoever started us (make, a test) is gone, so no server is orphaned.
        while not stopped.wait(0.5) and os.getppid() == parent and not system.failed.is_set():
            pass
    except KeyboardInterrupt:
        pass
    if system.failed.is_set():
        print(f"blockhook is stopping: {system.failure}", file=sys.stderr, flush=True)
    print("stopping...", flush=True)
    system.stop()
    print("stopped", flush=True)
    return 1 if system.failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
