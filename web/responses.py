"""JSON for clients, and the JSON response that uses it.

`dumps` is orjson with one addition: the three characters outside ASCII control codes that some
line splitters take for a line end (U+0085, U+2028, U+2029; Python's `str.splitlines`, which
httpx's `aiter_lines` and so the official `ollama` client read NDJSON with) are written as JSON
escapes. The decoded text is the same; no client can cut a line in two. (Ollama itself escapes
U+2028 and U+2029 but sends U+0085 raw, which breaks that client.)
"""

from typing import Any

import orjson
from starlette.responses import Response

LINE_BREAKERS = (
    ("\u0085".encode(), b"\\u0085"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def dumps(value: Any) -> bytes:
    data = orjson.dumps(value)
    for raw, escaped in LINE_BREAKERS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


class JSON(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)
