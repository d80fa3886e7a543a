"""`python -m devstack run [--simulator]`, `python -m devstack cli ARGS...` (see the package).

The locations default to the RUN_* variables of the environment (which `make run RUN_PORT=8080`
sets), else to this machine's usual ports.
"""

import argparse
import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pydantic import ValidationError

from devstack import environment
from devstack.environment import ROOT, EnvFileMissing, Locations
from devstack.supervisor import Interrupted, Output, StepFailed, Supervisor, python

BIN = Path(sys.executable).parent
# How long the stack may take to be ready before the launcher says what it still waits for (a
# real Ollama may still be loading its model).
QUIET_WAIT_SECONDS = 10.0
# The launcher's own requests to the API: never through an HTTP proxy of the environment.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def env_default(name: str, default: str) -> str:
    return os.environ.get(name) or default


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m devstack", description="The stack on this machine, without Docker."
    )
    root.add_argument(
        "--env-file",
        type=Path,
        default=Path(env_default("RUN_ENV_FILE", ".env.dev")),
        help="the settings (RUN_ENV_FILE; default .env.dev, which `make setup` writes)",
    )
    root.add_argument(
        "--database-url",
        default=env_default("RUN_DATABASE_URL", Locations.database_url),
        help="PostgreSQL (RUN_DATABASE_URL); the database is created if it is missing",
    )
    root.add_argument(
        "--redis-url",
        default=env_default("RUN_REDIS_URL", Locations.redis_url),
        help="Redis (RUN_REDIS_URL)",
    )
    root.add_argument(
        "--ollama-url",
        default=env_default("RUN_OLLAMA_URL", Locations.ollama_url),
        help="Ollama (RUN_OLLAMA_URL); ignored with --simulator",
    )
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="the API and a worker, until Ctrl-C")
    run.add_argument("--port", type=int, default=int(env_default("RUN_PORT", "8000")))
    run.add_argument("--simulator", action="store_true", help="with the Ollama simulator")
    run.add_argument("--sim-port", type=int, default=int(env_default("SIM_PORT", "11434")))
    run.add_argument("--sim-rate", type=float, default=float(env_default("SIM_RATE", "30")))
    cli = commands.add_parser("cli", help="python -m web.cli with the same settings")
    cli.add_argument("args", nargs=argparse.REMAINDER, help="e.g. keys create --name alice")
    return root


def locations(args: argparse.Namespace) -> Locations:
    simulated = getattr(args, "simulator", False)
    ollama = f"http://127.0.0.1:{args.sim_port}" if simulated else args.ollama_url
    return Locations(args.database_url, args.redis_url, ollama)


def not_ready(base: str) -> list[str] | None:
    """None if /readyz says ready, else what it names as failing (`api`: no answer yet)."""
    try:
        with LOCAL.open(f"{base}/readyz", timeout=2) as answer:
            return None if answer.status == 200 else ["api"]
    except urllib.error.HTTPError as e:
        try:
            return list(json.loads(e.read())["failing"]) or ["api"]
        except (ValueError, KeyError, TypeError):
            return ["api"]
    except (OSError, urllib.error.URLError):
        return ["api"]


def wait_ready(base: str, supervisor: Supervisor, out: Output) -> bool:
    """True once the stack is ready; False if a process exits or Ctrl-C comes first."""
    started, reported = time.monotonic(), None
    while not supervisor.stopping.is_set() and supervisor.exited() is None:
        failing = not_ready(base)
        if failing is None:
            return True
        if time.monotonic() - started > QUIET_WAIT_SECONDS and failing != reported:
            out.line(f"devstack | not ready yet, waiting for: {', '.join(failing)} ({base}/readyz)")
            reported = failing
        supervisor.stopping.wait(0.25)
    return False


