"""How the load process speaks each wire shape: the request, and the text out of the answer.

    openai-chat      OpenAI's chat completions (the simulator's and the peer's /v1, ours):
                     SSE `data:` lines ending with `data: [DONE]`, `id:` lines where sent
    native           this server's POST /api/v1/generate: SSE with an `id:` (the sequence
                     number) on every event
    ollama-generate  Ollama's /api/generate: NDJSON lines with `response`
    ollama-chat      Ollama's /api/chat: NDJSON lines with `message.content`
    openai-embed     OpenAI's /v1/embeddings (one input), whole: `data[0].embedding`
    ollama-embed     Ollama's /api/embed (one input), whole: `embeddings[0]`

Where a stream numbers its events (`id:`), a repeated number counts as a duplicate and a number
lower than one already seen as a reordering; every answer's text is also compared with the text
the simulator made for the prompt, so a lost, repeated or misplaced piece fails either way. An
embedding's "text" is a fingerprint of its vector (`fingerprint`), compared with the simulator's.
"""

import struct
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson


@dataclass(slots=True)
class Sample:
    start: float = 0.0  # seconds after the load began
    round: int = 0  # the client's round (each round calls every endpoint once)
    ttft: float | None = None
    total: float = 0.0
    chunks: int = 0
    ok: bool = False
    duplicated: int = 0
    reordered: int = 0
    error: str | None = None


EMBED_SHAPES = frozenset({"openai-embed", "ollama-embed"})


def fingerprint(vector: list[float]) -> str:
    """A vector as text to compare: its length and its first components as float32 bytes (each
    path prints the float32 values its own way, and any decimal rounding has cases at its
    boundary that differ)."""
    head = vector[:8]
    return f"{len(vector)}:" + struct.pack(f"<{len(head)}f", *head).hex()


def body(shape: str, model: str, prompt: str, stream: bool) -> dict[str, Any]:
    """The request body that asks `prompt` in `shape`."""
    if shape in EMBED_SHAPES:
        return {"model": model, "input": [prompt]}
    if shape == "native":
        return {"prompt": prompt, "stream": stream}
    if shape == "ollama-generate":
        return {"model": model, "prompt": prompt, "stream": stream}
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


def whole_text(shape: str, data: dict[str, Any]) -> str:
    """The text of a whole (non-streamed) answer."""
    if shape == "openai-embed":
        return fingerprint(data["data"][0]["embedding"])
    if shape == "ollama-embed":
        return fingerprint(data["embeddings"][0])
    if shape in ("native", "ollama-generate"):
        return str(data.get("response", ""))
    if shape == "ollama-chat":
        return str((data.get("message") or {}).get("content", ""))
    return str(data["choices"][0]["message"].get("content") or "")


def _piece(shape: str, data: dict[str, Any]) -> str:
    """The text one streamed event carries ("" for none)."""
    if shape in ("native", "ollama-generate"):
        return str(data.get("response") or "")
    if shape == "ollama-chat":
        return str((data.get("message") or {}).get("content") or "")
    choices = data.get("choices") or [{}]
    return str((choices[0].get("delta") or {}).get("content") or "")


class _Order:
    """Duplicates and reorderings among a stream's event numbers."""

    def __init__(self, sample: Sample) -> None:
        self.sample, self.seen, self.last = sample, set[int](), 0

    def see(self, event_id: int) -> None:
        if event_id in self.seen:
            self.sample.duplicated += 1
        elif event_id < self.last:
            self.sample.reordered += 1
        self.seen.add(event_id)
        self.last = max(self.last, event_id)


async def read_stream(
    shape: str, response: aiohttp.ClientResponse, sample: Sample, t0: float
) -> str:
    """The streamed text; sets the sample's time to first text, chunks and errors."""
    parts: list[str] = []
    sse = shape in ("native", "openai-chat")
    order = _Order(sample)
    async for raw in response.content:
        line = raw.rstrip(b"\r\n")
        if sse:
            if line.startswith(b"id: "):
                order.see(int(line[4:]))
                continue
            if line.startswith(b"event: error"):
                sample.error = "error event"
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            line = line[6:]
        elif not line:
            continue
        data = orjson.loads(line)
        if "error" in data:
            sample.error = f"error: {str(data['error'])[:80]}"
            continue
        piece = _piece(shape, data)
        if piece:
            if sample.ttft is None:
                sample.ttft = time.perf_counter() - t0
            parts.append(piece)
            sample.chunks += 1
    return "".join(parts)
