"""Shared fixtures: a fresh PostgreSQL database migrated by the real Alembic scripts, a dedicated
Redis database, and the real simulator, API and worker processes.

TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) names a
database the tests can connect to in order to create and drop their own; TEST_REDIS_URL (default
redis://127.0.0.1:6379/15) names the one Redis database the tests use. Every stack they start
has a key namespace of its own there (REDIS_NAMESPACE, `t<run>-<stack>`), and the tests only
ever delete keys of their own namespaces: nothing else in that Redis, nor any other database of
it, is touched (a sentinel in each other database checks that at the end of the run).
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
from shared.config import Settings, asyncpg_url
from shared.keys import Keys
from shared.redis import RedisLink
from tests import processes
from tests.tcp_proxy import TcpProxy

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MODEL = "qwen3:8b"
# The simulator's embedding model; every stack allows it beside MODEL.
EMBED_MODEL = "all-minilm:latest"
MASTER_KEY = "the-test-suites-master-key-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


# This run's namespaces all start with it, so that two runs on one Redis never meet.
RUN = uuid.uuid4().hex[:6]
MAIN = "main"


def namespace(stack: str) -> str:
    return f"t{RUN}-{stack}"


def redis_db_url(db: int) -> str:
    parts = urlsplit(REDIS_URL)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))


def redis_db() -> int:
    return int(urlsplit(REDIS_URL).path.lstrip("/") or 0)


@pytest.fixture(scope="session", autouse=True)
async def other_databases_untouched() -> AsyncIterator[None]:
    """A sentinel in every other database of the test Redis; each must still be there at the
    end (the suite flushes nothing and uses only TEST_REDIS_URL's database)."""
    sentinel, planted = f"llm-test-sentinel:{RUN}", []
    for db in range(16):
        if db == redis_db():
            continue
        client = Redis.from_url(redis_db_url(db))
        try:
            await client.set(sentinel, b"1", ex=3600)
            planted.append(db)
        except Exception:  # a server with fewer databases
            pass
        finally:
            await client.aclose()
    yield
    missing = []
    for db in planted:
        client = Redis.from_url(redis_db_url(db))
        try:
            if not await client.delete(sentinel):
                missing.append(db)
        finally:
            await client.aclose()
    own = Redis.from_url(REDIS_URL)
    try:
        leftovers = [key async for key in own.scan_iter(match=f"t{RUN}-*", count=1000)]
        if leftovers:
            await own.delete(*leftovers)
    finally:
        await own.aclose()
    assert missing == [], f"the test run emptied Redis databases {missing}"


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


async def empty(client: Redis, keys: Keys) -> None:
    """Every key of the namespace goes but the live workers' heartbeats (they come back only at
    the next beat)."""
    kept = (keys.workers.encode(), keys.worker("").encode())
    doomed = [
        key
        async for key in client.scan_iter(match=f"{keys.namespace}:*", count=1000)
        if key != kept[0] and not key.startswith(kept[1])
    ]
    if doomed:
        await client.delete(*doomed)


@pytest.fixture
def keys() -> Keys:
    """The main stack's key names."""
    return Keys(namespace(MAIN))


@pytest.fixture
async def redis(keys: Keys) -> AsyncIterator[Redis]:
    """The test Redis database, the main namespace empty at the start of each test (but for
    heartbeats)."""
    client = Redis.from_url(REDIS_URL)
    await empty(client, keys)
    yield client
    await client.aclose()


@pytest.fixture
async def link(redis: Redis) -> AsyncIterator[RedisLink]:
    """A direct link to the test Redis database (the hot paths' client)."""
    held = RedisLink(Settings(_env_file=None, REDIS_URL=REDIS_URL))
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


def stack_env(database_url: str, stack: str, ollama_url: str, **extra: object) -> dict[str, str]:
    env = {
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace(stack),
        "OLLAMA_BASE_URL": ollama_url,
        "OLLAMA_MODEL": MODEL,
        "ALLOWED_MODELS": EMBED_MODEL,
        "MASTER_API_KEY": MASTER_KEY,
        "API_KEY_HASH_SECRET": "the-test-suites-hash-secret",
        "STREAM_KEEPALIVE_SECONDS": "1",
        "DISCONNECT_GRACE_SECONDS": "1",
        "WORKER_HEARTBEAT_SECONDS": "1",
        "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
        "WORKER_METRICS_PORT": "0",
        "LOG_LEVEL": "INFO",
        # The suite's many refused keys all come from 127.0.0.1; the guarded stack tests the limit.
        "AUTH_FAILURES_PER_MINUTE": "100000",
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

    @property
    def keys(self) -> Keys:
        return Keys(self.env["REDIS_NAMESPACE"])

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
    env = stack_env(database_url, MAIN, simulator, WORKER_METRICS_PORT=processes.free_port())
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
    env = stack_env(database_url, "missing-model", simulator, OLLAMA_MODEL="missing-model:1b")
    started = start_stack(env, log_dir, "missing-model")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def unreachable_stack(database_url: str, log_dir: Path) -> Iterator[Stack]:
    """A stack whose OLLAMA_BASE_URL points at a port nothing listens on."""
    dead = f"http://127.0.0.1:{processes.free_port()}"
    env = stack_env(database_url, "unreachable", dead, OLLAMA_CONNECT_TIMEOUT_SECONDS=2)
    started = start_stack(env, log_dir, "unreachable")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def tight_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """Short bounds, one slot, no disconnect grace, a short retention."""
    env = stack_env(
        database_url,
        "tight",
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
        database_url, "workerless", simulator, QUEUE_TIMEOUT_SECONDS=1.5, MAX_QUEUE_DEPTH=2
    )
    started = start_stack(env, log_dir, "workerless", worker=False)
    yield started
    started.stop()


@pytest.fixture(scope="session")
def lab_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """An API whose workers each test starts, kills or stops itself; the heartbeat and the
    keep-alive at their defaults, so that a lost worker is found as fast as it is by default."""
    env = stack_env(
        database_url,
        "lab",
        simulator,
        WORKER_HEARTBEAT_SECONDS=1,
        STREAM_KEEPALIVE_SECONDS=5,
        WORKER_POLL_SECONDS=0.1,
        WORKER_SHUTDOWN_GRACE_SECONDS=10,
    )
    started = start_stack(env, log_dir, "lab", worker=False)
    yield started
    started.stop()


@pytest.fixture
async def redis_of() -> AsyncIterator[Callable[[Stack], Awaitable[Redis]]]:
    """`await redis_of(stack)`: a client of that stack's Redis, its namespace emptied first."""
    clients: list[Redis] = []

    async def open_for(stack: Stack) -> Redis:
        client = Redis.from_url(stack.redis_url)
        await empty(client, stack.keys)
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
        "private",
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
    env = stack_env(dead, "databaseless", simulator)
    started = start_stack(env, log_dir, "databaseless", worker=False)
    yield started
    started.stop()


@pytest.fixture
async def tight(tight_stack: Stack, redis_of: Callable[[Stack], Awaitable[Redis]]):
    """A client of the tight stack (short bounds, one slot), its namespace emptied."""
    await redis_of(tight_stack)
    async with httpx.AsyncClient(base_url=tight_stack.url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
async def workerless(workerless_stack: Stack, redis_of: Callable[[Stack], Awaitable[Redis]]):
    """A client of the workerless stack and its Redis, its namespace emptied."""
    redis = await redis_of(workerless_stack)
    async with httpx.AsyncClient(base_url=workerless_stack.url, headers=AUTH, timeout=30) as http:
        yield http, redis


@pytest.fixture(scope="session")
def guarded_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """An API (no worker) with tight bounds on slow clients and failed authentications."""
    env = stack_env(
        database_url,
        "guarded",
        simulator,
        AUTH_FAILURES_PER_MINUTE=5,
        HTTP_HEADER_TIMEOUT_SECONDS=1,
        HTTP_BODY_TIMEOUT_SECONDS=2,
        MAX_CONNECTIONS=64,
    )
    started = start_stack(env, log_dir, "guarded", worker=False)
    yield started
    started.stop()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the test Redis, for the processes a test points at it;
    `redis_proxy.redis_url` names the test database through it."""
    parts = urlsplit(REDIS_URL)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379).start()
    proxy.redis_url = proxy.url(path=f"/{redis_db()}")
    yield proxy
    await proxy.aclose()
