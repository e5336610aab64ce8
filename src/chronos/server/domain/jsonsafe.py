"""JSON that can be stored and read back, on both databases.

Python's ``json`` accepts values that cannot make the round trip: ``NaN``, ``Infinity`` and
``1e400`` (PostgreSQL's jsonb refuses them, and no JSON encoder may write them back), strings
holding a lone surrogate (``"\\ud800"``: valid JSON, not valid UTF-8), NUL characters (PostgreSQL
refuses them in text and jsonb) and nesting deep enough to exhaust a recursive encoder.

:func:`problem` says what is wrong with a value a user sent (the API refuses it: nothing that
cannot be read back is stored); :func:`storable` repairs a value Chronos itself received (a push
endpoint's answer) so that one odd response cannot break the batch it is recorded in.

    >>> problem({"payload": [float("nan")]})
    'payload[0]: NaN and infinite numbers are not allowed'
"""

from __future__ import annotations

import math
from typing import Any

# Deep enough for any real document, shallow enough for every encoder on the way out.
MAX_DEPTH = 64
REPLACEMENT = "\ufffd"


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters (\\u0000) are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "unpaired surrogates (such as \\ud800) are not valid text"
    return None


def _where(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def problem(value: Any, max_depth: int = MAX_DEPTH) -> str | None:
    """What makes ``value`` unstorable, prefixed with where it is; None if it is fine."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if len(path) > max_depth:
            return f"{_where(path)}: JSON nested deeper than {max_depth} levels"
        if isinstance(item, str):
            found = _string_problem(item)
        elif isinstance(item, float):
            found = None if math.isfinite(item) else "NaN and infinite numbers are not allowed"
        elif isinstance(item, dict):
            found = None
            for key, child in item.items():
                key_problem = _string_problem(str(key))
                if key_problem:
                    return f"{_where([*path, str(key)])}: {key_problem} (in a key)"
                stack.append((child, [*path, str(key)]))
        elif isinstance(item, list):
            found = None
            stack.extend((child, [*path, index]) for index, child in enumerate(item))
        else:
            found = None
        if found:
            return f"{_where(path)}: {found}"
    return None


def storable_text(text: str) -> str:
    """``text`` with NUL characters and unpaired surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


def storable(value: Any, max_depth: int = MAX_DEPTH) -> Any:
    """A copy of ``value`` that can be stored and read back: bad text repaired, non-finite
    numbers made null, anything nested deeper than ``max_depth`` cut to a short marker."""
    return _storable(value, max_depth)


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list) and depth <= 0:
        return "<nested too deep>"
    if isinstance(value, dict):
        return {storable_text(str(k)): _storable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v, depth - 1) for v in value]
    return value
