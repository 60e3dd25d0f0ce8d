"""What `make up` prints: one readable line per API request, per delivery attempt and per ingested
batch of blocks, and every warning and error; nothing else.

The four functions run in this one process, so their log lines are labelled by the function whose
invocation logged them (`current_function`, set by LocalFunction.invoke), not by the process's one
powertools service name. Everything the functions log at INFO goes to `<logs>/blockhook.log` too, and
what they print (powertools' metrics, as CloudWatch embedded metric format JSON) to `<logs>/metrics.log`.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

from blockhook.local.lambdas import current_function

STACK_SERVICE = "blockhook-local"


def _request(r: Any) -> str:
    return f"{r.method} {r.path} {r.status} {r.ms} ms tenant={r.tenant}"


def _attempt(r: Any) -> str:
    answer = r.status_code if r.status_code is not None else (r.error or "no answer")
    origin = getattr(r, "origin", None) or "-"
    return f"delivery {r.delivery_id} monitor={r.monitor_id} origin={origin} -> {answer} in {r.latency_ms} ms ({r.outcome})"


def _batch(r: Any) -> str:
    backfill = f" backfill={r.backfill_job_id}" if getattr(r, "backfill_job_id", None) else ""
    return (
        f"chain {r.chain_id} blocks {r.first_block}-{r.last_block}: {r.events} events, "
        f"{r.transactions} transactions, {r.ms} ms{backfill}"
    )


# The INFO lines the console shows, by message, each with its own readable shape.
SERVER_LINES: dict[str, Callable[[Any], str]] = {
    "api request": _request,
    "delivery attempt": _attempt,
    "blocks published": _batch,
}
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "service"}


class ServiceFilter(logging.Filter):
    """Label each record with the service whose invocation logged it (the stack's own otherwise)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "service", None):
            record.service = current_function.get() or STACK_SERVICE
        return True


class ConsoleFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or (isinstance(record.msg, str) and record.msg in SERVER_LINES)


class ReadableFormatter(logging.Formatter):
    """`HH:MM:SS.mmm service [LEVEL] text`: a server line in its shape, any other as its message
    followed by its structured fields as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        shape = SERVER_LINES.get(record.msg) if isinstance(record.msg, str) else None
        try:
            text = shape(record) if shape else record.getMessage()
        except AttributeError:  # a line of that message without its fields
            text, shape = record.getMessage(), None
        if shape is None:
            fields = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS and not k.startswith("_")}
            text += "".join(f" {key}={value}" for key, value in fields.items() if value is not None)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        level = f" {record.levelname}" if record.levelno >= logging.WARNING else ""
        line = f"{clock} {getattr(record, 'service', STACK_SERVICE):<17}{level} {text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class FunctionOutput:
    """sys.stdout for the stack: what a function prints during an invocation (its metrics) goes to a
    file, line by line; anything else to the terminal."""

    def __init__(self, terminal: TextIO, path: Path) -> None:
        self.terminal = terminal
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open while the stack runs
        self._lock = threading.Lock()
        self._partial = threading.local()

    def write(self, text: str) -> int:
        if current_function.get() is None:
            return self.terminal.write(text)
        # print() writes its text and its newline in two calls: whole lines only, so that two
        # functions' metrics never interleave.
        pending = getattr(self._partial, "text", "") + text
        complete, _, rest = pending.rpartition("\n")
        self._partial.text = rest
        if complete:
            with self._lock:
                self._file.write(complete + "\n")
                self._file.flush()
        return len(text)

    def flush(self) -> None:
        self.terminal.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...: the terminal's
        return getattr(self.terminal, name)


def install(logs: Path) -> None:
    """Route the process's logging and the functions' output as described above."""
    terminal = sys.stdout
    if not isinstance(terminal, FunctionOutput):
        sys.stdout = FunctionOutput(terminal, logs / "metrics.log")
    readable = ReadableFormatter()
    console = logging.StreamHandler(terminal)
    console.addFilter(ServiceFilter())
    console.addFilter(ConsoleFilter())
    console.setFormatter(readable)
    everything = logging.FileHandler(logs / "blockhook.log", encoding="utf-8")
    everything.addFilter(ServiceFilter())
    everything.setFormatter(readable)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(console)
    root.addHandler(everything)
    root.setLevel(logging.WARNING)  # other libraries' chatter: warnings only
    logging.getLogger("blockhook").setLevel(logging.INFO)
    # kafka-python times its own event loop's steps and warns past 0.1 s, which a busy machine (the
    # stack's servers and functions share its cores) reaches without anything being wrong.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    logging.captureWarnings(True)  # a warning is a readable WARNING line too


def adopt(logger_names: Iterable[str]) -> None:
    """Send these loggers' records (the functions' powertools Loggers, and `blockhook`, whose handlers the
    functions set up for their own process: the last one loaded would label every function's lines) to
    the handlers of `install`."""
    from aws_lambda_powertools.logging.filters import SuppressFilter

    for name in ("blockhook", *logger_names):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:
        # powertools keeps its loggers' records away from the root's handlers, which they now go to
        for suppress in [f for f in handler.filters if isinstance(f, SuppressFilter)]:
            handler.removeFilter(suppress)


def restore() -> None:
    if isinstance(sys.stdout, FunctionOutput):
        output, sys.stdout = sys.stdout, sys.stdout.terminal
        output.close()
