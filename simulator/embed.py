"""Embeddings: /api/embed, the older /api/embeddings, and the vectors both answer.

A vector is a deterministic function of the model and the text (`embedding_for`): Gaussian
components seeded by a hash of both, L2-normalised and rounded to float32, as Ollama normalises
what its runner returns. Its length is the model's embedding length (`--embed-dim` overrides
it); `dimensions` keeps the first components and normalises again, as Ollama does. Text is
counted in words: `truncate` (default true) keeps the words that fit the context length
(`options.num_ctx` when smaller), and `truncate: false` refuses a longer input with Ollama's 400.
A model without the "embedding" capability fails as Ollama's runner does: 501 on /api/embed,
500 on /api/embeddings, "This server does not support embeddings. Start it with `--embeddings`".
The first input may carry a `SIM:` directive: its `ttft` and its "status" fault apply.
Ollama's OpenAI-compatible /v1/embeddings runs the same handler and answers OpenAI's list, with
float32 numbers or, for `encoding_format: "base64"`, their little-endian bytes in base64.
"""

import asyncio
import base64
import hashlib
import math
import random
import struct
import time
from typing import Any

import orjson
from aiohttp import web

from simulator.catalog import Model, Name
from simulator.decode import check_types, read_keep_alive
from simulator.openai_chunks import openai_error
from simulator.records import Record
from simulator.script import build_script
from simulator.state import Simulator, simulator_of
from simulator.wire import (
    OllamaError,
    error_response,
    go_float,
    go_floats,
    go_json_with,
    go_quote,
    read_body,
)

UNSUPPORTED = "This server does not support embeddings. Start it with `--embeddings`"
EMBED_FIELDS = {
    "model": "string",
    "truncate": "bool",
    "dimensions": "int",
    "options": "map[string]interface {}",
}


def float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def normalize(vector: list[float]) -> list[float]:
    norm = max(math.sqrt(sum(v * v for v in vector)), 1e-12)
    return [float32(v / norm) for v in vector]


def embedding_for(model: str, text: str, dim: int) -> list[float]:
    """The unit vector `model` (a name as /api/tags lists it) gives `text`."""
    digest = hashlib.blake2b(f"{model}\x00{text}".encode(), digest_size=8).digest()
    rng = random.Random(int.from_bytes(digest, "big"))
    return normalize([rng.gauss(0.0, 1.0) for _ in range(dim)])


def read_inputs(value: Any) -> list[str]:
    """Ollama's EmbedRequest.input: a string (empty: nothing) or a list of strings."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise OllamaError(400, "invalid input type")


def find_model(sim: Simulator, name: str, *, empty: OllamaError) -> Model:
    """The model an embedding request names, or the error Ollama's embedding handlers answer."""
    if not name.strip():
        raise empty
    if not Name.parse(name).valid:
        raise OllamaError(400, "invalid model name")
    model = sim.catalog.get(name)
    if model is None:  # handleScheduleError's wording, unlike the generation handlers'
        raise OllamaError(404, f"model {go_quote(name)} not found, try pulling it first")
    return model


def fit(text: str, limit: int, truncate: bool) -> tuple[str, int]:
    """The text that fits `limit` tokens (words), and its token count."""
    words = text.split()
    if len(words) <= limit:
        return text, max(1, len(words))
    if not truncate:
        raise OllamaError(400, "the input length exceeds the context length")
    return " ".join(words[:limit]), limit


async def directed(sim: Simulator, inputs: list[str]) -> list[str]:
    """Apply the first input's directive (its wait, its "status" fault); strip it off."""
    if not inputs:
        return inputs
    try:
        script = build_script(inputs[0], {}, default_tokens=0, default_rate=0, default_ttft=0)
    except ValueError as e:
        raise OllamaError(400, f"simulator directive: {e}") from None
    if script.ttft > 0:
        await asyncio.sleep(script.ttft)
    if script.fault == "status" and sim.records.fault_applies(script):
        raise OllamaError(script.status, script.message)
    return [script.text, *inputs[1:]]


def context_limit(model: Model, options: dict[str, Any]) -> int:
    """How many tokens an input may have: the model's context, or `num_ctx` when smaller."""
    num_ctx = options.get("num_ctx")
    if isinstance(num_ctx, int) and not isinstance(num_ctx, bool) and num_ctx > 0:
        return min(model.family.context_length, num_ctx)
    return model.family.context_length


async def vectors(sim: Simulator, record: Record, body: dict[str, Any]) -> dict[str, Any]:
    """Ollama's EmbedHandler: the EmbedResponse fields for `body`, or an OllamaError."""
    started = time.monotonic()
    check_types(body, EMBED_FIELDS, "EmbedRequest")
    options, keep_alive = body.get("options") or {}, read_keep_alive(body)
    name, inputs = str(body.get("model") or ""), read_inputs(body.get("input"))
    record.model = Name.parse(name).display if name.strip() else ""
    record.prompt, record.inputs, record.options = (inputs or [""])[0], len(inputs), options
    model = find_model(sim, name, empty=OllamaError(404, f"model '{name}' not found"))
    inputs = await directed(sim, inputs)
    sim.catalog.load(model, keep_alive, options.get("num_ctx"))
    loaded = time.monotonic()
    if not inputs:
        return {"model": name, "embeddings": []}
    if not model.family.embeds:
        raise OllamaError(501, UNSUPPORTED)
    limit, dimensions = context_limit(model, options), int(body.get("dimensions") or 0)
    rows, tokens = [], 0
    for text in inputs:
        kept, count = fit(text, limit, body.get("truncate") is not False)
        vector = embedding_for(model.display, kept, model.embed_dim)
        rows.append(normalize(vector[:dimensions]) if 0 < dimensions < len(vector) else vector)
        tokens += count
    end = time.monotonic()
    return {
        "model": name,
        "embeddings": rows,
        "total_duration": max(1, int((end - started) * 1e9)),
        "load_duration": max(1, int((loaded - started) * 1e9)),
        "prompt_eval_count": tokens,
    }


