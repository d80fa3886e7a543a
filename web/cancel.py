"""Cancelling from the web side: on request, when the last client left, when a worker is lost.

Clients attached to a generation are counted in Redis (`gen:<id>:clients`), so a client that
drops and resumes on another web process still counts. When a client leaves before the end, the
count goes down and, DISCONNECT_GRACE_SECONDS later, a generation nobody watches is cancelled: a
dropped mobile connection can come back, an abandoned request frees the GPU.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.db import transaction
from shared.errors import AppError, Cancelled
from shared.jobs import active_key, clients_key, owner_of, request_cancel
from shared.models import Generation, GenerationStatus
from shared.services import generations
from shared.stream import ERROR, append_terminal
from web import metrics

log = logging.getLogger(__name__)

# `cancel` without an owner check (a client that left cancels its own generation).
ANY_KEY: Any = object()


class Cancellations:
    def __init__(
        self, redis: ArqRedis, sessions: async_sessionmaker[AsyncSession], settings: Settings
    ) -> None:
        self._redis = redis
        self._sessions = sessions
        self._settings = settings
        self._pending: set[asyncio.Task[None]] = set()

    @property
    def clients_ttl(self) -> int:
        s = self._settings
        return int(
            s.QUEUE_TIMEOUT_SECONDS + s.GENERATION_TIMEOUT_SECONDS + s.STREAM_RETENTION_SECONDS
        )

    async def attach(self, generation_id: str) -> None:
        """A client (re)attached to the generation's stream."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(clients_key(generation_id))
            pipe.expire(clients_key(generation_id), self.clients_ttl)
            await pipe.execute()

    def client_left(self, generation_id: str) -> None:
        """A client went away before the end; cancel after the grace period if nobody is left."""
        task = asyncio.create_task(self._after_grace(generation_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_grace(self, generation_id: str) -> None:
        try:
            left = await self._redis.decr(clients_key(generation_id))
            if left > 0:
                return
            await asyncio.sleep(self._settings.DISCONNECT_GRACE_SECONDS)
            if int(await self._redis.get(clients_key(generation_id)) or 0) <= 0:
                log.info("no client left; cancelling", extra={"generation": generation_id})
                await self.cancel(generation_id, reason="client_left")
        except (RedisError, OSError) as e:
            log.warning("generation %s: could not check its clients: %r", generation_id, e)

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
                row = await session.get(Generation, key)
            else:
                row = await generations.get_generation(
                    session, generation_id=key, api_key_id=api_key_id
                )
        if row is None:
            return None
        if GenerationStatus(row.status).is_final:
            return GenerationStatus(row.status)
        metrics.CANCELLATIONS.labels(reason).inc()
        await request_cancel(self._redis, generation_id, ttl_s=self.clients_ttl)
        if await self.abandon(
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
        async with transaction(self._sessions) as session:
            changed = await generations.finish_open(
                session,
                generation_id=uuid.UUID(generation_id),
                status=status,
                error_type=error.type,
                error_message=error.message,
                finished_at=datetime.now(UTC),
                only_queued=only_queued,
            )
        if changed is None:
            return False
        await append_terminal(
            self._redis,
            generation_id,
            ERROR,
            error.to_dict(),
            retention_s=self._settings.STREAM_RETENTION_SECONDS,
        )
        # Its place in the key's concurrency count is free again.
        owner = owner_of(str(changed.api_key_id) if changed.api_key_id else None)
        await self._redis.zrem(active_key(owner), generation_id)
        return True

    async def give_up(self, generation_id: str, error: AppError) -> None:
        """The web side's own bound ran out or the worker died: fail it and stop any worker."""
        await request_cancel(self._redis, generation_id, ttl_s=self.clients_ttl)
        await self.abandon(generation_id, error)

    async def aclose(self) -> None:
        """Let pending grace periods run out, so abandoned generations are still cancelled."""
        if self._pending:
            with contextlib.suppress(Exception):
                await asyncio.wait(
                    self._pending, timeout=self._settings.DISCONNECT_GRACE_SECONDS + 2
                )
