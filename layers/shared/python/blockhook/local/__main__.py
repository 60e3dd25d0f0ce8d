"""`python -m blockhook.local` (what `make up` runs): the whole system until Ctrl-C or SIGTERM."""

from __future__ import annotations

import os
import signal
import sys
import threading

from blockhook.local import console
from blockhook.local.servers import ServerStartError
from blockhook.local.stack import LocalOptions, LocalSystem, clear_state


def main() -> int:
    stopped = threading.Event()
    # Both set by hand: a shell that starts us in the background has SIGINT ignored, and Python would
    # leave it so; and a signal must end the wait below, not raise in whatever the main thread runs.
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stopped.set())
    options = LocalOptions.from_env()
    if options.reset:
        clear_state(options.state_dir)
    logs = options.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    console.install(logs)
    system = LocalSystem(options)
    try:
        system.start()
    except (ServerStartError, RuntimeError) as error:
        print(f"blockhook could not start: {error}", file=sys.stderr)
        return 1
    print(system.describe(), flush=True)
    parent = os.getppid()
    # Also stop when whoever started us (make, a test) is gone, so no server is orphaned.
    while not stopped.wait(0.5) and os.getppid() == parent and not system.failed.is_set():
        pass
    if system.failed.is_set():
        print(f"blockhook is stopping: {system.failure}", file=sys.stderr, flush=True)
    print("stopping...", flush=True)
    system.stop()
    print("stopped", flush=True)
    console.restore()
    return 1 if system.failed.is_set() else 0


if __name__ == "__main__":
    sys.exit(main())
