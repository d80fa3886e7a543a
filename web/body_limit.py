"""The request body's bounds: MAX_BODY_BYTES (413) and HTTP_BODY_TIMEOUT_SECONDS (408), answered
in the route's dialect.

Starlette's body-limit middleware (behind FastAPI's `max_body_size`) answers a declared
Content-Length over the limit with plain text, whatever the app renders, and nothing bounds the
time a body takes to arrive (a client sending a byte every few seconds would hold its request
forever). This one is pure ASGI (so disconnects still reach the routes, unlike
BaseHTTPMiddleware) and answers in JSON.
"""

import asyncio
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import BodyTooLarge
from web.errors import error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

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
        complete = False
        deadline = time.monotonic() + self.timeout_s

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # the body is in; what follows is a wait for the disconnect
                return await receive()
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                # Raised while the route reads its body: FastAPI turns any other exception
                # there into a 400, and passes an HTTPException through (rendered as 408).
                raise HTTPException(
                    408, f"the request body took longer than {self.timeout_s:g} s to arrive"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._error().message)
                complete = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)
