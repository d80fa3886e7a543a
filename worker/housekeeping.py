"""A worker's background duties: its heartbeat, and the cleanup arq leaves to its users.

- Heartbeat: `worker:<id>` (JSON: running generations, slots, host) with a TTL of three
  intervals, plus the worker's score in the `workers` sorted set. arq's own health key is one per
  queue and written hourly by default; a web process needs to know whether *this* worker lives.
- arq's abort set is never pruned (arq issue #485): every worker re-reads all of it on every
  poll, and an entry left for a finished job would abort a later job with the same id. Entries
  older than the queue timeout can no longer match a waiting job, so they go.
"""

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable

import orjson
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.jobs import HEARTBEATS_KEY, heartbeat_key

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0


class Housekeeping:
    def __init__(
        self,
        redis: Redis,
        worker_id: str,
        *,
        interval_s: float,
        slots: int,
        running: Callable[[], int],
        abort_keep_s: float,
    ) -> None:
        self._redis = redis
        self.worker_id = worker_id
        self._interval = interval_s
        self._slots = slots
        self._running = running
        self._abort_keep_ms = int(abort_keep_s * 1000)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(heartbeat_key(self.worker_id))
                pipe.zrem(HEARTBEATS_KEY, self.worker_id)
                await pipe.execute()

    async def beat(self) -> None:
        ttl_ms = int(self._interval * 3 * 1000)
        state = {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "running": self._running(),
            "slots": self._slots,
            "at": time.time(),
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(heartbeat_key(self.worker_id), orjson.dumps(state), px=ttl_ms)
            pipe.zadd(HEARTBEATS_KEY, {self.worker_id: time.time()})
            pipe.zremrangebyscore(HEARTBEATS_KEY, "-inf", time.time() - self._interval * 3)
            await pipe.execute()

    async def prune_aborts(self) -> int:
        return int(
            await self._redis.zremrangebyscore(
                abort_jobs_ss, "-inf", timestamp_ms() - self._abort_keep_ms
            )
        )

    async def _run(self) -> None:
        next_prune = 0.0
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.beat()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    if pruned := await self.prune_aborts():
                        log.info("pruned %d stale entries of arq's abort set", pruned)
            except (RedisError, OSError) as e:
                log.warning("heartbeat failed: %r", e)
