"""`make demo` end to end (devstack/): on free ports, with a database and a Redis namespace of its
own, it prints a curl line that works as pasted, `make cli` shares its settings, every process
listens on 127.0.0.1 only, and Ctrl-C stops them all with nothing on stderr."""

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from tests import processes
from tests.conftest import ADMIN_URL, REDIS_URL, namespace, with_database

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine"),
    pytest.mark.skipif(shutil.which("curl") is None, reason="no curl to paste the line into"),
]

KEY = f"the-demo-tests-master-key-{uuid.uuid4().hex}"


@pytest.fixture
async def demo_database() -> AsyncIterator[str]:
    """The URL of a database `make demo` creates itself; dropped afterwards."""
    name = f"llm_test_demo_{uuid.uuid4().hex[:10]}"
    yield with_database(ADMIN_URL, name)
    admin = await asyncpg.connect(ADMIN_URL.replace("+asyncpg", ""))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """What `make setup` makes of .env.dev.example, with a master key the test knows."""
    text = (processes.ROOT / ".env.dev.example").read_text()
    path = tmp_path / ".env.dev"
    path.write_text(text.replace("change-me-master-key", KEY))
    return path


def make(target: str, *variables: str) -> list[str]:
    # `-o .venv/.installed`: the suite already runs in the installed dependencies, and a stale
    # stamp must not reinstall them under the tests. VENV: wherever this interpreter lives.
    return ["make", "-s", "-o", ".venv/.installed", target, f"VENV={processes.BIN}", *variables]


class Lines:
    """A pipe's lines, read as they come."""

    def __init__(self, pipe) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(pipe,), daemon=True).start()

    def _read(self, pipe) -> None:
        for line in iter(pipe.readline, ""):
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, starts: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if line is None:
                break
            self.seen.append(line)
            if line.startswith(starts):
                return line
        raise AssertionError(f"no line starting {starts!r}:\n" + "\n".join(self.seen))

    def rest(self, timeout: float = 10) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            if line is None:
                break
            self.seen.append(line)
        return self.seen


@pytest.fixture
def demo(env_file: Path, demo_database: str) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """`make demo` as a terminal runs it (its own process group), and its make variables."""
    variables = [
        f"RUN_ENV_FILE={env_file}",
        f"RUN_DATABASE_URL={demo_database}",
        f"RUN_REDIS_URL={REDIS_URL}",
        f"RUN_PORT={processes.free_port()}",
        f"SIM_PORT={processes.free_port()}",
    ]
    proc = subprocess.Popen(
        make("demo", *variables),
        cwd=processes.ROOT,
        env={
            **os.environ,
            "REDIS_NAMESPACE": namespace("demo"),
            "WORKER_METRICS_PORT": str(processes.free_port()),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc, variables
    finally:
        for child in (
            psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []
        ):
            child.kill()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def paste(line: str) -> str:
    result = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_demo_prints_a_line_that_works_and_stops_cleanly_on_ctrl_c(demo):
    proc, variables = demo
    out = Lines(proc.stdout)
    curl = out.until("curl ", timeout=90)
    assert f"Bearer {KEY}" in curl
    answer = paste(curl)
    assert '"response":' in answer and '"id":' in answer

    # `make cli` reaches the same database with the same secrets: its key works in the line.
    made = subprocess.run(
        make("cli", 'ARGS=keys create --name "pasted line"', *variables),
        cwd=processes.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0 and made.stderr == "", made.stderr
    key = made.stdout.splitlines()[0]
    assert key.startswith("llm_")
    assert '"response":' in paste(curl.replace(KEY, key))

    children = psutil.Process(proc.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "-m web" in names and "-m worker" in names and "-m simulator" in names
    listening = [
        c.laddr for p in children for c in p.net_connections("inet") if c.status == "LISTEN"
    ]
    assert len(listening) >= 3 and {a.ip for a in listening} == {"127.0.0.1"}  # metrics too

    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals its foreground group
    proc.wait(timeout=30)
    lines = out.rest()
    assert proc.stderr.read() == ""
    assert lines[-1] == "devstack | stopped"
    # make itself ends as Ctrl-C ends it, without a word: its recipe exited 0.
    assert proc.returncode == -signal.SIGINT
    _, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []


def test_the_devstack_cli_needs_no_docker_host(env_file, demo_database):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devstack",
            "--env-file",
            str(env_file),
            "--database-url",
            demo_database,
            "cli",
            "create-database",
        ],
        cwd=processes.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "created database" in result.stdout


def test_a_port_in_use_is_named_before_anything_starts(env_file, demo_database):
    # Otherwise the ready check could get its answer from whatever listens there.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "devstack",
                "--env-file",
                str(env_file),
                "--database-url",
                demo_database,
                "run",
                "--simulator",
                "--port",
                str(port),
            ],
            cwd=processes.ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and f"RUN_PORT={port}" in result.stderr
    assert result.stdout == ""
