"""A TCP proxy in front of one service, so that a test can make it fail for one process only:
`cut()` drops every connection and refuses new ones (the port stops listening, as a stopped
server's does), `hang()` keeps connections open but carries
nothing (a Redis that stops answering), `heal()` carries again (connections that hung are closed
then: what they had sent is gone). Runs in the test's own event loop: start processes that use it
with `asyncio.to_thread`, so that the loop keeps carrying while they start."""

import asyncio
import contextlib
from typing import Literal

Mode = Literal["open", "cut", "hang"]


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.mode: Mode = "open"
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()
        self.port = 0
        self.redis_url = ""  # set by the test fixture that knows the database

    async def start(self) -> "TcpProxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, scheme: str = "redis", path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def cut(self) -> None:
        self.mode = "cut"
        if self._server is not None:
            self._server.close()
            self._server = None
        self._close_all()

    def hang(self) -> None:
        self.mode = "hang"

    async def heal(self) -> None:
        if self.mode == "hang":
            self._close_all()
        if self._server is None:
            await self.start()  # the same port again
        self.mode = "open"

    def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def aclose(self) -> None:
        self._close_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Connections still being served (one may be opening its upstream side right now):
        # ended here, so that none outlives the test unclosed.
        for task in list(self._serving):
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        up_writer: asyncio.StreamWriter | None = None
        self._writers.add(writer)
        try:
            if self.mode == "cut":
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(up_reader, writer),
                return_exceptions=True,
            )
        finally:
            for w in (writer, up_writer):
                if w is not None:
                    self._writers.discard(w)
                    w.close()
            self._serving.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self.mode == "open":
                    writer.write(data)
                    await writer.drain()
                # hanging: what arrives is swallowed, the connection stays open
        writer.close()
