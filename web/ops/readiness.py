"""Readiness: can this deployment answer a generation right now? Checked without spending one.

PostgreSQL answers, Redis answers, at least one worker has a recent heartbeat, and at least one
of those workers reaches an Ollama that has the configured model (each worker checks its own
Ollama, so several Ollama hosts behind their own worker pools are judged as the workers see
them). Cached for a moment: probes every second cost nothing.
"""

import asyncio
import time
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from web.ops.queue_status import QueueStatus

CACHE_SECONDS = 1.5
CHECK_TIMEOUT_SECONDS = 2.0


class Readiness:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], redis: Redis, queue: QueueStatus
    ) -> None:
        self._sessions = sessions
        self._redis = redis
        self._queue = queue
        self._result: tuple[bool, dict[str, Any]] | None = None
        self._at = 0.0

    async def check(self, *, whole: bool = True) -> tuple[bool, dict[str, Any]]:
        """`whole`: the deployment; otherwise only what this API process needs to take
        requests (PostgreSQL and Redis), for a load balancer's or Kubernetes' probe."""
        if self._result is None or time.monotonic() - self._at >= CACHE_SECONDS:
            database, redis = await asyncio.gather(self._database(), self._redis_ok())
            checks: dict[str, Any] = {"postgresql": database, "redis": redis}
            if redis["ok"]:
                checks.update(await self._workers())
            else:
                no = {"ok": False, "error": "Redis does not answer"}
                checks["workers"] = checks["ollama"] = no
            self._result, self._at = (
                all(c["ok"] for c in checks.values()),
                checks,
            ), time.monotonic()
        ready, checks = self._result
        if whole:
            return ready, checks
        own = {name: checks[name] for name in ("postgresql", "redis")}
        return all(c["ok"] for c in own.values()), own

    async def _database(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), self._sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as e:
            return {"ok": False, "error": f"PostgreSQL does not answer ({type(e).__name__})"}
        return {"ok": True}

    async def _redis_ok(self) -> dict[str, Any]:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await self._redis.ping()
        except Exception as e:
            return {"ok": False, "error": f"Redis does not answer ({type(e).__name__})"}
        return {"ok": True}

    async def _workers(self) -> dict[str, Any]:
        snapshot = await self._queue.snapshot()
        if not snapshot.workers:
            no = {"ok": False, "error": "no worker has sent a heartbeat recently"}
            return {"workers": no, "ollama": {"ok": False, "error": "no worker to ask"}}
        seen = [w.get("ollama", {}) for w in snapshot.workers_detail]
        ollama: dict[str, Any] = {"ok": any(o.get("ok") for o in seen)}
        if not ollama["ok"]:
            ollama["error"] = next((o["error"] for o in seen if o.get("error")), "unknown")
        workers = {"ok": True, "alive": snapshot.workers, "slots": snapshot.slots}
        return {"workers": workers, "ollama": ollama}
