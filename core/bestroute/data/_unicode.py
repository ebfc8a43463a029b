"""Text that cannot be UTF-8: undecodable bytes in a file and lone surrogates in parsed JSON.

Files are read with ``errors="surrogateescape"``, which turns each undecodable byte ``b`` into
the lone surrogate ``U+DC00 + b``; valid UTF-8 never decodes to a surrogate, so finding one in a
raw line names the bad byte and its column. JSON may also *escape* a lone surrogate
(``"\\ud800"``); such a string loads but cannot be written back as UTF-8, so it is bad data too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def has_lone_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone UTF-16 surrogate (it cannot be encoded as UTF-8)."""
    return _SURROGATE.search(text) is not None


def undecodable_byte(line: str) -> str | None:
    """For a line read with ``surrogateescape``: where its first non-UTF-8 byte is, else None."""
    match = _SURROGATE.search(line)
    if match is None:
        return None
    byte = ord(match.group()) - 0xDC00
    return f"byte 0x{byte:02x} at column {match.start() + 1} is not UTF-8"


def json_has_lone_surrogate(raw: str, data: Any) -> bool:
    """Whether JSON parsed from ``raw`` holds a lone surrogate in any key or string value.

    Only JSON whose text escapes a surrogate can; the walk (iterative: no recursion limit)
    runs only then, so plain text costs one regex scan.
    """
    if _ESCAPED_SURROGATE.search(raw) is None:
        return False
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False
