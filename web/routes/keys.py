"""API keys, managed with the master key: create (the key is shown once), list, revoke."""

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.db import transaction
from shared.errors import NotFound
from shared.models import ApiKey
from shared.services import api_keys
from shared.text import PlainText
from web.auth import announce_revocation
from web.deps import AdminDep, StateDep
from web.dialects import native

router = APIRouter(prefix="/api/v1/keys", tags=["keys"], route_class=native.DIALECT.route_class)


# PostgreSQL's integer: a larger limit cannot be stored (and means unlimited anyway: use 0).
INT32_MAX = 2**31 - 1


class KeyIn(BaseModel):
    name: PlainText = Field(min_length=1, max_length=200)
    rate_limit_rpm: int | None = Field(default=None, ge=0, le=INT32_MAX, description="0: unlimited")
    concurrency_limit: int | None = Field(
        default=None, ge=0, le=INT32_MAX, description="0: unlimited"
    )
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
            rate_limit_rpm=body.rate_limit_rpm,
            concurrency_limit=body.concurrency_limit,
            is_admin=body.admin,
        )
    return NewKeyOut(key=key, **KeyOut.model_validate(row, from_attributes=True).model_dump())


@router.get("", response_model=list[KeyOut])
async def list_keys(state: StateDep, _: AdminDep) -> list[ApiKey]:
    """Every key, oldest first (never the keys themselves)."""
    async with state.sessions() as session:
        return list(await api_keys.list_keys(session))


@router.post("/{key_id}/revoke", response_model=KeyOut)
async def revoke_key(key_id: uuid.UUID, state: StateDep, _: AdminDep) -> ApiKey:
    """Revoke a key at once, on every API replica; idempotent."""
    async with transaction(state.sessions) as session:
        row = await api_keys.revoke_key(session, key_id=key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    await announce_revocation(state.redis, state.keys, key_id)
    return row
