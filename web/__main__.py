"""Run the API: `python -m web` (what the Makefile, the image, compose and Kubernetes run).

    python -m web [--host 127.0.0.1] [--port 8000] [--workers 1] [--reload] [--no-access-log]
                  [--log-level info] [--backlog 2048] [--timeout-graceful-shutdown SECONDS]

It is uvicorn running `web.main:app` on GuardedHttpToolsProtocol (web/server.py): the same app
`uvicorn web.main:app` runs, plus a bound on slow request headers and on open connections.
"""

import argparse
import sys

import uvicorn

from shared.config import get_settings
from web.server import GuardedHttpToolsProtocol


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m web", description="Run the API.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 in images)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    parser.add_argument("--no-access-log", action="store_true", help="uvicorn's access log off")
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--backlog", type=int, default=2048)
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = get_settings()
    uvicorn.run(
        "web.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers if not args.reload else None,
        reload=args.reload,
        http=GuardedHttpToolsProtocol,
        access_log=not args.no_access_log,
        log_level=args.log_level,
        backlog=args.backlog,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        # Idle keep-alive connections are closed after this long (uvicorn's own timer).
        timeout_keep_alive=int(settings.HTTP_KEEPALIVE_SECONDS),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
