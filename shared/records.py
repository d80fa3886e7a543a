"""Generation records on the hot path: the typed row, and its batched writes (web and worker).

A row is a GenerationRow built from the GenerationJob, never a dict: a misspelt field raises
instead of writing NULL, and tests/shared/test_records.py checks that its fields are the table's
columns. Each kind of write has its own GroupCommit: a burst of requests costs one executemany,
not a transaction each. They run on a small asyncpg pool of their own (see BatchStatement for
the measured reason); reads and the rare writes of cancellations go through SQLAlchemy sessions.
Callers that need the row to exist (the web process, before it answers) await the write; the
worker's "started" does not wait.
"""

import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from shared.batching import GroupCommit
from shared.jobs import GenerationJob
from shared.models import GenerationStatus
from shared.services.generations import (
    INSERT_QUEUED,
    SWEEP_OPEN,
    UPSERT_OUTCOME,
    UPSERT_RUNNING,
    BatchStatement,
)
from shared.text import storable

log = logging.getLogger(__name__)


@dataclasses.dataclass(slots=True, kw_only=True)
class GenerationRow:
    """Every column of a `generations` row. The worker's writes are upserts of the whole row,
    since they may land before the web process's insert."""

    id: uuid.UUID
    api_key_id: uuid.UUID | None
    status: str
    llm_model: str
    stream: bool
    prompt: str | None
    queued_at: datetime
    end_user: str | None = None
    kind: str = "generate"
    response: str | None = None
    thinking: str | None = None
    tool_calls: str | None = None  # JSON text (asyncpg writes jsonb from text)
    input_count: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    done_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    chunk_count: int = 0
    attempts: int = 0
    worker_id: str | None = None
    started_at: datetime | None = None
    first_token_at: datetime | None = None
    finished_at: datetime | None = None
    total_duration_ns: int | None = None
    load_duration_ns: int | None = None
    prompt_eval_duration_ns: int | None = None
    eval_duration_ns: int | None = None

    @classmethod
    def of(cls, job: GenerationJob, status: GenerationStatus, **fields: Any) -> "GenerationRow":
        """The row of `job` in `status`, with what the job itself says; `fields` add the rest."""
        return cls(
            id=uuid.UUID(job.generation_id),
            api_key_id=uuid.UUID(job.api_key_id) if job.api_key_id else None,
            status=status.value,
            llm_model=job.llm_model,
            stream=job.stream,
            prompt=job.prompt if job.store_content else None,
            queued_at=datetime.fromtimestamp(job.queued_at, UTC),
            end_user=job.end_user,
            kind=job.kind,
            **fields,
        )


async def _no_reset(connection: asyncpg.Connection) -> None:
    return None


def asyncpg_dsn(database_url: str) -> str:
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


Write = Callable[[list[GenerationRow]], Awaitable[list[Exception | None] | None]]


@dataclasses.dataclass(slots=True)
class _Sweep:
    before: datetime
    now: datetime


def _storable(value: Any) -> Any:
    return storable(value) if isinstance(value, str) else value


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

    async def sweep(self, *, older_than_s: float) -> int:
        """Close every record still open that was queued more than `older_than_s` ago: nothing
        can still be running it. How many it closed."""
        assert self._pool is not None, "start() first"
        now = datetime.now(UTC)
        args = SWEEP_OPEN.args([_Sweep(now - timedelta(seconds=older_than_s), now)])[0]
        async with self._pool.acquire(timeout=10) as connection:
            status = await connection.execute(SWEEP_OPEN.sql, *args)
        return int(status.rsplit(" ", 1)[-1])

    async def insert(self, row: GenerationRow) -> None:
        await self._inserts.commit(row)

    def running(self, row: GenerationRow) -> None:
        self._running.add(row)

    async def outcome(self, row: GenerationRow) -> None:
        await self._outcomes.commit(row)

    def _writer(self, statement: BatchStatement) -> Write:
        async def write(rows: list[GenerationRow]) -> list[Exception | None] | None:
            assert self._pool is not None, "start() first"
            args = [tuple(_storable(v) for v in row) for row in statement.args(rows)]
            async with self._pool.acquire(timeout=10) as connection:
                try:
                    await connection.executemany(statement.sql, args)  # atomic: all or none
                    return None
                except asyncpg.PostgresError:
                    if len(args) == 1:
                        raise
                # One request's bad row must not fail the others of its batch: row by row,
                # only the bad one fails.
                results: list[Exception | None] = []
                for one in args:
                    try:
                        await connection.executemany(statement.sql, [one])
                        results.append(None)
                    except asyncpg.PostgresError as e:
                        log.warning("a generation record could not be written: %r", e)
                        results.append(e)
                return results

        return write
