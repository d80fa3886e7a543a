"""`python -m tests.services`: exit 0 if the test PostgreSQL and Redis answer, 1 if not.

`make test` uses it to choose between the services of this machine and containers.
"""

import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULTS = {
    "TEST_DATABASE_ADMIN_URL": ("postgresql://postgres@127.0.0.1:5432/postgres", 5432),
    "TEST_REDIS_URL": ("redis://127.0.0.1:6379/15", 6379),
}


def answers(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def main() -> int:
    missing = [
        name
        for name, (default, port) in DEFAULTS.items()
        if not answers(os.environ.get(name, default), port)
    ]
    for name in missing:
        print(f"no answer from {name}={os.environ.get(name, DEFAULTS[name][0])}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
