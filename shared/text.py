"""Text and numbers every part of the path can hold: PostgreSQL, the JSON serialiser, Ollama.

PostgreSQL's text cannot hold U+0000, and no UTF-8 encoder can write a lone surrogate ("\\ud800",
which JSON's `\\u` escapes can spell); Ollama (Go) reads integers as 64-bit and floats as finite.
A request that carries any of these is the sender's problem: `request_problem` finds it before
anything is queued, naming the field. Text that comes *back* from Ollama is relayed exactly, and
stored with `storable` (the record keeps U+FFFD where PostgreSQL cannot hold a character).
"""

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator

INT64 = (-(2**63), 2**63 - 1)
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why this string cannot travel, or None."""
    found = UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains U+0000 (NUL), which no text column can hold"
    return f"contains a lone surrogate (U+{ord(found.group()):04X}), which is not valid Unicode"


def storable(text: str) -> str:
    """`text` as a PostgreSQL text column can hold it (U+FFFD for what it cannot)."""
    return UNSTORABLE.sub("\ufffd", text) if UNSTORABLE.search(text) else text


def _plain(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


# A str field of a request model that must be storable and serialisable as it came.
PlainText = Annotated[str, AfterValidator(_plain)]


@dataclass(frozen=True, slots=True)
class RequestText:
    chars: int  # the characters of every text the model reads
    problem: tuple[str, str] | None  # (field path, what is wrong), the first one found


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT64[0] <= value <= INT64[1]:
        return "is beyond a 64-bit integer"
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    return None


def request_problem(request: Any, *, skip: frozenset[str] = frozenset()) -> RequestText:
    """Walk a JSON request: count the text the model reads and find the first value that cannot
    travel. Keys in `skip` (base64 images, the model name) are checked but not counted."""
    chars = 0
    problem: tuple[str, str] | None = None
    stack: list[tuple[str, Any, bool]] = [("", request, True)]
    while stack:
        path, value, counted = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                stack.append((where, item, counted and key not in skip))
        elif isinstance(value, list | tuple):
            stack.extend((f"{path}.{i}", item, counted) for i, item in enumerate(value))
        else:
            if counted and isinstance(value, str):
                chars += len(value)
            why = _scalar_problem(value) if problem is None else None
            if why is not None:
                problem = (path or "body", why)
    return RequestText(chars, problem)
