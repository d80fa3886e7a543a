"""The web process's own calls to Ollama (OLLAMA_BASE_URL), for Ollama's serving API: what it
says about its models (/api/show, /api/ps, /api/tags), a model loaded or unloaded, and the
operator's model management passed on as it came (pull, push, create, copy, delete, blobs).

Generations never come here: the workers run them (shared/ollama.py). Every call has a bound:
connecting (OLLAMA_CONNECT_TIMEOUT_SECONDS), then a question about models METADATA_SECONDS, a
load FIRST_TOKEN_TIMEOUT_SECONDS (what a generation's first chunk may take: a model load is
what makes it slow), and a passed-on answer FIRST_TOKEN_TIMEOUT_SECONDS for its headers and
CHUNK_TIMEOUT_SECONDS for each next piece of its body (a pull's progress lines come several a
second while it runs). Ollama's refusal of a question or of a request passed on is relayed in
its words and with its status (OllamaRefused); a load fails as a generation does
(`status_error`); not reaching Ollama is `connection_error`'s.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import aiohttp
import orjson

from shared.config import Settings
from shared.errors import AppError, UpstreamError, UpstreamTimeout
from shared.ollama import JSON_HEADERS, connection_error, error_text, session, status_error

log = logging.getLogger(__name__)

# /api/show, /api/ps and /api/tags read manifests, GGUF headers and the scheduler's state: well
# under a second on a healthy Ollama; this leaves room for a cold disk.
METADATA_SECONDS = 10.0
# Questions and the operator's management only (generations have the workers' pools): a few
# at once is plenty, and a flood of /api/show cannot open hundreds of connections to Ollama.
MAX_CONNECTIONS = 16
NDJSON = "application/x-ndjson"

Body = bytes | AsyncIterator[bytes] | None


class OllamaRefused(UpstreamError):
    """Ollama's own refusal of a request passed on to it, with its status and its words."""

    reported_by_workers: ClassVar[bool] = False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status  # type: ignore[misc]


@dataclass(slots=True)
class Relayed:
    """Ollama's answer to a request passed on: its status, its content type, and its body,
    read as the client takes it."""

    status: int
    media_type: str
    body: AsyncIterator[bytes]


def _refused(status: int, body: bytes) -> AppError:
    return OllamaRefused(status, error_text(body))


class Upstream:
    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.ollama_base_url
        self._connect_s = settings.OLLAMA_CONNECT_TIMEOUT_SECONDS
        self._load_s = settings.FIRST_TOKEN_TIMEOUT_SECONDS
        self._next_s = settings.CHUNK_TIMEOUT_SECONDS
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = session(self._connect_s, MAX_CONNECTIONS)
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Ollama's JSON answer to a question about its models; its refusal (a model it does
        not have, ...) is OllamaRefused, with its status and its words."""
        return await self._json(method, path, body, METADATA_SECONDS, _refused)

    async def load(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        """Load (or, with `keep_alive: 0`, unload) a model: Ollama's answer to an empty
        /api/generate or /api/chat. Its refusals are a generation's (`status_error`)."""
        body = {**request, "stream": False}
        model = str(request.get("model"))
        answer = await self._json(
            "POST",
            f"/api/{kind}",
            body,
            self._load_s,
            lambda status, raw: status_error(status, raw, model),
        )
        return answer if isinstance(answer, dict) else {}

    async def _json(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        bound: float,
        refused: Callable[[int, bytes], AppError],
    ) -> Any:
        data = orjson.dumps(body) if body is not None else None
        try:
            async with asyncio.timeout(self._connect_s + bound):
                async with self._http().request(
                    method, f"{self.base_url}{path}", data=data, headers=JSON_HEADERS
                ) as response:
                    raw = await response.read()
                    if response.status != 200:
                        raise refused(response.status, raw)
                    return orjson.loads(raw)
        except AppError:
            raise
        except TimeoutError as e:
            raise UpstreamTimeout("Ollama did not answer in time") from e
        except Exception as e:
            raise connection_error(e, self.base_url) from e

    async def relay(self, method: str, path: str, body: Body, content_type: str) -> Relayed:
        """Pass a request on to Ollama as it came. A refusal (4xx, 5xx) is OllamaRefused, in
        Ollama's words; any other answer is relayed as Ollama sends it."""
        url, headers = f"{self.base_url}{path}", {"Content-Type": content_type}
        response: aiohttp.ClientResponse | None = None
        bound = self._connect_s + self._load_s
        try:
            # Sending the body counts too. A streamed one (a blob, which may be gigabytes) has
            # the bound anew with each piece that arrives: it bounds a stall, not the upload.
            async with asyncio.timeout(bound) as deadline:
                if body is not None and not isinstance(body, bytes):
                    body = _progressing(body, deadline, bound)
                response = await self._http().request(method, url, data=body, headers=headers)
                if response.status >= 400:
                    message = error_text(await response.read())
                    response.release()
                    raise OllamaRefused(response.status, message)
        except AppError:
            raise
        except TimeoutError as e:
            if response is not None:
                response.close()
            raise UpstreamTimeout("Ollama did not answer in time") from e
        except Exception as e:
            if response is not None:
                response.close()
            raise connection_error(e, self.base_url) from e
        media_type = response.headers.get("Content-Type", "application/json")
        return Relayed(response.status, media_type, self._pieces(response))

    async def _pieces(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """The body as it arrives. A stall or a broken connection ends an NDJSON stream with
        Ollama's own error line (the status is sent by then)."""
        finished = False
        try:
            while True:
                async with asyncio.timeout(self._next_s):
                    piece = await response.content.readany()
                if not piece:
                    finished = True
                    return
                yield piece
        except TimeoutError:
            failure: AppError = UpstreamTimeout(f"Ollama sent nothing for {self._next_s:g} s")
        except Exception as e:
            failure = connection_error(e, self.base_url)
        finally:
            if finished:
                response.release()
            else:
                # Closing the connection is what makes Ollama stop (a pull, a push).
                response.close()
        log.warning("a relayed answer of Ollama's broke off: %s", failure.message)
        if response.headers.get("Content-Type", "").startswith(NDJSON):
            yield orjson.dumps({"error": failure.message}) + b"\n"


async def _progressing(
    body: AsyncIterator[bytes], deadline: asyncio.Timeout, bound: float
) -> AsyncIterator[bytes]:
    """The body, pushing the deadline `bound` seconds past each piece as it passes."""
    loop = asyncio.get_running_loop()
    async for piece in body:
        deadline.reschedule(loop.time() + bound)
        yield piece
