"""Console function: the web console's files at /console, for API Gateway REST proxy events.

It holds no key and reads no table: the page it serves calls /v1 with the key its user types. The
files are those `make console` built, copied beside this handler as site/ when the stack is
synthesised (BLOCKHOOK_CONSOLE_DIR names another folder: the local stack's build/console).
"""

import base64
import os
from pathlib import Path

from blockhook.console_site import Site

site = Site(Path(os.environ.get("BLOCKHOOK_CONSOLE_DIR") or Path(__file__).parent / "site"))


def handler(event, context):
    answer = site.answer(event.get("httpMethod") or "GET", event.get("path") or "/", event.get("headers"))
    try:
        body, encoded = answer.body.decode("utf-8"), False
    except UnicodeDecodeError:
        body, encoded = base64.b64encode(answer.body).decode(), True
    return {"statusCode": answer.status, "headers": answer.headers, "body": body, "isBase64Encoded": encoded}
