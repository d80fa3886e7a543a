"""Who watches a generation: clients attached to its stream, counted in Redis (Keys.clients), so
that a client that drops and resumes on another web process still counts.

When a client leaves before the end, the count goes down and, DISCONNECT_GRACE_SECONDS later, a
generation nobody watches is cancelled: a dropped mobile connection can come back, an abandoned
request frees the GPU.
"""

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.config import Settings
from shared.keys import Keys
from web.generations.cancel import Cancellations

log = logging.getLogger(__name__)


class ClientPresence:
    def __init__(
        self, redis: Redis, keys: Keys, settings: Settings, cancellations: Cancellations
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._grace = settings.DISCONNECT_GRACE_SECONDS
        self._cancellations = cancellations
        self.clients_ttl = cancellations.clients_ttl
        self._pending: set[asyncio.Task[None]] = set()

    async def attach(self, generation_id: str) -> None:
        """A client (re)attached to the generation's stream."""
        key = self._keys.clients(generation_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, self.clients_ttl)
            await pipe.execute()

    def client_left(self, generation_id: str) -> None:
        """A client went away before the end; cancel after the grace period if nobody is left."""
        task = asyncio.create_task(self._after_grace(generation_id))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _after_grace(self, generation_id: str) -> None:
        key = self._keys.clients(generation_id)
        try:
            left = await self._redis.decr(key)
            if left > 0:
                return
            await asyncio.sleep(self._grace)
            if int(await self._redis.get(key) or 0) <= 0:
                log.info("no client left; cancelling", extra={"generation": generation_id})
                await self._cancellations.cancel(generation_id, reason="client_left")
        except (RedisError, OSError) as e:
            log.warning("generation %s: could not check its clients: %r", generation_id, e)

    async def aclose(self) -> None:
        """Let pending grace periods run out, so abandoned generations are still cancelled."""
        if self._pending:
            with contextlib.suppress(Exception):
                await asyncio.wait(self._pending, timeout=self._grace + 2)
