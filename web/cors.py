"""Cross-origin requests from the browser origins CORS_ORIGINS names, for every route and dialect.

Starlette's CORSMiddleware answers the preflight (`OPTIONS` with `Access-Control-Request-Method`)
of any path itself, before routing and before the key check, and adds its headers to every
answer, errors included. Two things differ here:

- a request from an origin that is not allowed passes through untouched, as if CORS were off:
  no `Access-Control-*` header at all (Starlette would still add `Access-Control-Allow-Methods`
  to its refused preflight, and `Access-Control-Expose-Headers` to every answer);
- scripts may read `X-Generation-ID` (to resume or cancel) and `X-Request-ID`.

Credentials (cookies) are not allowed: the API is called with `Authorization` or `X-API-Key`.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "POST")
HEADERS = ("Authorization", "Content-Type", "Last-Event-ID", "X-API-Key", "X-Request-ID")
EXPOSED = ("X-Generation-ID", "X-Request-ID", "Retry-After")
# Browsers cache a preflight's answer this long (Chromium caps it at 2 hours).
MAX_AGE_SECONDS = 600


class Cors(CORSMiddleware):
    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=METHODS,
            allow_headers=HEADERS,
            expose_headers=EXPOSED,
            max_age=MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin = Headers(scope=scope).get("origin")
            if origin is not None and not self.is_allowed_origin(origin):
                await self.app(scope, receive, _varies_by_origin(send))
                return
        await super().__call__(scope, receive, send)


def _varies_by_origin(send: Send) -> Send:
    """The answer still depends on the origin (a cache must not hand it to an allowed one)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            MutableHeaders(scope=message).add_vary_header("Origin")
        await send(message)

    return sending
