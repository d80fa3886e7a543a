"""API keys, managed with the master key: create (the key is shown once), list, change, revoke."""

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.db import transaction
from shared.errors import NotFound
from shared.models import ApiKey
from shared.services import api_keys
from shared.text import PlainText
from web.auth import announce_key_change
from web.deps import AdminDep, StateDep
from web.dialects import native

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], route_class=native.DIALECT.route_class)


# PostgreSQL's integer: a larger limit cannot be stored (and means unlimited anyway: use 0).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class KeySettings(BaseModel):
    """What a key may use and how it is scheduled; absent: the server's default."""

    rate_limit_rpm: int | None = Field(default=None, ge=0, le=INT32_MAX, description="0: unlimited")
    concurrency_limit: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="0: unlimited"
    )
    end_user_rate_limit_rpm: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Per end user of the key; 0: none"
    )
    end_user_concurrency_limit: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="Per end user of the key; 0: none"
    )
    tokens_per_day: int | None = Field(
        default=None, ge=0, le=INT64_MAX, description="Prompt + completion tokens a UTC day"
    )
    tokens_per_month: int | None = Field(
        default=None, ge=0, le=INT64_MAX, description="Prompt + completion tokens a UTC month"
    )
    weight: int | None = Field(default=None, ge=1, le=1000, description="Its share of the queue")
    priority: Literal["interactive", "standard", "batch"] | None = Field(
        default=None, description="interactive goes first; batch still progresses"
    )


class KeyIn(KeySettings):
    name: PlainText = Field(min_length=1, max_length=200)
    admin: bool = Field(
        default=False,
        description="May set what changes Ollama for everyone (keep_alive, num_ctx, num_gpu...)",
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    rate_limit_rpm: int | None
    concurrency_limit: int | None
    end_user_rate_limit_rpm: int | None
    end_user_concurrency_limit: int | None
    tokens_per_day: int | None
    tokens_per_month: int | None
    weight: int
    priority: str
    is_admin: bool


class NewKeyOut(KeyOut):
    key: str = Field(description="The key itself. Shown this once; only its hash is stored.")


@router.post("", status_code=201, response_model=NewKeyOut)
async def create_key(body: KeyIn, state: StateDep, _: AdminDep) -> NewKeyOut:
    """Create a key; the answer holds the key, which is not shown again."""
    async with transaction(state.sessions) as session:
        row, key = await api_keys.create_key(
            session,
            secret=state.settings.API_KEY_HASH_SECRET.get_secret_value(),
            name=body.name,
            is_admin=body.admin,
            settings=body.model_dump(exclude={"name", "admin"}, exclude_none=True),
        )
    return NewKeyOut(key=key, **KeyOut.model_validate(row, from_attributes=True).model_dump())


@router.get("", response_model=list[KeyOut])
async def list_keys(state: StateDep, _: AdminDep) -> list[ApiKey]:
    """Every key, oldest first (never the keys themselves)."""
    async with state.sessions() as session:
        return list(await api_keys.list_keys(session))


@router.patch("/{key_id}", response_model=KeyOut)
async def update_key(key_id: uuid.UUID, body: KeySettings, state: StateDep, _: AdminDep) -> ApiKey:
    """Change a key's limits, budgets, weight or priority (the fields given; 0: none). Every API
    replica uses the new values at once (a notice makes each forget its cached copy)."""
    async with transaction(state.sessions) as session:
        row = await api_keys.update_key(
            session, key_id=key_id, settings=body.model_dump(exclude_unset=True)
        )
    if row is None:
        raise NotFound(f"no API key {key_id}")
    await announce_key_change(state.redis, state.keys, key_id)
    return row


@router.post("/{key_id}/revoke", response_model=KeyOut)
async def revoke_key(key_id: uuid.UUID, state: StateDep, _: AdminDep) -> ApiKey:
    """Revoke a key at once, on every API replica; idempotent."""
    async with transaction(state.sessions) as session:
        row = await api_keys.revoke_key(session, key_id=key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    await announce_key_change(state.redis, state.keys, key_id)
    return row
