"""All SQL about API keys. Keyword-only async functions; the caller commits."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import security
from shared.models import ApiKey


async def create_key(
    session: AsyncSession,
    *,
    secret: str,
    name: str,
    is_admin: bool = False,
    settings: dict[str, Any] | None = None,
) -> tuple[ApiKey, str]:
    """A new key: its record, and the key itself (returned this once, stored nowhere)."""
    key = security.new_key()
    row = ApiKey(
        id=uuid.uuid4(),
        name=name,
        prefix=security.shown_prefix(key),
        key_hash=security.hash_key(secret, key),
        created_at=datetime.now(UTC),
        is_admin=is_admin,
        **(settings or {}),
    )
    session.add(row)
    await session.flush()
    return row, key


async def update_key(
    session: AsyncSession, *, key_id: uuid.UUID, settings: dict[str, Any]
) -> ApiKey | None:
    """Change a key's settings (columns of ApiKey, as KeySettings names them)."""
    row = await session.get(ApiKey, key_id)
    if row is not None:
        for name, value in settings.items():
            setattr(row, name, value)
        await session.flush()
    return row


async def find_by_hash(session: AsyncSession, *, key_hash: str) -> ApiKey | None:
    return await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


async def list_keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.scalars(select(ApiKey).order_by(ApiKey.created_at))).all()


async def find_key(session: AsyncSession, *, key: str) -> ApiKey | None:
    """By id, or by the shown prefix if exactly one key has it."""
    try:
        return await session.get(ApiKey, uuid.UUID(key))
    except ValueError:
        rows = (await session.scalars(select(ApiKey).where(ApiKey.prefix == key))).all()
        return rows[0] if len(rows) == 1 else None


async def revoke_key(session: AsyncSession, *, key_id: uuid.UUID) -> ApiKey | None:
    row = await session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        await session.flush()
    return row


async def touch_keys(session: AsyncSession, *, used: dict[uuid.UUID, datetime]) -> None:
    """Record when keys were last used (batched by the caller)."""
    for key_id, when in used.items():
        await session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .where((ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < when))
            .values(last_used_at=when)
        )
