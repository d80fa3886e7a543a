"""The processes `make run` starts: their output relayed under their names, all of them stopped
on Ctrl-C, in the reverse order of their start."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import IO

from devstack.environment import ROOT

# What a process gets between SIGTERM and SIGKILL. uvicorn closes open streams after its
# --timeout-graceful-shutdown; a worker lets a running generation finish first.
STOP_SECONDS = 10.0


class Output:
    """Every line of every process on this one's stdout, after the process's name; nothing on
    stderr, which is for this launcher's own failures."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        # `make demo | head`: the reader left, the stack still runs.
        with self._lock, contextlib.suppress(BrokenPipeError):
            print(text, flush=True)

    def relay(self, name: str, pipe: IO[bytes]) -> None:
        for raw in iter(pipe.readline, b""):
            self.line(f"{name:<9}| {raw.decode(errors='replace').rstrip()}")
        pipe.close()


class Child:
    """One process, in a session of its own."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], out: Output) -> None:
        self.name = name
        # Ctrl-C signals the terminal's whole foreground process group. In sessions of their own
        # the children hear only the supervisor, which stops them one by one: otherwise the API
        # and a worker would each start their own shutdown while the other still needs them.
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self._relay = threading.Thread(
            target=out.relay, args=(name, self.proc.stdout), name=f"relay-{name}", daemon=True
        )
        self._relay.start()

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def signal(self, signum: int) -> None:
        """Signal the child's whole process group (its own children too)."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):  # it just ended
                os.killpg(self.proc.pid, signum)

    def wait(self, timeout: float | None) -> bool:
        """True once the child exited (and its output is relayed), False after `timeout`."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        self._relay.join(2.0)
        return True


class StepFailed(Exception):
    """A preparation step (creating the database, migrating it) exited with an error."""


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM, SIGHUP) before the stack was up."""


class Supervisor:
    """Starts processes, notices one that exits, stops them all once (a second Ctrl-C kills)."""

    def __init__(self, env: Mapping[str, str], out: Output) -> None:
        self.env = dict(env)
        self.out = out
        self.children: list[Child] = []
        self.stopping = threading.Event()
        self._killing = False

    def handle_signals(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping.is_set():
            self._killing = True
            for child in self.children:
                child.signal(signal.SIGKILL)
        self.stopping.set()

    def step(self, name: str, args: list[str]) -> None:
        """Run a preparation step to its end (its output relayed); StepFailed if it fails,
        Interrupted (the step stopped) on Ctrl-C."""
        child = Child(name, args, self.env, self.out)
        while not child.wait(0.2):
            if self.stopping.is_set():
                child.signal(signal.SIGTERM)
                if not child.wait(STOP_SECONDS):
                    child.signal(signal.SIGKILL)
                    child.wait(None)
                raise Interrupted
        if child.proc.returncode != 0:
            raise StepFailed(f"{name} exited with {child.proc.returncode}")

    def start(self, name: str, args: list[str]) -> Child:
        child = Child(name, args, self.env, self.out)
        self.children.append(child)
        return child

    def exited(self) -> Child | None:
        """The first process that ended by itself, if any."""
        return next((c for c in self.children if not c.running), None)

    def stop(self) -> None:
        """SIGTERM to each process, the last started first; SIGKILL after STOP_SECONDS."""
        for child in reversed(self.children):
            child.signal(signal.SIGTERM)
            if not child.wait(STOP_SECONDS) and not self._killing:
                self.out.line(f"{child.name} did not stop in {STOP_SECONDS:.0f} s: killed")
            child.signal(signal.SIGKILL)
            child.wait(STOP_SECONDS)


def python(*args: str) -> list[str]:
    """A command run by this interpreter (the project's virtualenv under `make`)."""
    return [sys.executable, *args]
