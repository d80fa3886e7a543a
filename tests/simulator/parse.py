"""How the simulator's tests read its answers: NDJSON lines, SSE events, directives."""

from typing import Any

import orjson


def lines(text: str) -> list[dict[str, Any]]:
    """The objects of an NDJSON body."""
    return [orjson.loads(line) for line in text.splitlines() if line]


def events(text: str) -> list[Any]:
    """The `data:` payloads of an SSE body: objects, and "[DONE]" as a string."""
    assert text.endswith("\n\n"), "every SSE event ends with a blank line"
    payloads = []
    for block in text.split("\n\n")[:-1]:
        assert block.startswith("data: "), block
        data = block.removeprefix("data: ")
        payloads.append(data if data == "[DONE]" else orjson.loads(data))
    return payloads


def directive(**fields: object) -> str:
    """A prompt first line that steers the simulator (see simulator/script.py)."""
    return "SIM: " + orjson.dumps(fields).decode() + "\n"
