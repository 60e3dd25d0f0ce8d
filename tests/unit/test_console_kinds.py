"""The console's list of event kinds (its create/edit form has one checkbox each) is the domain's."""

from __future__ import annotations

import json
import re

from blockhook.chain.kinds import KIND_NAMES
from blockhook.local.servers import REPO_ROOT


def test_the_consoles_kinds_are_the_event_kinds_in_their_order():
    source = (REPO_ROOT / "console" / "src" / "kinds.js").read_text()
    listed = re.search(r"export const KINDS = (\[.*?\]);", source, flags=re.S)
    assert listed, "console/src/kinds.js must export KINDS as an array literal"
    assert json.loads(re.sub(r",\s*\]", "]", listed.group(1))) == list(KIND_NAMES)
