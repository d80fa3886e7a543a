"""Cancelling from the web side: on request (POST .../cancel), when the last client left
(presence.py), and when the web side gives up (a bound ran out, the worker was lost).

A running generation is stopped by its worker, which records it; a queued one never starts, so
it is recorded and its stream ended here.
"""

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import transaction
from shared.errors import AppError, Cancelled
from shared.jobs import owner_of, request_cancel
from shared.keys import Keys
from shared.models import GenerationStatus
from shared.services import generations
from shared.stream import ERROR, Produced, append_terminal, produced, read_log
from web.ops import metrics

log = logging.getLogger(__name__)

# `cancel` without an owner check (a client that left cancels its own generation).
ANY_KEY: Any = object()


class Cancellations:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._sessions = sessions
        self._settings = settings

    @property
    def clients_ttl(self) -> int:
        s = self._settings
        return int(
            s.QUEUE_TIMEOUT_SECONDS + s.GENERATION_TIMEOUT_SECONDS + s.STREAM_RETENTION_SECONDS
        )

    async def cancel(
        self, generation_id: str, *, api_key_id: Any = ANY_KEY, reason: str = "requested"
    ) -> GenerationStatus | None:
        """Cancel a generation (idempotent); its status afterwards, None if there is no such one.

        A running generation is stopped by its worker, which records it. A queued one never
        starts: arq fails it at pick-up without running it, so it is recorded and its stream
        ended here.
        """
        key = uuid.UUID(generation_id)
        async with self._sessions() as session:
            if api_key_id is ANY_KEY:  # a client that left: the generation is its own
                row = await generations.get_any_generation(session, generation_id=key)
            else:
                row = await generations.get_generation(
                    session, generation_id=key, api_key_id=api_key_id
                )
        if row is None:
            return None
        if GenerationStatus(row.status).is_final:
            return GenerationStatus(row.status)
        metrics.CANCELLATIONS.labels(reason).inc()
        # Whether it still waits is Redis's to say: the record says `queued` until the worker's
        # batched `running` write lands, while the worker may be streaming it already.
        waiting = await request_cancel(
            self._redis, self._keys, generation_id, ttl_s=self.clients_ttl
        )
        if waiting and await self.abandon(
            generation_id, Cancelled("the generation was cancelled"), only_queued=True
        ):
            return GenerationStatus.CANCELLED
        return GenerationStatus.RUNNING

    async def abandon(
        self, generation_id: str, error: AppError, *, only_queued: bool = False
    ) -> bool:
        """Record the end of a generation no worker will finish, and end its stream."""
        status = (
            GenerationStatus.CANCELLED if isinstance(error, Cancelled) else GenerationStatus.FAILED
        )
        delivered = None if only_queued else await self._delivered(generation_id)
        async with transaction(self._sessions) as session:
            changed = await generations.finish_open(
                session,
                generation_id=uuid.UUID(generation_id),
                status=status,
                error_type=error.type,
                error_message=error.message,
                finished_at=datetime.now(UTC),
                only_queued=only_queued,
                delivered=delivered,
                keep_content=self._settings.STORE_CONTENT,
            )
        if changed is None:
            return False
        await append_terminal(
            self._redis,
            self._keys,
            generation_id,
            ERROR,
            error.to_dict(),
            retention_s=self._settings.STREAM_RETENTION_SECONDS,
        )
        # Its places in the concurrency counts (the key's, its end user's) are free again.
        owner = owner_of(str(changed.api_key_id) if changed.api_key_id else None)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrem(self._keys.active(owner), generation_id)
            if changed.end_user:
                pipe.zrem(self._keys.user_active(owner, changed.end_user), generation_id)
            await pipe.execute()
        return True

    async def _delivered(self, generation_id: str) -> Produced | None:
        """What the stream had carried when the web side ended it (from its replay log)."""
        try:
            return produced(await read_log(self._redis, self._keys, generation_id))
        except (RedisError, OSError):
            return None

    async def give_up(self, generation_id: str, error: AppError) -> None:
        """The web side's own bound ran out, the worker died or Redis stayed away: fail it and
        stop any worker. Never raises: the client gets its error either way, and the sweep
        closes a record this could not."""
        try:
            await request_cancel(self._redis, self._keys, generation_id, ttl_s=self.clients_ttl)
            await self.abandon(generation_id, error)
        except Exception as e:
            log.warning("generation %s: could not record that it failed: %r", generation_id, e)
