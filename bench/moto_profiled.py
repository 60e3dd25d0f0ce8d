"""blockhook.local.aws_server under a sampling profiler (no py-spy here): every 5 ms the stack of
every thread is read; at stop, the functions most often running (self) and most often on a stack
(total) are written to --out, as shares of the samples of threads that were not idle.

    .venv/bin/python bench/moto_profiled.py --out profile.txt -H 127.0.0.1 -p PORT
"""

from __future__ import annotations

import collections
import sys
import threading
import time
from pathlib import Path

IDLE = {"wait", "select", "poll", "accept", "_wait_for_tstate_lock", "serve_forever", "get_request", "readinto",
        "_snapshot_wait", "sleep"}


def main() -> int:
    out = Path(sys.argv[sys.argv.index("--out") + 1])
    argv = [a for i, a in enumerate(sys.argv[1:], 1) if a != "--out" and sys.argv[i - 1] != "--out"]
    own, on_stack = collections.Counter(), collections.Counter()
    samples = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.005):
            for ident, frame in sys._current_frames().items():
                if ident == threading.get_ident() or frame.f_code.co_name in IDLE:
                    continue
                samples[0] += 1
                own[f"{frame.f_code.co_filename.split('site-packages/')[-1]}:{frame.f_code.co_name}"] += 1
                seen = set()
                while frame is not None:
                    name = f"{frame.f_code.co_filename.split('site-packages/')[-1]}:{frame.f_code.co_name}"
                    if name not in seen:
                        on_stack[name] += 1
                        seen.add(name)
                    frame = frame.f_back

    threading.Thread(target=sample, daemon=True).start()
    from blockhook.local import aws_server

    started = time.monotonic()
    try:
        return aws_server.main(argv)
    finally:
        stop.set()
        total = max(1, samples[0])
        lines = [f"{samples[0]} busy samples in {time.monotonic() - started:.0f} s", "", "self:"]
        lines += [f"  {count / total:6.1%}  {name}" for name, count in own.most_common(40)]
        lines += ["", "total:"]
        lines += [f"  {count / total:6.1%}  {name}" for name, count in on_stack.most_common(60)]
        out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
