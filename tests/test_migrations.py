"""The Alembic scripts: upgrade to head, down to base and up again on a database of their own."""

import asyncio
import uuid

import asyncpg

from tests.conftest import ADMIN_URL, migrate, with_database


async def tables(url: str) -> set[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r["tablename"] for r in rows}
    finally:
        await connection.close()


async def test_migrations_are_reversible():
    name = f"llm_migrate_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(ADMIN_URL, name)
    try:
        await asyncio.to_thread(migrate, url)
        assert "generations" in await tables(url)
        await asyncio.to_thread(migrate, url, "base", down=True)
        assert await tables(url) == {"alembic_version"}
        await asyncio.to_thread(migrate, url)
        assert "generations" in await tables(url)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
