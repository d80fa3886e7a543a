"""All SQL about API keys. Keyword-only async functions; the caller commits."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import security
from shared.models import ApiKey


async def create_key(
    session: AsyncSession,
    *,
    secret: str,
    name: str,
    rate_limit_rpm: int | None = None,
    concurrency_limit: int | None = None,
    is_admin: bool = False,
) -> tuple[ApiKey, str]:
    """A new key: its record, and the key itself (returned this once, stored nowhere)."""
    key = security.new_key()
    row = ApiKey(
        id=uuid.uuid4(),
        name=name,
        prefix=security.shown_prefix(key),
        key_hash=security.hash_key(secret, key),
        created_at=datetime.now(UTC),
        rate_limit_rpm=rate_limit_rpm,
        concurrency_limit=concurrency_limit,
        is_admin=is_admin,
    )
    session.add(row)
    await session.flush()
    return row, key


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
