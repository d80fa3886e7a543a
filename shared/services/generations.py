"""All SQL about generations. Keyword-only async functions; the caller commits.

The write functions take many rows at once: web and worker batch them through a GroupCommit
(see shared/records.py). A final status is written once: the first writer wins, so a late
"succeeded" never overwrites a "cancelled".
"""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Generation, GenerationStatus

OPEN_STATUSES = (GenerationStatus.QUEUED.value, GenerationStatus.RUNNING.value)

OUTCOME_FIELDS = (
    "status",
    "started_at",
    "worker_id",
    "attempts",
    "response",
    "error_type",
    "error_message",
    "done_reason",
    "prompt_tokens",
    "completion_tokens",
    "chunk_count",
    "first_token_at",
    "finished_at",
    "total_duration_ns",
    "load_duration_ns",
    "prompt_eval_duration_ns",
    "eval_duration_ns",
)


async def insert_generations(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Create queued generations; each row holds the Generation columns by name."""
    await session.execute(insert(Generation).on_conflict_do_nothing(), list(rows))


async def mark_running(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of `id`, `started_at`, `worker_id`, `attempts`; only still-open generations change."""
    table = Generation.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status.in_(OPEN_STATUSES))
        .values(
            status=GenerationStatus.RUNNING.value,
            started_at=bindparam("started_at"),
            worker_id=bindparam("worker_id"),
            attempts=bindparam("attempts"),
        )
    )
    connection = await session.connection()
    await connection.execute(stmt, [{**row, "b_id": row["id"]} for row in rows])


async def record_outcomes(session: AsyncSession, *, rows: Sequence[dict[str, Any]]) -> None:
    """Rows of `id` and every OUTCOME_FIELDS name; generations already final are left alone."""
    table = Generation.__table__
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.status.in_(OPEN_STATUSES))
        .values({name: bindparam(name) for name in OUTCOME_FIELDS})
    )
    params = [
        {**{name: row.get(name) for name in OUTCOME_FIELDS}, "b_id": row["id"]} for row in rows
    ]
    connection = await session.connection()
    await connection.execute(stmt, params)


async def get_generation(session: AsyncSession, *, generation_id: uuid.UUID) -> Generation | None:
    return await session.get(Generation, generation_id)


async def finish_open(
    session: AsyncSession,
    *,
    generation_id: uuid.UUID,
    status: GenerationStatus,
    error_type: str,
    error_message: str,
    finished_at: Any,
    only_queued: bool = False,
) -> bool:
    """End a generation no worker will finish (cancelled in the queue, worker lost, timed out).

    Returns whether the row changed: False if it was final already (or running, with
    `only_queued`), in which case whoever holds it records the outcome.
    """
    table = Generation.__table__
    allowed = (GenerationStatus.QUEUED.value,) if only_queued else OPEN_STATUSES
    stmt = (
        update(table)
        .where(table.c.id == generation_id, table.c.status.in_(allowed))
        .values(
            status=status.value,
            error_type=error_type,
            error_message=error_message,
            finished_at=finished_at,
        )
    )
    result = await session.execute(stmt)
    return bool(result.rowcount)