def embed_json(answer: dict[str, Any]) -> bytes:
    """An EmbedResponse as Go writes it (float32 text for the vectors)."""
    rows = b"[" + b",".join(go_floats(v, 32) for v in answer["embeddings"]) + b"]"
    return go_json_with({**answer, "embeddings": None}, {"embeddings": rows})


def json_bytes(data: bytes) -> web.Response:
    return web.Response(body=data, content_type="application/json", charset="utf-8")


async def embed(request: web.Request) -> web.Response:
    """POST /api/embed."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await read_body(request, "api.EmbedRequest")
        kept = ("input", "truncate", "dimensions", "keep_alive")
        record.extras = {k: body[k] for k in kept if k in body}
        answer = await vectors(sim, record, body)
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return error_response(e.status, e.message)
    record.end("completed")
    return json_bytes(embed_json(answer))


async def legacy_vector(sim: Simulator, record: Record, body: dict[str, Any]) -> list[float]:
    """Ollama's EmbeddingsHandler: the `embedding` for `body` ([] for no prompt)."""
    check_types(body, {"model": "string", "prompt": "string"}, "EmbeddingRequest")
    name, prompt = str(body.get("model") or ""), str(body.get("prompt") or "")
    keep_alive = read_keep_alive(body)
    record.model = Name.parse(name).display if name.strip() else ""
    record.prompt, record.inputs = prompt, 1 if prompt else 0
    model = find_model(sim, name, empty=OllamaError(400, "model is required"))
    [prompt] = await directed(sim, [prompt])
    sim.catalog.load(model, keep_alive)
    if not record.inputs:
        return []
    if not model.family.embeds:
        raise OllamaError(500, UNSUPPORTED)
    return embedding_for(model.display, prompt, model.embed_dim)


async def embeddings(request: web.Request) -> web.Response:
    """POST /api/embeddings, superseded by /api/embed: one prompt, a float64 `embedding`."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await read_body(request, "api.EmbeddingRequest")
        record.extras = {k: body[k] for k in ("keep_alive",) if k in body}
        vector = await legacy_vector(sim, record, body)
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return error_response(e.status, e.message)
    record.end("completed")
    return json_bytes(go_json_with({"embedding": None}, {"embedding": go_floats(vector, 64)}))


def embedding_list(body: dict[str, Any], answer: dict[str, Any]) -> bytes:
    """openai.ToEmbeddingList, with float32 text or little-endian float32 base64."""
    as_base64 = str(body.get("encoding_format") or "").lower() == "base64"
    items = []
    for i, vector in enumerate(answer["embeddings"]):
        if as_base64:
            raw = struct.pack(f"<{len(vector)}f", *vector)
            value = orjson.dumps(base64.b64encode(raw).decode())
        else:
            value = ("[" + ",".join(go_float(v, 32) for v in vector) + "]").encode()
        items.append(b'{"object":"embedding","embedding":' + value + b',"index":%d}' % i)
    tokens = answer.get("prompt_eval_count", 0)
    data = b"[" + b",".join(items) + b"]" if items else b"null"
    model = orjson.dumps(str(body.get("model") or ""))
    usage = b'"usage":{"prompt_tokens":%d,"total_tokens":%d}' % (tokens, tokens)
    return b'{"object":"list","data":' + data + b',"model":' + model + b"," + usage + b"}\n"


def openai_input(body: dict[str, Any]) -> dict[str, Any]:
    """The native /api/embed body for an OpenAI embeddings request (Ollama's middleware)."""
    check_types(body, {"model": "string", "dimensions": "int"}, "EmbedRequest")
    encoding = str(body.get("encoding_format") or "")
    if encoding and encoding.lower() not in ("float", "base64"):
        raise OllamaError(
            400,
            f"Invalid value for 'encoding_format' = {encoding}. "
            "Supported values: ['float', 'base64'].",
        )
    given = body.get("input")
    if given is None or given == []:
        raise OllamaError(400, "invalid input")
    native = {"model": body.get("model") or "", "input": [""] if given == "" else given}
    if body.get("dimensions"):
        native["dimensions"] = body["dimensions"]
    return native


async def openai_embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await read_body(request, "openai.EmbedRequest")
        record.extras = {"input": body.get("input")}
        record.extras["openai"] = {k: v for k, v in body.items() if k != "input"}
        answer = await vectors(sim, record, openai_input(body))
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return openai_error(e.status, e.message)
    record.end("completed")
    return web.Response(
        body=embedding_list(body, answer), headers={"Content-Type": "application/json"}
    )
