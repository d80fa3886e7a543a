"""The Ollama dialect: /api/generate and /api/chat on the queue; /api/tags, /api/ps, /api/show
and /api/version from Ollama, for the allowed models only; the operator's model management
passed on as it came; `/` (GET and HEAD); and Ollama's 404 for any other path under /api/.

Puts keys, limits and a queue in front of Ollama: `ollama.Client(host="http://server:8000",
headers={"Authorization": "Bearer <key>"})` works unchanged (web/dialects/ollama.py).
(/api/embed and /api/embeddings are in web/routes/embeddings.py.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Scope

from shared.errors import Forbidden, NotFound
from web.auth import Principal
from web.body_limit import BODY_BYTES
from web.deps import PrincipalDep, StateDep
from web.dialects import ollama
from web.generations import options
from web.generations.submit import answer, check
from web.responses import JSON
from web.state import AppState
from web.upstream import Body

router = APIRouter(tags=["ollama"], route_class=ollama.DIALECT.route_class)


@router.post("/api/generate")
async def generate(
    body: ollama.GenerateRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/generate, on the server's queue; an empty prompt loads the model."""
    if body.loads_only:
        return await _load(state, request, principal, body)
    return await answer(state, request, principal, body)


@router.post("/api/chat")
async def chat(
    body: ollama.ChatRequest, request: Request, state: StateDep, principal: PrincipalDep
) -> Response:
    """Ollama's /api/chat, on the server's queue; no messages load the model."""
    if body.loads_only:
        return await _load(state, request, principal, body)
    return await answer(state, request, principal, body)


async def _load(
    state: AppState,
    request: Request,
    principal: Principal,
    body: ollama.GenerateRequest | ollama.ChatRequest,
) -> Response:
    """Answer a load at once, as Ollama does; nothing is queued or recorded. Only a key that may
    change Ollama for everyone (the master key, an admin key) has Ollama load the model, or
    with `keep_alive: 0` unload it: which model is loaded is the operator's, and a load outside
    the queue would evict the model others are using. Any other key's model loads with its
    first generation, through the queue."""
    call = body.to_ollama(state.settings)
    ignored = options.restrict(call.request, principal, state.settings)
    check(call, state.settings, body_bytes=request.scope.get("state", {}).get(BODY_BYTES, 0))
    if principal.may_configure_ollama:
        answered = await state.upstream.load(call.kind, call.request)
    else:
        answered = ollama.load_answer(call.kind)
    response = JSON(ollama.loaded(answered, body.model))
    if ignored:
        response.headers[options.HEADER] = ", ".join(ignored)
    return response


@router.get("/api/tags")
async def tags(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use, as Ollama lists them (size, digest, details)."""
    return ollama.allowed_listing(state.settings, await state.upstream.call("GET", "/api/tags"))


@router.get("/api/ps")
async def ps(state: StateDep, _: PrincipalDep) -> dict[str, Any]:
    """The models a key may use that Ollama has loaded."""
    return ollama.allowed_listing(state.settings, await state.upstream.call("GET", "/api/ps"))


@router.post("/api/show")
async def show(body: ollama.ShowRequest, state: StateDep, _: PrincipalDep) -> Response:
    """What Ollama says of a model a key may use (details, model_info, template, ...)."""
    return JSON(await state.upstream.call("POST", "/api/show", body.to_ollama(state.settings)))


@router.get("/api/version")
async def version(state: StateDep, _: PrincipalDep) -> dict[str, str]:
    """The version of the Ollama the workers reach (as their heartbeats report it)."""
    snapshot = await state.queue.snapshot()
    seen = [w.get("ollama", {}).get("version") for w in snapshot.workers_detail]
    return {"version": next((v for v in seen if v), "0.0.0")}


@router.api_route(
    "/", methods=["GET", "HEAD"], response_class=PlainTextResponse, include_in_schema=False
)
async def root() -> str:
    """What Ollama answers at `/` (the `ollama` CLI's heartbeat is `HEAD /`)."""
    return "Ollama is running"


async def get_operator(principal: PrincipalDep) -> Principal:
    """A key that may change Ollama for everyone: the master key or an admin key (403)."""
    if not principal.may_configure_ollama:
        raise Forbidden(
            "model management (pull, push, create, copy, delete, blobs) is the operator's: "
            "use the master key or an admin key"
        )
    return principal


OperatorDep = Annotated[Principal, Depends(get_operator)]
MANAGEMENT = (
    ("POST", "/api/pull"),
    ("POST", "/api/push"),
    ("POST", "/api/create"),
    ("POST", "/api/copy"),
    ("DELETE", "/api/delete"),
    ("HEAD", "/api/blobs/{digest}"),
    ("POST", "/api/blobs/{digest}"),
)


async def manage(request: Request, state: StateDep, _: OperatorDep) -> Response:
    """Passed on to Ollama as it came; its answer (progress lines, for pull, push and
    create) relayed as it sends it."""
    blob = request.url.path.startswith("/api/blobs/")
    body: Body = request.stream() if blob and request.method == "POST" else await request.body()
    relayed = await state.upstream.relay(
        request.method,
        request.url.path,
        body or None,
        "application/octet-stream" if blob else "application/json",
    )
    return StreamingResponse(
        relayed.body, status_code=relayed.status, media_type=relayed.media_type
    )


for method, path in MANAGEMENT:
    router.add_api_route(
        path,
        manage,
        methods=[method],
        name=f"{method.lower()} {path}",
        summary=f"Ollama's {path} (the master key or an admin key)",
    )


NATIVE = "/api/v1"


class UnknownRoute(ollama.Route):
    """Any path under /api/ that no route takes, but the native API's /api/v1/ (a path that a
    route takes with another method stays that route's 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        path = str(scope.get("path", ""))
        if match == Match.NONE or path == NATIVE or path.startswith(NATIVE + "/"):
            return Match.NONE, {}
        routers: list[APIRouter] = getattr(scope["app"].state, "routers", [])
        for other in (route for router in routers for route in router.routes):
            if not isinstance(other, UnknownRoute) and other.matches(scope)[0] != Match.NONE:
                return Match.NONE, {}
        return match, child


unknown_router = APIRouter(route_class=UnknownRoute)


@unknown_router.api_route(
    "/api/{path:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
async def unknown(path: str) -> Response:
    """Ollama's 404, in Ollama's shape."""
    raise NotFound("404 page not found")
