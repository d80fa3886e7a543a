"""The processes the benchmark measures: the simulator, the API and one worker."""

import os
import platform
import subprocess
import sys
from pathlib import Path
from types import TracebackType

import psutil
import redis

from tests import processes

BENCH_DB = "llm_bench"
ADMIN_URL = os.environ.get("BENCH_DATABASE_ADMIN_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
MASTER_KEY = "bench-master-key-0123456789"
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


class BenchStack:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[processes.Process] = []

    def __enter__(self) -> "BenchStack":
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self) -> "BenchStack":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        database_url = ADMIN_URL.rsplit("/", 1)[0] + f"/{BENCH_DB}"
        redis.Redis.from_url(REDIS_URL).flushdb()
        sim_port, api_port = processes.free_port(), processes.free_port()
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.env = {
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "REDIS_URL": REDIS_URL,
            "OLLAMA_BASE_URL": self.sim_url,
            "OLLAMA_MODEL": "qwen3:8b",
            "OLLAMA_MAX_CONNECTIONS": "2000",
            # One worker process holds every stream of the largest scenario.
            "WORKER_CONCURRENCY": "1100",
            "MAX_QUEUE_DEPTH": "5000",
            "DATABASE_POOL_SIZE": "20",
            "MASTER_API_KEY": MASTER_KEY,  # the master key has no per-key limits
            "WORKER_METRICS_PORT": "0",
        }
        subprocess.run(
            [sys.executable, "-m", "web.cli", "create-database", "--drop"],
            env={**os.environ, **self.env},
            check=True,
            cwd=processes.ROOT,
            capture_output=True,
        )
        subprocess.run(
            [str(processes.BIN / "alembic"), "upgrade", "head"],
            env={**os.environ, **self.env},
            check=True,
            cwd=processes.ROOT,
            capture_output=True,
        )
        self.sim = processes.simulator(sim_port, self.log_dir)
        self.procs.append(self.sim)
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

    def ps(self, name: str) -> psutil.Process:
        return psutil.Process({"api": self.api, "worker": self.worker, "sim": self.sim}[name].pid)

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
        }
