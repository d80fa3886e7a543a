"""What the queue looks like: depth, running jobs, live workers, the oldest wait, an estimate of
the wait for a new request, and each waiting generation's place in the fair order. Read from
Redis (the waiting set, the fair order and the workers' heartbeats), at most once a second per
process, so that polling it costs nothing."""

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from shared.fair_queue import ORDER_SCRIPT
from shared.keys import Keys
from web.ops import metrics

CACHE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    depth: int
    running: int
    slots: int
    workers: int
    oldest_wait_seconds: float
    average_generation_seconds: float | None
    estimated_wait_seconds: float | None
    workers_detail: tuple[dict[str, Any], ...]

    def wait_for(self, position: int) -> float | None:
        """Estimated wait for the generation at `position` (1: next) in the queue."""
        if self.slots == 0:
            return None
        free = max(0, self.slots - self.running)
        if position <= free:
            return 0.0
        if self.average_generation_seconds is None:
            return None
        rounds = math.ceil((position - free) / self.slots)
        return round(rounds * self.average_generation_seconds, 1)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("workers_detail")
        return data


class QueueStatus:
    def __init__(
        self, redis: Redis, keys: Keys, *, heartbeat_s: float, max_depth: int = 100
    ) -> None:
        self._redis = redis
        self._keys = keys
        # The fair order, computed at most once a second per process (ORDER_SCRIPT runs the
        # order on a copy of the queue: linear in the waiting generations).
        self._fair_names = orjson.dumps(keys.fair)
        self._order_limit = max_depth
        self._order: dict[str, int] = {}
        self._order_at = -CACHE_SECONDS
        self._heartbeat_s = heartbeat_s
        self._snapshot: Snapshot | None = None
        self._at = 0.0

    async def snapshot(self) -> Snapshot:
        if self._snapshot is not None and time.monotonic() - self._at < CACHE_SECONDS:
            return self._snapshot
        now, keys = time.time(), self._keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.waiting)
            pipe.zrange(keys.waiting, 0, 0, withscores=True)
            pipe.zrangebyscore(keys.workers, now - 3 * self._heartbeat_s, "+inf")
            depth, oldest, live = await pipe.execute()
        beats = (
            [
                orjson.loads(b)
                for b in await self._redis.mget([keys.worker(w.decode()) for w in live])
                if b
            ]
            if live
            else []
        )
        averages = [b["average_seconds"] for b in beats if b.get("average_seconds")]
        snapshot = Snapshot(
            depth=int(depth),
            running=sum(int(b.get("running", 0)) for b in beats),
            slots=sum(int(b.get("slots", 0)) for b in beats),
            workers=len(beats),
            oldest_wait_seconds=round(now - oldest[0][1], 3) if oldest else 0.0,
            average_generation_seconds=(
                round(sum(averages) / len(averages), 3) if averages else None
            ),
            estimated_wait_seconds=None,
            workers_detail=tuple(beats),
        )
        snapshot = Snapshot(
            **{**asdict(snapshot), "estimated_wait_seconds": snapshot.wait_for(snapshot.depth + 1)}
        )
        self._snapshot, self._at = snapshot, time.monotonic()
        return snapshot

    async def position(self, generation_id: str) -> int | None:
        """How many generations start before this one, plus one (1: it is next), in the fair
        order; None if it is not waiting (any more)."""
        now = time.monotonic()
        if now - self._order_at >= CACHE_SECONDS:
            order = await self._redis.execute_command(
                "EVAL", ORDER_SCRIPT, 1, self._keys.waiting, self._fair_names, self._order_limit
            )
            self._order = {gid.decode(): at for at, gid in enumerate(order, 1)}
            self._order_at = now
        return self._order.get(generation_id)

    async def refresh_metrics(self) -> None:
        snapshot = await self.snapshot()
        metrics.QUEUE_DEPTH.set(snapshot.depth)
        metrics.QUEUE_OLDEST.set(snapshot.oldest_wait_seconds)
        metrics.JOBS_RUNNING.set(snapshot.running)
        metrics.WORKER_SLOTS.set(snapshot.slots)
        metrics.WORKERS_ALIVE.set(snapshot.workers)
