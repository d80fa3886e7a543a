"""The processes the benchmark measures (the simulator, the API, one worker, the peer) and the
three ways to reach the simulator's text through them (`BenchStack.endpoint`).

Redis is shared: the stack's keys live under a namespace of its own (`REDIS_NAMESPACE=
bench-<random>`), and only that namespace's keys are deleted, at the start and at the end (arq's
per-job keys `arq:job:<uuid>` and the like are arq's and not namespaced; they expire or go when
their jobs end). PostgreSQL is shared too: the stack creates the database `llm_bench` and drops
it at the end, and touches no other.
"""

import asyncio
import os
import platform
import secrets
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import asyncpg
import psutil
import redis

from bench import peer
from bench.shapes import EMBED_SHAPES
from tests import processes

BENCH_DB = "llm_bench"
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://127.0.0.1:5432/postgres")
DATABASE_URL = ADMIN_URL.rsplit("/", 1)[0] + f"/{BENCH_DB}"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
MASTER_KEY = "bench-master-key-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
SIM_MODEL = "qwen3:8b"
EMBED_MODEL = "all-minilm:latest"  # the simulator's embedding model
PATHS = ("direct", "peer", "us")
# dialect -> path -> (process, URL path, wire shape): what each path calls for that dialect.
# `direct` is the simulator's endpoint of the same shape as ours (the native endpoint's is
# Ollama's /api/generate); the peer speaks only OpenAI's.
DIALECTS: dict[str, dict[str, tuple[str, str, str]]] = {
    "openai": {
        "direct": ("sim", "/v1/chat/completions", "openai-chat"),
        "peer": ("peer", "/chat/completions", "openai-chat"),
        "us": ("api", "/v1/chat/completions", "openai-chat"),
    },
    "native": {
        "direct": ("sim", "/api/generate", "ollama-generate"),
        "us": ("api", "/api/v1/generate", "native"),
    },
    "ollama-chat": {
        "direct": ("sim", "/api/chat", "ollama-chat"),
        "us": ("api", "/api/chat", "ollama-chat"),
    },
    "ollama-generate": {
        "direct": ("sim", "/api/generate", "ollama-generate"),
        "us": ("api", "/api/generate", "ollama-generate"),
    },
    "openai-embed": {
        "direct": ("sim", "/v1/embeddings", "openai-embed"),
        "us": ("api", "/v1/embeddings", "openai-embed"),
    },
    "ollama-embed": {
        "direct": ("sim", "/api/embed", "ollama-embed"),
        "us": ("api", "/api/embed", "ollama-embed"),
    },
}


def fresh_namespace() -> str:
    """A Redis namespace no other run uses."""
    return f"bench-{secrets.token_hex(4)}"


def drop_namespace(url: str, namespace: str) -> int:
    """Delete the keys under `namespace` (and no others); how many there were."""
    client = redis.Redis.from_url(url)
    deleted, batch = 0, []
    try:
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += cast(int, client.unlink(*batch))
                batch = []
        if batch:
            deleted += cast(int, client.unlink(*batch))
    finally:
        client.close()
    return deleted


def prepare_database(env: dict[str, str]) -> None:
    """`llm_bench`, created anew and migrated."""
    for args in (
        [sys.executable, "-m", "web.cli", "create-database", "--drop"],
        [str(processes.BIN / "alembic"), "upgrade", "head"],
    ):
        subprocess.run(
            args, env={**os.environ, **env}, check=True, cwd=processes.ROOT, capture_output=True
        )


def drop_database() -> None:
    async def drop() -> None:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


class BenchStack:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[processes.Process] = []
        self.namespace = fresh_namespace()
        self._tmp = tempfile.TemporaryDirectory(prefix="bench-peer-")

    def __enter__(self) -> "BenchStack":
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self) -> "BenchStack":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        drop_namespace(REDIS_URL, self.namespace)
        sim_port, api_port = processes.free_port(), processes.free_port()
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "REDIS_NAMESPACE": self.namespace,
            "OLLAMA_BASE_URL": self.sim_url,
            "OLLAMA_MODEL": SIM_MODEL,
            "ALLOWED_MODELS": EMBED_MODEL,
            "OLLAMA_MAX_CONNECTIONS": "2000",
            # One worker process holds every stream of the largest scenario.
            "WORKER_CONCURRENCY": "1100",
            "MAX_QUEUE_DEPTH": "5000",
            "DATABASE_POOL_SIZE": "20",
            "MASTER_API_KEY": MASTER_KEY,  # the master key has no per-key limits
            "WORKER_METRICS_PORT": "0",
        }
        prepare_database(self.env)
        self.sim = processes.simulator(sim_port, self.log_dir)
        self.procs.append(self.sim)
        config = peer.write_config(Path(self._tmp.name), self.sim_url, SIM_MODEL)
        # The log's name is this run's: logs are appended to, and the URL is read from it.
        self.peer, self.peer_url = peer.start(config, self.log_dir, f"peer-{self.namespace}")
        self.procs.append(self.peer)
        self.worker = processes.ready_worker(self.env, self.log_dir, "bench-worker")
        self.procs.append(self.worker)
        self.api = processes.api(
            api_port,
            self.env,
            self.log_dir,
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
        )
        self.procs.append(self.api)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        self._tmp.cleanup()
        drop_namespace(REDIS_URL, self.namespace)
        drop_database()

    def endpoint(self, dialect: str, path: str) -> dict[str, Any]:
        """What the load process needs to call `path` in `dialect` (see bench/load.py)."""
        process, url_path, shape = DIALECTS[dialect][path]
        base = {"sim": self.sim_url, "peer": self.peer_url, "api": self.api_url}[process]
        return {
            "label": f"{dialect}/{path}",
            "url": base + url_path,
            "shape": shape,
            "model": (
                peer.MODEL
                if process == "peer"
                else EMBED_MODEL if shape in EMBED_SHAPES else SIM_MODEL
            ),
            "headers": AUTH if process == "api" else {},
        }

    def ps(self, name: str) -> psutil.Process:
        procs = {"api": self.api, "worker": self.worker, "sim": self.sim, "peer": self.peer}
        return psutil.Process(procs[name].pid)

    def machine(self) -> dict[str, object]:
        cpu = "unknown"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return {
            "cpu": cpu,
            "cores": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "peer": f"TensorZero gateway {version('tensorzero')} (the PyPI wheel's)",
        }
