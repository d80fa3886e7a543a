"""Administrative commands: `python -m web.cli --help`."""

import argparse
import asyncio
import sys

import asyncpg
from sqlalchemy.engine import make_url

from shared.config import get_settings


async def create_database(*, drop: bool = False) -> str:
    """Create the database DATABASE_URL names, if it does not exist yet (`--drop`: anew)."""
    url = make_url(get_settings().database_url)
    name = url.database or ""
    server = url.set(drivername="postgresql", database="postgres")
    connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        if drop:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
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
    create = commands.add_parser("create-database", help=create_database.__doc__)
    create.add_argument("--drop", action="store_true", help="drop it first (all data is lost)")
    args = parser.parse_args(argv)
    if args.command == "create-database":
        print(asyncio.run(create_database(drop=args.drop)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
