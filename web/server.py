"""The API's HTTP server: uvicorn, with the two bounds uvicorn does not have.

uvicorn (0.54) arms no timer while a request's headers arrive: a connection that never finishes
its headers is held for as long as its client likes (its keep-alive timer starts only after a
response), and it takes any number of connections. Both are decided before the ASGI app sees
anything, so no ASGI middleware can bound them. This subclass of uvicorn's httptools protocol
(uvicorn's own choice when httptools is installed, as `uvicorn[standard]` does):

- answers `408` and closes a connection whose request headers are not complete within
  HTTP_HEADER_TIMEOUT_SECONDS of its first byte (or of the connection, for a first request);
- refuses a connection beyond MAX_CONNECTIONS with `503` and `Retry-After`, at once.

The body's own bounds (size, time) are ASGI-level, in web/body_limit.py. `python -m web` runs the
app on it (web/__main__.py); `uvicorn web.main:app` still runs the same app without these two.
"""

import asyncio
from functools import cache
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.config import get_settings


@cache
def _limits() -> tuple[float, int]:
    settings = get_settings()
    return settings.HTTP_HEADER_TIMEOUT_SECONDS, settings.MAX_CONNECTIONS


def _response(status: bytes, message: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": {"type": "http_error", "message": message}})
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n"
        b"content-length: %d\r\n" % len(body) + extra + b"\r\n" + body
    )


REQUEST_TIMEOUT = _response(b"408 Request Timeout", "the request's headers took too long")
TOO_MANY = _response(b"503 Service Unavailable", "too many open connections", b"retry-after: 1\r\n")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout, self._max_connections = _limits()
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            transport.write(TOO_MANY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers and self._header_timer is None:
            self._arm()  # a next request on a kept-alive connection starts
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._awaiting_headers = True  # its timer starts with the next request's first byte
        super().on_response_complete()

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()