def demo_key(env: dict[str, str]) -> str:
    """The master key of the settings; without one, a key made for the demo."""
    settings = environment.settings_of(env)
    if settings.MASTER_API_KEY is not None and settings.MASTER_API_KEY.get_secret_value():
        return settings.MASTER_API_KEY.get_secret_value()
    made = subprocess.run(
        python("-m", "web.cli", "keys", "create", "--name", "demo"),
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return made.stdout.splitlines()[0].strip()


def ready_text(base: str, key: str) -> str:
    """The lines to copy: a request that works as it is pasted."""
    curl = " ".join(
        [
            "curl",
            f"{base}/api/v1/generate",
            "-H",
            shlex.quote(f"Authorization: Bearer {key}"),
            "-H",
            shlex.quote("Content-Type: application/json"),
            "-d",
            shlex.quote(json.dumps({"prompt": "Why is the sky blue?"})),
        ]
    )
    return (
        f"\nReady: the API on {base} (playground {base}/ui, API docs {base}/docs)."
        f" Try it:\n\n{curl}\n\nCtrl-C stops everything.\n"
    )


def start(supervisor: Supervisor, args: argparse.Namespace) -> None:
    supervisor.step("database", python("-m", "web.cli", "create-database"))
    supervisor.step("migrate", [str(BIN / "alembic"), "upgrade", "head"])
    if args.simulator:
        models = environment.settings_of(supervisor.env).allowed_models
        supervisor.start(
            "simulator",
            python(
                "-m",
                "simulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(args.sim_port),
                "--rate",
                str(args.sim_rate),
                *(arg for model in models for arg in ("--model", model)),
            ),
        )
    supervisor.start("worker", python("-m", "worker"))
    supervisor.start(
        "api",
        python(
            "-m",
            "web",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--no-access-log",  # the API logs every request itself (web/ops/access_log.py)
            "--timeout-graceful-shutdown",
            "3",
        ),
    )


def taken_port(args: argparse.Namespace) -> str | None:
    """The first port the stack needs that something else listens on: a ready answer from it
    would be that other server's."""
    wanted = [("RUN_PORT", args.port)] + ([("SIM_PORT", args.sim_port)] if args.simulator else [])
    for name, port in wanted:
        with socket.socket() as probe:
            # As uvicorn binds: a port whose last connections linger in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return f"{name}={port}"
    return None


def run(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Start the stack, print the ready line, stop it all on Ctrl-C (exit 0) or when one
    process ends by itself (exit 1)."""
    taken = taken_port(args)
    if taken is not None:
        print(
            f"devstack: 127.0.0.1 is already listening on {taken}; stop that or choose another"
            f" (make demo {taken.split('=')[0]}=...)",
            file=sys.stderr,
        )
        return 1
    out = Output()
    supervisor = Supervisor(env, out)
    supervisor.handle_signals()
    base = f"http://127.0.0.1:{args.port}"
    try:
        start(supervisor, args)
        if wait_ready(base, supervisor, out):
            out.line(ready_text(base, demo_key(env)))
        while not supervisor.stopping.wait(0.5):
            ended = supervisor.exited()
            if ended is not None:
                print(f"devstack: {ended.name} exited ({ended.proc.returncode})", file=sys.stderr)
                return 1
        out.line("devstack | stopping")
        return 0
    except StepFailed as e:
        print(f"devstack: {e}; nothing else was started", file=sys.stderr)
        return 1
    except Interrupted:
        return 0
    finally:
        supervisor.stop()
        out.line("devstack | stopped")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env_file = args.env_file if args.env_file.is_absolute() else ROOT / args.env_file
    try:
        env = environment.build(env_file, locations(args))
        environment.settings_of(env)
    except EnvFileMissing as e:
        print(f"devstack: {e}", file=sys.stderr)
        return 1
    except ValidationError as e:
        print(f"devstack: the settings of {env_file} are invalid:\n{e}", file=sys.stderr)
        return 1
    if args.command == "cli":
        os.chdir(ROOT)
        # Replaced by web.cli itself: its output, its exit status and Ctrl-C are its own.
        os.execve(sys.executable, python("-m", "web.cli", *args.args), env)
    return run(args, env)


if __name__ == "__main__":
    sys.exit(main())
