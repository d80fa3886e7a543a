"""The database engine and session factory: one session per unit of work, committed in one place."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.config import Settings


def create_engine(settings: Settings, *, pool_size: int | None = None) -> AsyncEngine:
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size or settings.DATABASE_POOL_SIZE,
        max_overflow=0,
        pool_pre_ping=True,
        # A bounded wait for a connection: a stuck database fails a request instead of hanging it.
        pool_timeout=10,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed when the block ends, or rolled back if it raises."""
    async with sessions() as session, session.begin():
        yield session
