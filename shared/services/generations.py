"""All SQL about generations. Keyword-only async functions; the caller commits.

The hot-path writes are batch statements that shared/records.py runs through a GroupCommit. A
final status is written once: the first writer wins, so a late "succeeded" never overwrites a
"cancelled".
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import (
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from shared.models import Generation, GenerationStatus
from shared.stream import Produced
from shared.text import storable

OPEN_STATUSES = (GenerationStatus.QUEUED.value, GenerationStatus.RUNNING.value)
TABLE = cast(Table, Generation.__table__)

# Columns a worker's upsert sets when the row is already there (the web process inserted it).
RUNNING_FIELDS = ("status", "started_at", "worker_id", "attempts")
OUTCOME_FIELDS = (
    *RUNNING_FIELDS,
    "response",
    "thinking",
    "tool_calls",
    "input_count",
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


@dataclass(frozen=True, slots=True)
class BatchStatement:
    """A statement compiled once for asyncpg's executemany, and the order of its parameters.

    The hot path writes through asyncpg directly: measured here, a SQLAlchemy async session
    costs ~860 us of CPU for BEGIN + one statement + COMMIT, asyncpg ~65 us per statement. The
    SQL is still SQLAlchemy's, compiled from the model, so the two cannot drift apart.
    """

    sql: str
    params: tuple[str, ...]

    @classmethod
    def of(cls, stmt: Any) -> "BatchStatement":
        compiled = stmt.compile(dialect=asyncpg_dialect())
        return cls(str(compiled), tuple(compiled.positiontup or ()))

    def args(self, rows: Sequence[object]) -> list[tuple[Any, ...]]:
        """The parameters of each row (a GenerationRow): a missing field raises, never NULL."""
        return [tuple(getattr(row, name) for name in self.params) for row in rows]


def _all_columns() -> dict[str, Any]:
    return {column.name: bindparam(column.name) for column in TABLE.columns}


def _upsert(fields: Sequence[str], allowed: Sequence[str]) -> BatchStatement:
    stmt = insert(TABLE).values(_all_columns())
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={name: stmt.excluded[name] for name in fields},
        # Constants, rendered into the SQL: executemany binds only the row's own values.
        where=TABLE.c.status.in_([literal_column(f"'{v}'") for v in allowed]),
    )
    return BatchStatement.of(stmt)


# A queued generation, from the web process. The worker may have written it first.
INSERT_QUEUED = BatchStatement.of(
    insert(TABLE).values(_all_columns()).on_conflict_do_nothing(index_elements=["id"])
)
# A worker started it: only a still-queued row changes.
UPSERT_RUNNING = _upsert(RUNNING_FIELDS, (GenerationStatus.QUEUED.value,))
# How it ended: a row that is final already is left alone.
UPSERT_OUTCOME = _upsert(OUTCOME_FIELDS, OPEN_STATUSES)

ABANDONED = "abandoned"
# Records no process will end (a crash between steps, a write that failed): still open long
# after anything could be running them. Parameters: `before` (queued before it), `now`.
SWEEP_OPEN = BatchStatement.of(
    update(TABLE)
    .where(
        TABLE.c.status.in_([literal_column(f"'{v}'") for v in OPEN_STATUSES]),
        TABLE.c.queued_at < bindparam("before"),
    )
    .values(
        status=literal_column(f"'{GenerationStatus.FAILED.value}'"),
        error_type=literal_column(f"'{ABANDONED}'"),
        error_message=literal_column(
            "'no process ended this generation within its bounds; closed by the sweep'"
        ),
        finished_at=bindparam("now"),
    )
)


def _owned_by(api_key_id: uuid.UUID | None) -> Any:
    return Generation.api_key_id.is_not_distinct_from(api_key_id)


async def get_generation(
    session: AsyncSession, *, generation_id: uuid.UUID, api_key_id: uuid.UUID | None
) -> Generation | None:
    """A generation of this key (`api_key_id` None: the master key's); another key's is None."""
    return await session.scalar(
        select(Generation).where(Generation.id == generation_id, _owned_by(api_key_id))
    )


async def get_any_generation(
    session: AsyncSession, *, generation_id: uuid.UUID
) -> Generation | None:
    """A generation whoever owns it (for the web process's own bookkeeping)."""
    return await session.get(Generation, generation_id)


async def delete_generation(session: AsyncSession, *, generation_id: uuid.UUID) -> None:
    """Delete a record that never became a generation (refused before it was queued)."""
    await session.execute(delete(Generation).where(Generation.id == generation_id))


async def list_generations(
    session: AsyncSession,
    *,
    api_key_id: uuid.UUID | None,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
    every_key: bool = False,
    end_user: str | None = None,
) -> list[Generation]:
    """This key's generations (`every_key`: everyone's; `end_user`: only that end user's),
    newest first, after the cursor `before` (queued_at, id)."""
    stmt = select(Generation)
    if not every_key:
        stmt = stmt.where(_owned_by(api_key_id))
    if end_user is not None:
        stmt = stmt.where(Generation.end_user == end_user)
    if before is not None:
        stmt = stmt.where(tuple_(Generation.queued_at, Generation.id) < tuple_(*before))
    stmt = stmt.order_by(Generation.queued_at.desc(), Generation.id.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())


@dataclass(frozen=True, slots=True)
class UsageRow:
    group: str  # the day (YYYY-MM-DD), the model, the end user ("" for none) or the key
    generations: int
    prompt_tokens: int
    completion_tokens: int


async def usage(
    session: AsyncSession,
    *,
    api_key_id: uuid.UUID | None,
    every_key: bool,
    start: datetime,
    end: datetime,
    by: Literal["day", "model", "end_user", "key"],
) -> list[UsageRow]:
    """Generations and tokens queued in [start, end), grouped `by` day (UTC), model, end user or
    key (its id; `master` for the master key)."""
    group = {
        "day": func.to_char(func.timezone("UTC", Generation.queued_at), "YYYY-MM-DD"),
        "model": Generation.llm_model,
        "end_user": func.coalesce(Generation.end_user, ""),
        "key": func.coalesce(sql_cast(Generation.api_key_id, String), "master"),
    }[by]
    stmt: Any = select(
        group.label("grp"),
        func.count(),
        func.coalesce(func.sum(Generation.prompt_tokens), 0),
        func.coalesce(func.sum(Generation.completion_tokens), 0),
    ).where(Generation.queued_at >= start, Generation.queued_at < end)
    if not every_key:
        stmt = stmt.where(_owned_by(api_key_id))
    stmt = stmt.group_by("grp").order_by("grp")
    rows = (await session.execute(stmt)).all()
    return [UsageRow(str(g), int(n), int(p), int(c)) for g, n, p, c in rows]


async def finish_open(
    session: AsyncSession,
    *,
    generation_id: uuid.UUID,
    status: GenerationStatus,
    error_type: str,
    error_message: str,
    finished_at: Any,
    only_queued: bool = False,
    delivered: Produced | None = None,
    keep_content: bool = True,
) -> Generation | None:
    """End a generation no worker will finish (cancelled in the queue, worker lost, timed out).

    Returns the row if it changed; None if it was final already (or running, with
    `only_queued`), in which case whoever holds it records the outcome. `delivered`: what the
    stream had carried; its content is kept with `keep_content` (STORE_CONTENT).
    """
    produced: dict[str, Any] = {}
    if delivered is not None:
        produced = {
            "chunk_count": delivered.chunks,
            # One token an event, as the worker counts a stream cut short.
            "completion_tokens": delivered.chunks + delivered.thinking_chunks,
        }
        if keep_content:
            # Only a record that kept its prompt keeps content: a request's `store: false` too.
            kept = {
                "response": storable(delivered.text),
                "thinking": storable(delivered.thinking) or None,
                "tool_calls": delivered.tool_calls or None,
            }
            produced |= {
                name: case(
                    (TABLE.c.prompt.is_(None), None), else_=literal(value, TABLE.c[name].type)
                )
                for name, value in kept.items()
            }
    table = TABLE
    allowed = (GenerationStatus.QUEUED.value,) if only_queued else OPEN_STATUSES
    stmt = (
        update(table)
        .where(table.c.id == generation_id, table.c.status.in_(allowed))
        .values(
            status=status.value,
            error_type=error_type,
            error_message=error_message,
            finished_at=finished_at,
            **produced,
        )
        .returning(table)
    )
    row = (await session.execute(stmt)).first()
    return Generation(**row._mapping) if row is not None else None
