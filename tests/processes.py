"""Real processes for the tests: the Ollama simulator, the API and the worker.

Each runs as its own OS process on a free loopback port, exactly as a deployment runs it
(`python -m web`, `python -m worker`, `python -m simulator`).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import httpx
import redis

from shared.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer in {timeout}s")


class Process:
    """A child process with its output in a log file, stopped on request."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def simulator(port: int, log_dir: Path, *extra: str) -> Process:
    args = [sys.executable, "-m", "simulator", "--port", str(port), *extra]
    proc = Process(f"simulator-{port}", args, {}, log_dir)
    wait_http(f"http://127.0.0.1:{port}/api/version", proc=proc.proc)
    return proc


def api(port: int, env: Mapping[str, str], log_dir: Path, *options: str) -> Process:
    """The API, once it answers /healthz; `options` go to `python -m web`."""
    args = [
        sys.executable,
        "-m",
        "web",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]
    proc = Process(f"api-{port}", args, env, log_dir)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc.proc)
    return proc


def worker(
    env: Mapping[str, str], log_dir: Path, name: str = "worker", *, plain_arq: bool = False
) -> Process:
    """`python -m worker`, or (`plain_arq`) the fallback `arq worker.main.WorkerSettings`."""
    if plain_arq:
        return Process(name, [str(BIN / "arq"), "worker.main.WorkerSettings"], env, log_dir)
    return Process(name, [sys.executable, "-m", "worker"], env, log_dir)


def wait_log(proc: Process, text: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in proc.log():
            return
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()}")
        time.sleep(0.05)
    raise TimeoutError(f"{proc.name} did not log {text!r} in {timeout}s:\n{proc.log()}")


def ready_worker(
    env: Mapping[str, str], log_dir: Path, name: str = "worker", *, plain_arq: bool = False
) -> Process:
    """A worker, once its first heartbeat is in Redis (whatever LOG_LEVEL says)."""
    proc = worker(env, log_dir, name, plain_arq=plain_arq)
    client = redis.Redis.from_url(env["REDIS_URL"])
    workers = Keys(env.get("REDIS_NAMESPACE", "llm")).workers
    prefix = f"{socket.gethostname()}:{proc.pid}:".encode()
    deadline = time.monotonic() + 30
    try:
        while not any(
            w.startswith(prefix) for w in cast(list[bytes], client.zrange(workers, 0, -1))
        ):
            if proc.proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.proc.returncode}:\n{proc.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} sent no heartbeat in 30 s:\n{proc.log()}")
            time.sleep(0.05)
    finally:
        client.close()
    return proc
