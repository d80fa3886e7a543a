"""GET /api/v1/usage: a key's generations and tokens per day, model and end user, from the
records (so they add up to the records exactly), and its budgets with what they have used."""

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from shared.errors import Forbidden, InvalidRequest, NotFound
from shared.jobs import owner_of, usage_periods
from shared.models import ApiKey
from shared.services import generations
from shared.services.generations import UsageRow
from web.deps import PrincipalDep, StateDep
from web.dialects import native

router = APIRouter(prefix="/api/v1/usage", tags=["usage"], route_class=native.DIALECT.route_class)

LONGEST_RANGE_DAYS = 366


class Usage(BaseModel):
    generations: int
    prompt_tokens: int
    completion_tokens: int
    tokens: int


class Grouped(Usage):
    group: str = Field(
        description="The day (YYYY-MM-DD, UTC), the model, the end user (empty: none), or the key"
    )


class Budgets(BaseModel):
    tokens_per_day: int | None
    tokens_per_month: int | None
    used_today: int | None = Field(description="As the budget counts it (this UTC day)")
    used_this_month: int | None


class UsageOut(BaseModel):
    key: str = Field(description="The key's id, `master`, or `all`")
    start: date
    end: date
    total: Usage
    days: list[Grouped]
    models: list[Grouped]
    end_users: list[Grouped]
    keys: list[Grouped] = Field(description="Per key (its id, or `master`)")
    budgets: Budgets | None = Field(description="For one key; null for `all`")


def _grouped(rows: list[UsageRow]) -> list[Grouped]:
    return [
        Grouped(
            group=r.group,
            generations=r.generations,
            prompt_tokens=r.prompt_tokens,
            completion_tokens=r.completion_tokens,
            tokens=r.prompt_tokens + r.completion_tokens,
        )
        for r in rows
    ]


@router.get("", response_model=UsageOut)
async def usage(
    state: StateDep,
    principal: PrincipalDep,
    start: Annotated[date | None, Query(description="First day (UTC); default 29 days ago")] = None,
    end: Annotated[
        date | None, Query(description="Last day (UTC), included; default today")
    ] = None,
    key: Annotated[
        str | None, Query(description="Master key only: a key's id, `master`, or `all`")
    ] = None,
) -> UsageOut:
    """Generations and tokens of a key (by default the caller's) over a range of days."""
    end = end or datetime.now(UTC).date()
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days >= LONGEST_RANGE_DAYS:
        raise InvalidRequest(f"start..end: in order and at most {LONGEST_RANGE_DAYS} days")
    key_id, every_key, label = principal.key_id, False, str(principal.key_id or "master")
    if key is not None and key != label:
        if not principal.is_master:
            raise Forbidden("only the master key reads other keys' usage")
        every_key, key_id, label = key == "all", None, key
        if key not in ("all", "master"):
            try:
                key_id = uuid.UUID(key)
            except ValueError:
                raise InvalidRequest("key: `all`, `master` or an API key's id") from None
    since = datetime.combine(start, time(), UTC)
    until = datetime.combine(end + timedelta(days=1), time(), UTC)
    async with state.sessions() as session:
        found = {
            by: await generations.usage(
                session, api_key_id=key_id, every_key=every_key, start=since, end=until, by=by
            )
            for by in ("day", "model", "end_user", "key")
        }
        row = await session.get(ApiKey, key_id) if key_id is not None else None
    if key_id is not None and row is None:
        raise NotFound(f"no API key {key_id}")
    days = _grouped(found["day"])
    total = Usage(
        generations=sum(d.generations for d in days),
        prompt_tokens=sum(d.prompt_tokens for d in days),
        completion_tokens=sum(d.completion_tokens for d in days),
        tokens=sum(d.tokens for d in days),
    )
    return UsageOut(
        key=label,
        start=start,
        end=end,
        total=total,
        days=days,
        models=_grouped(found["model"]),
        end_users=_grouped(found["end_user"]),
        keys=_grouped(found["key"]),
        budgets=None if every_key else await _budgets(state, key_id, row),
    )


async def _budgets(state: StateDep, key_id: uuid.UUID | None, row: ApiKey | None) -> Budgets:
    owner = owner_of(str(key_id) if key_id else None)
    day, month = usage_periods(datetime.now(UTC).timestamp())
    used: tuple[int | None, int | None] = (None, None)
    try:
        today, this_month = await state.redis.mget(
            state.keys.usage_day(owner, day), state.keys.usage_month(owner, month)
        )
        used = int(today or 0), int(this_month or 0)
    except (RedisError, OSError):
        pass  # the records above are the usage; the counters only say what the budget sees
    return Budgets(
        tokens_per_day=(row.tokens_per_day or None) if row else None,
        tokens_per_month=(row.tokens_per_month or None) if row else None,
        used_today=used[0],
        used_this_month=used[1],
    )
