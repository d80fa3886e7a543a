"""Administrative commands: `python -m web.cli --help`.

python -m web.cli keys create --name NAME [--rpm N] [--concurrency N] [--tokens-per-day N]
    [--tokens-per-month N] [--end-user-rpm N] [--end-user-concurrency N] [--weight N]
    [--priority interactive|standard|batch] [--admin]                       prints the key
python -m web.cli keys list
python -m web.cli keys update ID_OR_PREFIX [the settings of create]
python -m web.cli keys revoke ID_OR_PREFIX
python -m web.cli create-database [--drop]
"""

import argparse
import asyncio
import sys
from typing import Any

import asyncpg
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from shared.config import get_settings
from shared.db import create_engine, create_sessionmaker, transaction
from shared.models import ApiKey
from shared.services import api_keys
from web.auth import announce_key_change
from web.routes.keys import KeySettings


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


SETTING_FLAGS = {
    "rate_limit_rpm": "rpm",
    "concurrency_limit": "concurrency",
    "tokens_per_day": "tokens_per_day",
    "tokens_per_month": "tokens_per_month",
    "end_user_rate_limit_rpm": "end_user_rpm",
    "end_user_concurrency_limit": "end_user_concurrency",
    "weight": "weight",
    "priority": "priority",
}


def key_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, checked as POST /api/v1/keys checks them."""
    given = {name: getattr(args, flag) for name, flag in SETTING_FLAGS.items()}
    try:
        checked = KeySettings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in e.errors())
        raise SystemExit(f"invalid key settings: {problems}") from None
    return checked.model_dump(exclude_unset=True)


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
                    is_admin=args.admin,
                    settings=key_settings(args),
                )
                return f"{key}\n# key {row.id} ({row.name}); shown once, store it now"
            if args.action == "list":
                rows = await api_keys.list_keys(session)
                return (
                    "\n".join(
                        f"{r.id}  {r.prefix}…  {r.name!r}  created {r.created_at:%Y-%m-%d %H:%M}"
                        f"  last used {r.last_used_at or '-'}"
                        f"  {'REVOKED ' + str(r.revoked_at) if r.revoked_at else 'active'}"
                        f"  {describe(r)}"
                        for r in rows
                    )
                    or "no keys"
                )
            found = await api_keys.find_key(session, key=args.key)
            if found is None:
                raise SystemExit(f"no single key matches {args.key!r}")
            if args.action == "update":
                changes = key_settings(args)
                if not changes:
                    raise SystemExit("nothing to change: give at least one setting")
                await api_keys.update_key(session, key_id=found.id, settings=changes)
                done = f"updated {found.id} ({found.name}): {describe(found)}"
            else:
                await api_keys.revoke_key(session, key_id=found.id)
                done = f"revoked {found.id} ({found.name})"
        redis = Redis.from_url(settings.redis_url)
        try:
            await announce_key_change(redis, settings.keys, found.id)
        finally:
            await redis.aclose()
        return done
    finally:
        await engine.dispose()


def describe(row: ApiKey) -> str:
    """A key's own settings (those not left to the defaults), as `name=value` pairs."""
    shown = [
        f"{name}={getattr(row, name)}"
        for name in SETTING_FLAGS
        if name not in ("weight", "priority") and getattr(row, name) is not None
    ]
    if row.weight != 1:
        shown.append(f"weight={row.weight}")
    if row.priority != "standard":
        shown.append(f"priority={row.priority}")
    if row.is_admin:
        shown.append("admin")
    return " ".join(shown) or "defaults"


def _add_settings(command: argparse.ArgumentParser) -> None:
    command.add_argument("--rpm", type=int, help="requests per minute (0: unlimited)")
    command.add_argument("--concurrency", type=int, help="generations at once (0: unlimited)")
    command.add_argument("--tokens-per-day", type=int, help="token budget a UTC day (0: none)")
    command.add_argument("--tokens-per-month", type=int, help="token budget a UTC month (0: none)")
    command.add_argument("--end-user-rpm", type=int, help="requests per minute of each end user")
    command.add_argument("--end-user-concurrency", type=int, help="at once, per end user")
    command.add_argument("--weight", type=int, help="its share of the queue (default 1)")
    command.add_argument(
        "--priority", choices=("interactive", "standard", "batch"), help="default standard"
    )


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
    _add_settings(create)
    create.add_argument(
        "--admin",
        action="store_true",
        help="may set what changes Ollama for everyone (keep_alive, num_ctx, num_gpu, ...)",
    )
    key_commands.add_parser("list", help="list the keys (never the keys themselves)")
    update = key_commands.add_parser("update", help="change a key's limits, budgets or priority")
    update.add_argument("key", help="the key's id, or its shown prefix")
    _add_settings(update)
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
