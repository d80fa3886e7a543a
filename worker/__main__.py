"""Run a worker: `python -m worker` (what the Makefile, the image, compose and Kubernetes run).

    python -m worker                 a worker, until SIGTERM (running jobs drain first)
    python -m worker --check         exit 0 if this host's worker recorded its health recently
    python -m worker --watch DIR     restart the worker whenever a file under DIR changes (dev)

It builds GatewayWorker (worker/arq_worker.py) from WorkerSettings the way arq's own
`create_worker` builds arq's Worker. `arq worker.main.WorkerSettings` still runs the same
settings on plain arq, the slower fallback.
"""

import argparse
import logging
import sys
from typing import Any, cast

from arq.worker import check_health, get_kwargs

from shared.config import get_settings


def run() -> None:
    # Imported here: worker.main installs uvloop and reads the settings when it is imported.
    from worker.arq_worker import GatewayWorker
    from worker.main import WorkerSettings

    settings = get_settings()
    kwargs: dict[str, Any] = get_kwargs(cast(Any, WorkerSettings))
    worker = GatewayWorker(settings=settings, **kwargs)
    worker.run()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m worker", description="Run a worker.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="health check of this host's worker")
    mode.add_argument("--watch", metavar="DIR", help="restart on changes under DIR")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.check:
        from worker.main import WorkerSettings

        logging.basicConfig(level=logging.INFO)
        return check_health(cast(Any, WorkerSettings))
    if args.watch:
        from watchfiles import run_process

        run_process(args.watch, target=run)
        return 0
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
