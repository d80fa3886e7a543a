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

# The routes whose bodies may carry images: their bound is MAX_BODY_BYTES + MAX_IMAGE_BYTES, and
# submit checks the images' share (web/generations/submit.py).
IMAGE_ROUTES = frozenset({"/api/generate", "/api/chat", "/v1/chat/completions", "/v1/responses"})
# The size of an image route's body, in `request.state`, for that check.
BODY_BYTES = "body_bytes"
# A model's blob (a GGUF file, gigabytes) is uploaded here by the operator only: the route refuses
# any other key before it reads a byte (web/routes/ollama.py). Its size is not bounded, and its
# time is bounded per piece: HTTP_BODY_TIMEOUT_SECONDS without progress is a 408.
BLOB_PREFIX = "/api/blobs/"


class BodyLimit:
    def __init__(
        self, app: ASGIApp, max_bytes: int, timeout_s: float, image_bytes: int = 0
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.image_bytes = image_bytes
        self.timeout_s = timeout_s

    def _error(self, limit: int) -> BodyTooLarge:
        if limit == self.max_bytes:
            return BodyTooLarge(
                f"the request body is larger than {self.max_bytes} bytes (MAX_BODY_BYTES)"
            )
        return BodyTooLarge(
            f"the request body is larger than {limit} bytes (MAX_BODY_BYTES + MAX_IMAGE_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        images, blob = path in IMAGE_ROUTES, path.startswith(BLOB_PREFIX)
        limit = None if blob else self.max_bytes + (self.image_bytes if images else 0)
        for name, value in scope["headers"]:
            if name != b"content-length" or limit is None:
                continue
            if value.isdigit() and int(value) > limit:
                await error_response(self._error(limit), scope)(scope, receive, send)
                return
        received = 0
        complete = False
        deadline = time.monotonic() + self.timeout_s

        async def limited() -> Message:
            nonlocal received, complete, deadline
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
                if blob:
                    deadline = time.monotonic() + self.timeout_s
                received += len(message.get("body", b""))
                if limit is not None and received > limit:
                    raise HTTPException(413, self._error(limit).message)
                complete = not message.get("more_body", False)
                if complete and images:
                    # What the images may add is checked once they are known (submit.check).
                    scope.setdefault("state", {})[BODY_BYTES] = received
            return message

        await self.app(scope, limited, send)
