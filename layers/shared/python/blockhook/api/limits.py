"""How large a request body may be: derived from how many addresses one call may carry, so that the
largest call the API promises always fits (api/resolver.py refuses a larger body with 413).

A label is limited in characters, and a character takes 1 to 4 bytes in UTF-8. The limit counts each
label character at LABEL_CHARACTER_BYTES, 2: every Latin, Greek, Cyrillic, Hebrew or Arabic label of
full length fits, written as UTF-8. The result, about 4.7 MB, stays inside Lambda's 6 MB invoke payload
with the event around the body (API Gateway's own limit is 10 MB): a larger limit would promise
bodies Lambda refuses before the function could answer. Labels of 3- or 4-byte characters (CJK,
emoji), or sent as \\u escapes, take more room: 10,000 of full length may not fit one call.
"""

from __future__ import annotations

import json

from blockhook.api.models import MAX_ADDRESSES_PER_CALL, MAX_LABEL_LENGTH

LABEL_CHARACTER_BYTES = 2
# One item of `add` at its largest, as json.dumps writes it with ", " between items ("é" is 2 bytes).
_LARGEST_ITEM = json.dumps({"address": "0x" + "ab" * 20, "label": "é" * MAX_LABEL_LENGTH}, ensure_ascii=False)
LARGEST_ITEM_BYTES = len(_LARGEST_ITEM.encode()) + len(", ")
# The rest of the body: the braces, `"add": [...]`, an empty `"remove": []`, and room for whitespace.
ENVELOPE_BYTES = 1024

MAX_BODY_BYTES = MAX_ADDRESSES_PER_CALL * LARGEST_ITEM_BYTES + ENVELOPE_BYTES
