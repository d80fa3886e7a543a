"""Batched writes of generation records, shared by the web process and the worker.

Each kind of write has its own GroupCommit, so a burst of requests costs one INSERT statement
and one transaction, not one each. Callers that need the row to exist (the web process before it
enqueues) await the write; callers that do not (the worker's "started") do not.
"""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.batching import GroupCommit
from shared.db import transaction
from shared.services import generations


class RecordWriter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._inserts = GroupCommit(self._insert, name="generations.insert")
        self._running = GroupCommit(self._mark_running, name="generations.running")
        self._outcomes = GroupCommit(self._record_outcomes, name="generations.outcome")

    def start(self) -> None:
        for writer in (self._inserts, self._running, self._outcomes):
            writer.start()

    async def aclose(self) -> None:
        for writer in (self._inserts, self._running, self._outcomes):
            await writer.aclose()

    async def insert(self, row: dict[str, Any]) -> None:
        await self._inserts.commit(row)

    def running(self, row: dict[str, Any]) -> None:
        self._running.add(row)

    async def outcome(self, row: dict[str, Any]) -> None:
        # An outcome row repeats the start's columns: the two writers flush independently, and
        # the "running" update never touches a row that is final already.
        await self._outcomes.commit(row)

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        async with transaction(self._sessions) as session:
            await generations.insert_generations(session, rows=rows)

    async def _mark_running(self, rows: list[dict[str, Any]]) -> None:
        async with transaction(self._sessions) as session:
            await generations.mark_running(session, rows=rows)

    async def _record_outcomes(self, rows: list[dict[str, Any]]) -> None:
        async with transaction(self._sessions) as session:
            await generations.record_outcomes(session, rows=rows)
