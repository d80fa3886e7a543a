"""Administrative commands: `python -m web.cli --help`.

python -m web.cli keys create --name NAME [--rpm N] [--concurrency N] [--admin]   prints the key
python -m web.cli keys list
python -m web.cli keys revoke ID_OR_PREFIX
python -m web.cli create-database [--drop]
"""

import argparse
import asyncio
import sys

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from shared.config import get_settings
from shared.db import create_engine, create_sessionmaker, transaction
from shared.services import api_keys
from web.auth import announce_revocation


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


async def keys(args: argparse.Namespace) -> str:
    settings = get_settings()
    engine = create_engine(settings, pool_size=1)
    sessions = create_sessionmaker(engine)
    try:
        async with transaction(sessions) as session:
            if args.action == "create":
                row, key = await api_keys.create_key(
                    session,
                    secret=settings.API_KEY_HASH_SECRET.get_secret_value(),
                    name=args.name,
                    rate_limit_rpm=args.rpm,
                    concurrency_limit=args.concurrency,
                    is_admin=args.admin,
                )
                return f"{key}\n# key {row.id} ({row.name}); shown once, store it now"
            if args.action == "list":
                rows = await api_keys.list_keys(session)
                return (
                    "\n".join(
                        f"{r.id}  {r.prefix}…  {r.name!r}  created {r.created_at:%Y-%m-%d %H:%M}"
                        f"  last used {r.last_used_at or '-'}"
                        f"  {'REVOKED ' + str(r.revoked_at) if r.revoked_at else 'active'}"
                        for r in rows
                    )
                    or "no keys"
                )
            found = await api_keys.find_key(session, key=args.key)
            if found is None:
                raise SystemExit(f"no single key matches {args.key!r}")
            await api_keys.revoke_key(session, key_id=found.id)
        redis = Redis.from_url(settings.redis_url)
        try:
            await announce_revocation(redis, settings.keys, found.id)
        finally:
            await redis.aclose()
        return f"revoked {found.id} ({found.name})"
    finally:
        await engine.dispose()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m web.cli", description="Administrative commands.")
    commands = root.add_subparsers(dest="command", required=True)
    create_db = commands.add_parser("create-database", help=create_database.__doc__)
    create_db.add_argument("--drop", action="store_true", help="drop it first (all data is lost)")
    key_commands = commands.add_parser("keys", help="API keys").add_subparsers(
        dest="action", required=True
    )
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--rpm", type=int, help="requests per minute (0: unlimited)")
    create.add_argument("--concurrency", type=int, help="generations at once (0: unlimited)")
    create.add_argument(
        "--admin",
        action="store_true",
        help="may set what changes Ollama for everyone (keep_alive, num_ctx, num_gpu, ...)",
    )
    key_commands.add_parser("list", help="list the keys (never the keys themselves)")
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key", help="the key's id, or its shown prefix")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "create-database":
        print(asyncio.run(create_database(drop=args.drop)))
    else:
        print(asyncio.run(keys(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
