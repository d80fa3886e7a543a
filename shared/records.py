"""Batched writes of generation records, shared by the web process and the worker.

Each kind of write has its own GroupCommit: a burst of requests costs one executemany, not a
transaction each. They run on a small asyncpg pool of their own (see BatchStatement for the
measured reason); reads and the rare writes of cancellations go through SQLAlchemy sessions.
Callers that need the row to exist (the web process, before it answers) await the write; the
worker's "started" does not wait.
"""

from typing import Any

import asyncpg

from shared.batching import GroupCommit
from shared.services.generations import (
    INSERT_QUEUED,
    UPSERT_OUTCOME,
    UPSERT_RUNNING,
    BatchStatement,
)


async def _no_reset(connection: asyncpg.Connection) -> None:
    return None


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class RecordWriter:
    def __init__(self, database_url: str, *, pool_size: int = 2) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._inserts = GroupCommit(self._writer(INSERT_QUEUED), name="generations.insert")
        self._running = GroupCommit(self._writer(UPSERT_RUNNING), name="generations.running")
        self._outcomes = GroupCommit(self._writer(UPSERT_OUTCOME), name="generations.outcome")

    async def start(self) -> None:
        # Lazily connected: a process starts even while PostgreSQL is still coming up.
        self._pool = asyncpg.create_pool(
            self._dsn,
            min_size=0,
            max_size=self._pool_size,
            command_timeout=10,
            timeout=5,  # to connect
            # These connections only ever run the statements below, so there is no session
            # state to reset: asyncpg's default reset is a round trip per release.
            reset=_no_reset,
        )
        await self._pool
        for writer in (self._inserts, self._running, self._outcomes):
            writer.start()

    async def aclose(self) -> None:
        for writer in (self._inserts, self._running, self._outcomes):
            await writer.aclose()
        if self._pool is not None:
            await self._pool.close()

    async def insert(self, row: dict[str, Any]) -> None:
        await self._inserts.commit(row)

    def running(self, row: dict[str, Any]) -> None:
        self._running.add(row)

    async def outcome(self, row: dict[str, Any]) -> None:
        await self._outcomes.commit(row)

    def _writer(self, statement: BatchStatement) -> Any:
        async def write(rows: list[dict[str, Any]]) -> None:
            assert self._pool is not None, "start() first"
            async with self._pool.acquire(timeout=10) as connection:
                await connection.executemany(statement.sql, statement.args(rows))

        return write
