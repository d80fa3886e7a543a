"""The Ollama simulator's aiohttp application: its routes, its middlewares, its control endpoints.

An Ollama simulator: Ollama's HTTP protocol (native and OpenAI-compatible), with a configurable
token rate and faults on demand. A test instrument, faithful to the protocol (field names,
framing, status codes and error texts as Ollama sends them), not to any client. It records every
request (/sim/requests), so a test can prove what reached "Ollama" and how each request ended.

Control endpoints, not Ollama's:

    GET /sim/requests       the records (simulator/records.py)
    DELETE /sim/requests    forget them, and the counts of keyed faults
    POST /sim/config        change {"tokens", "rate", "ttft", "think_tokens",
                            "implicit_think_tokens"} while running; answers the current values
"""

from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from simulator import embed, management, models, openai_compat
from simulator.config import RUNTIME_SETTINGS, SimConfig
from simulator.decode import read
from simulator.generation import describe, serve
from simulator.ndjson import ChatLines, GenerateLines
from simulator.state import SIMULATOR, Simulator, simulator_of
from simulator.turn import Drop
from simulator.wire import OllamaError, error_response, read_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def native(request: web.Request, chat: bool) -> web.StreamResponse:
    """/api/generate and /api/chat."""
    sim = simulator_of(request)
    record = sim.records.open(request.path, "")
    try:
        body = await read_body(request, "api.ChatRequest" if chat else "api.GenerateRequest")
        ask = read(body, chat)
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return error_response(e.status, e.message)
    describe(record, ask)
    emitter = ChatLines(ask.name) if chat else GenerateLines(ask.name)
    return await serve(request, sim, record, ask, emitter)


async def generate(request: web.Request) -> web.StreamResponse:
    return await native(request, chat=False)


async def chat(request: web.Request) -> web.StreamResponse:
    return await native(request, chat=True)


def _dumps(obj: object) -> str:
    return orjson.dumps(obj).decode()


async def list_records(request: web.Request) -> web.Response:
    return web.json_response(simulator_of(request).records.as_list(), dumps=_dumps)


async def clear_records(request: web.Request) -> web.Response:
    simulator_of(request).records.clear()
    return web.json_response({"cleared": True})


async def set_config(request: web.Request) -> web.Response:
    config = simulator_of(request).config
    body = await request.json()
    for name in RUNTIME_SETTINGS:
        if name in body:
            setattr(config, name, type(getattr(config, name))(body[name]))
    return web.json_response({name: getattr(config, name) for name in RUNTIME_SETTINGS})


@web.middleware
async def drop_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The "drop" fault on a whole answer: close the connection without a response."""
    try:
        return await handler(request)
    except Drop:
        if request.transport is not None:
            request.transport.abort()
        raise web.HTTPInternalServerError() from None


@web.middleware
async def gin_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown paths and methods answered as Ollama's router (gin) answers them."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, text="404 page not found")
    except web.HTTPMethodNotAllowed:
        return web.Response(status=405, text="405 method not allowed")


ROUTES = [
    web.get("/", models.root),
    web.get("/api/version", models.version),
    web.get("/api/tags", models.tags),
    web.get("/api/ps", models.ps),
    web.post("/api/show", models.show),
    web.post("/api/generate", generate),
    web.post("/api/chat", chat),
    web.post("/api/embed", embed.embed),
    web.post("/api/embeddings", embed.embeddings),
    web.post("/api/pull", management.pull),
    web.post("/api/push", management.push),
    web.post("/api/create", management.create),
    web.post("/api/copy", management.copy),
    web.delete("/api/delete", management.delete),
    web.head("/api/blobs/{digest}", management.head_blob),
    web.post("/api/blobs/{digest}", management.create_blob),
    web.post("/v1/chat/completions", openai_compat.chat_completions),
    web.post("/v1/completions", openai_compat.completions),
    web.post("/v1/embeddings", embed.openai_embeddings),
    web.get("/v1/models", models.list_models),
    web.get("/v1/models/{model}", models.retrieve_model),
    web.get("/sim/requests", list_records),
    web.delete("/sim/requests", clear_records),
    web.post("/sim/config", set_config),
]


def create_app(config: SimConfig) -> web.Application:
    """The simulator for `config`; its state is `app[SIMULATOR]`."""
    app = web.Application(
        client_max_size=64 * 1024 * 1024, middlewares=[gin_middleware, drop_middleware]
    )
    app.add_routes(ROUTES)
    app[SIMULATOR] = Simulator(config)
    return app
