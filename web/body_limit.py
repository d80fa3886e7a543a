"""MAX_BODY_BYTES, answered in the API's own error envelope.

Starlette's body-limit middleware (behind FastAPI's `max_body_size`) answers a declared
Content-Length over the limit with plain text, whatever the app renders. This one is pure ASGI
(so disconnects still reach the routes, unlike BaseHTTPMiddleware) and answers in JSON.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import BodyTooLarge
from web.errors import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> BodyTooLarge:
        return BodyTooLarge(
            f"the request body is larger than {self.max_bytes} bytes (MAX_BODY_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await error_response(self._error(), scope)(scope, receive, send)
                return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised while the route reads its body: FastAPI turns any other exception
                    # there into a 400, and passes an HTTPException through (rendered as 413).
                    raise HTTPException(413, self._error().message)
            return message

        await self.app(scope, limited, send)
