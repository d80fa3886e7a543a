"""Administrative commands: `python -m web.cli --help`."""

import argparse
import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url

from shared.config import get_settings


async def create_database() -> str:
    """Create the database DATABASE_URL names, if it does not exist yet."""
    url = make_url(get_settings().database_url)
    name = url.database or ""
    server = url.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return f"database {name!r} exists"
        await connection.execute(f'CREATE DATABASE "{name}"')
        return f"created database {name!r}"
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create-database", help=create_database.__doc__)
    args = parser.parse_args(argv)
    if args.command == "create-database":
        print(asyncio.run(create_database()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
