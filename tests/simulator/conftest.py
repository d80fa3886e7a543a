"""The simulator under test: in-process (aiohttp's TestServer, one per test, any settings) or as
the `python -m simulator` process a deployment runs."""

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestServer

from simulator.app import create_app
from simulator.config import SimConfig

ROOT = Path(__file__).resolve().parents[2]
Start = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Start a simulator with SimConfig(**settings) (12 tokens by default); a client of it."""
    servers: list[TestServer] = []
    clients: list[httpx.AsyncClient] = []

    async def started(**settings: object) -> httpx.AsyncClient:
        config = SimConfig(**{"tokens": 12, **settings})  # type: ignore[arg-type]
        server = TestServer(create_app(config))
        await server.start_server()
        servers.append(server)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10)
        clients.append(client)
        return client

    yield started
    for client in clients:
        await client.aclose()
    for server in servers:
        await server.close()


@pytest.fixture
async def sim(start: Start) -> httpx.AsyncClient:
    """A simulator with the default models (qwen3:8b, all-minilm:latest) and 12-token answers."""
    return await start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def run_simulator(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `python -m simulator` with the given flags; its base URL."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*flags: str) -> str:
        port = free_port()
        log = tmp_path / f"simulator-{port}.log"
        args = [sys.executable, "-m", "simulator", "--port", str(port), *flags]
        with log.open("wb") as out:
            proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(url + "/api/version", timeout=1)
                return url
            except httpx.HTTPError:
                time.sleep(0.05)
        raise TimeoutError(f"{args} did not answer in 20s")

    yield run
    for proc in procs:
        proc.terminate()
        proc.wait(10)
