"""Write the API's OpenAPI document to a file, as GET /v1/openapi.json answers it.

    python -m blockhook.api.openapi_export docs/openapi.json     (or: make openapi)

docs/openapi.json is this output, committed; a test fails when the code has moved on from it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

USAGE = "usage: python -m blockhook.api.openapi_export PATH"


def render() -> str:
    """The document as committed: indented JSON in the code's own order, with a final newline."""
    from blockhook.api.openapi import openapi_dict

    return json.dumps(openapi_dict(), indent=2) + "\n"


def export(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    export(Path(args[0]))
    print(f"wrote {args[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
