"""Shared fixtures: a fresh PostgreSQL database migrated by the real Alembic scripts, a dedicated
Redis database, and the real simulator, API and worker processes.

TEST_DATABASE_ADMIN_URL (default postgresql://127.0.0.1:5432/postgres) names a database the
tests can connect to in order to create and drop their own; TEST_REDIS_URL (default
redis://127.0.0.1:6379/15) names the Redis database the tests flush; other databases of the
same server serve the extra stacks some tests start (7, 8, 10-14; the benchmark uses 9).
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from alembic.config import Config
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from alembic import command
from shared.config import asyncpg_url
from shared.jobs import HEARTBEATS_KEY
from shared.redis import RedisLink
from tests import processes

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MODEL = "qwen3:8b"
MASTER_KEY = "the-test-suites-master-key-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def redis_db_url(db: int) -> str:
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def migrate(database_url: str, revision: str = "head", *, down: bool = False) -> None:
    config = Config(str(processes.ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(processes.ROOT / "alembic"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    (command.downgrade if down else command.upgrade)(config, revision)


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    """A database of its own for this test run, migrated to head by the real scripts."""
    name = f"llm_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = with_database(ADMIN_URL, name)
        await asyncio.to_thread(migrate, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(asyncpg_url(database_url))
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


async def empty(client: Redis) -> None:
    """Everything but the live workers' heartbeats goes (they come back only at the next beat)."""
    doomed = [
        key
        async for key in client.scan_iter(count=1000)
        if key != HEARTBEATS_KEY.encode() and not key.startswith(b"worker:")
    ]
    if doomed:
        await client.delete(*doomed)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The test Redis database, empty at the start of each test (but for heartbeats)."""
    client = Redis.from_url(REDIS_URL)
    await empty(client)
    yield client
    await client.aclose()


@pytest.fixture
async def link(redis: Redis) -> AsyncIterator[RedisLink]:
    """A direct link to the test Redis database (the hot paths' client)."""
    held = RedisLink(REDIS_URL)
    yield held
    await held.aclose()


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def simulator(log_dir: Path) -> Iterator[str]:
    """The Ollama simulator, in its own process; yields its base URL."""
    port = processes.free_port()
    proc = processes.simulator(port, log_dir, "--model", MODEL, "--tokens", "12")
    yield f"http://127.0.0.1:{port}"
    proc.stop()


def stack_env(
    database_url: str, redis_url: str, ollama_url: str, **extra: object
) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "OLLAMA_BASE_URL": ollama_url,
        "OLLAMA_MODEL": MODEL,
        "MASTER_API_KEY": MASTER_KEY,
        "API_KEY_HASH_SECRET": "the-test-suites-hash-secret",
        "STREAM_KEEPALIVE_SECONDS": "1",
        "DISCONNECT_GRACE_SECONDS": "1",
        "WORKER_HEARTBEAT_SECONDS": "1",
        "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
        "WORKER_METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Stack:
    url: str
    api: processes.Process
    worker: processes.Process | None
    env: dict[str, str]

    @property
    def redis_url(self) -> str:
        return self.env["REDIS_URL"]

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.api.stop()


def start_stack(env: dict[str, str], log_dir: Path, name: str, *, worker: bool = True) -> Stack:
    port = processes.free_port()
    started = processes.ready_worker(env, log_dir, f"{name}-worker") if worker else None
    api = processes.api(port, env, log_dir)
    return Stack(f"http://127.0.0.1:{port}", api, started, env)


@pytest.fixture(scope="session")
def stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """The API and one worker, as real processes, on the test database and Redis."""
    env = stack_env(database_url, REDIS_URL, simulator, WORKER_METRICS_PORT=processes.free_port())
    started = start_stack(env, log_dir, "main")
    yield started
    started.stop()


@pytest.fixture
async def client(stack: Stack, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
async def sim(simulator: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the simulator, whose request records start empty."""
    async with httpx.AsyncClient(base_url=simulator, timeout=10) as http:
        await http.delete("/sim/requests")
        yield http


@pytest.fixture(scope="session")
def missing_model_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """A stack whose OLLAMA_MODEL the simulator does not have."""
    env = stack_env(database_url, redis_db_url(14), simulator, OLLAMA_MODEL="missing-model:1b")
    started = start_stack(env, log_dir, "missing-model")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def unreachable_stack(database_url: str, log_dir: Path) -> Iterator[Stack]:
    """A stack whose OLLAMA_BASE_URL points at a port nothing listens on."""
    dead = f"http://127.0.0.1:{processes.free_port()}"
    env = stack_env(database_url, redis_db_url(13), dead, OLLAMA_CONNECT_TIMEOUT_SECONDS=2)
    started = start_stack(env, log_dir, "unreachable")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def tight_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """Short bounds, one slot, no disconnect grace, a short retention."""
    env = stack_env(
        database_url,
        redis_db_url(12),
        simulator,
        FIRST_TOKEN_TIMEOUT_SECONDS=1.5,
        CHUNK_TIMEOUT_SECONDS=1,
        GENERATION_TIMEOUT_SECONDS=3,
        STREAM_RETENTION_SECONDS=2,
        WORKER_CONCURRENCY=1,
        DISCONNECT_GRACE_SECONDS=0,
    )
    started = start_stack(env, log_dir, "tight")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def workerless_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """An API with no worker at all: jobs wait until they time out."""
    env = stack_env(
        database_url, redis_db_url(10), simulator, QUEUE_TIMEOUT_SECONDS=1.5, MAX_QUEUE_DEPTH=2
    )
    started = start_stack(env, log_dir, "workerless", worker=False)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def lab_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """An API whose workers each test starts, kills or stops itself."""
    env = stack_env(
        database_url,
        redis_db_url(11),
        simulator,
        WORKER_HEARTBEAT_SECONDS=0.5,
        STREAM_KEEPALIVE_SECONDS=0.5,
        WORKER_POLL_SECONDS=0.1,
        WORKER_SHUTDOWN_GRACE_SECONDS=10,
    )
    started = start_stack(env, log_dir, "lab", worker=False)
    yield started
    started.stop()


@pytest.fixture
async def redis_of() -> AsyncIterator[Callable[[Stack], Awaitable[Redis]]]:
    """`await redis_of(stack)`: a client of that stack's Redis database, flushed first."""
    clients: list[Redis] = []

    async def open_for(stack: Stack) -> Redis:
        client = Redis.from_url(stack.redis_url)
        await empty(client)
        clients.append(client)
        return client

    yield open_for
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session")
def private_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """STORE_CONTENT=false (records without prompts or answers), and the default keep-alive
    interval of 5 s instead of the suite's 1 s."""
    env = stack_env(
        database_url,
        redis_db_url(8),
        simulator,
        STORE_CONTENT="false",
        STREAM_KEEPALIVE_SECONDS=5,
    )
    started = start_stack(env, log_dir, "private")
    yield started
    started.stop()


@pytest.fixture
async def new_key(client: httpx.AsyncClient) -> AsyncIterator[Callable[..., Awaitable[dict]]]:
    """`await new_key(name, **limits)`: a fresh API key made with the master key."""

    async def make(name: str = "test", **limits: int) -> dict:
        r = await client.post("/api/v1/keys", json={"name": name, **limits})
        assert r.status_code == 201, r.text
        return r.json()

    yield make


def key_client(stack: Stack, key: str | None) -> httpx.AsyncClient:
    """A client of the stack that sends `key` (none at all if it is empty)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def databaseless_stack(simulator: str, log_dir: Path) -> Iterator[Stack]:
    """An API whose DATABASE_URL points at a port nothing listens on (no worker)."""
    dead = f"postgresql://127.0.0.1:{processes.free_port()}/nowhere"
    env = stack_env(dead, redis_db_url(7), simulator)
    started = start_stack(env, log_dir, "databaseless", worker=False)
    yield started
    started.stop()
