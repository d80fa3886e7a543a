"""A worker's background duties: its heartbeat, and the cleanup arq leaves to its users.

- Heartbeat: the worker's key (JSON: running generations, slots, host, the average generation
  time, and whether its Ollama answers and has the model) with a TTL of three intervals, plus the
  worker's score in the set of live workers (shared/keys.py). arq's own health key is one per
  queue and written hourly by default; a web process needs to know whether *this* worker
  lives, and /readyz whether Ollama works as the workers see it, without spending a
  generation to find out.
- The sweep: a record left `queued` or `running` long after anything could be running it (a
  crash between two steps, a write that failed) is closed `failed`, `abandoned`.
- arq's abort set is never pruned (arq issue #485): every worker re-reads all of it on every
  poll, and an entry left for a finished job would abort a later job with the same id. Entries
  older than the queue timeout can no longer match a waiting job, so they go.
"""

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable

import asyncpg
import orjson
from arq.utils import timestamp_ms
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.errors import AppError
from shared.keys import Keys
from shared.ollama import OllamaClient
from worker import metrics

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0
OLLAMA_CHECK_SECONDS = 5.0


class Ewma:
    """An exponentially weighted mean (the last ~20 values count most)."""

    def __init__(self, alpha: float = 0.1) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def add(self, sample: float) -> None:
        self.value = (
            sample if self.value is None else self.value + self.alpha * (sample - self.value)
        )


class OllamaCheck:
    """Whether Ollama answers and has the model, asked at most every OLLAMA_CHECK_SECONDS.

    The heartbeat reports the last answer and never waits for a new one (`due` starts it in
    the background): a slow Ollama must not make a live worker look dead."""

    def __init__(self, ollama: OllamaClient, model: str) -> None:
        self._ollama = ollama
        self._model = model if ":" in model else model + ":latest"
        self._next = 0.0
        self._checking: asyncio.Task[None] | None = None
        self.state: dict[str, object] = {"ok": False, "error": "not checked yet"}

    def due(self) -> None:
        if time.monotonic() >= self._next and (self._checking is None or self._checking.done()):
            self._checking = asyncio.create_task(self.refresh(), name="ollama-check")

    async def aclose(self) -> None:
        if self._checking is not None:
            self._checking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checking

    async def refresh(self) -> None:
        self._next = time.monotonic() + OLLAMA_CHECK_SECONDS
        try:
            names = await self._ollama.model_names()
            version = await self._ollama.version()
        except AppError as e:
            self.state = {"ok": False, "error": e.message}
        except Exception as e:  # an answer of an unexpected shape is an Ollama that fails
            self.state = {"ok": False, "error": f"unexpected answer from Ollama: {e!r}"}
        else:
            has = self._model in names
            error = None if has else f"Ollama does not have the model {self._model!r}"
            self.state = {"ok": has, "error": error, "version": version}
        metrics.OLLAMA_UP.set(1 if self.state["ok"] else 0)


class Housekeeping:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        worker_id: str,
        *,
        interval_s: float,
        slots: int,
        running: Callable[[], int],
        abort_keep_s: float,
        ollama: OllamaCheck,
        durations: Ewma,
        sweep: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.worker_id = worker_id
        self._interval = interval_s
        self._slots = slots
        self._running = running
        self._abort_keep_ms = int(abort_keep_s * 1000)
        self._ollama = ollama
        self._durations = durations
        self._sweep = sweep
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._ollama.refresh()  # the first heartbeat says how Ollama is
        await self.beat()
        self._task = asyncio.create_task(self._run(), name="housekeeping")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._ollama.aclose()
        with contextlib.suppress(RedisError, OSError):
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.delete(self._keys.worker(self.worker_id))
                pipe.zrem(self._keys.workers, self.worker_id)
                await pipe.execute()

    async def beat(self) -> None:
        ttl_ms = int(self._interval * 3 * 1000)
        self._ollama.due()
        state = {
            "id": self.worker_id,
            "host": socket.gethostname(),
            "running": self._running(),
            "slots": self._slots,
            "average_seconds": self._durations.value,
            "ollama": self._ollama.state,
            "at": time.time(),
        }
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._keys.worker(self.worker_id), orjson.dumps(state), px=ttl_ms)
            pipe.zadd(self._keys.workers, {self.worker_id: time.time()})
            pipe.zremrangebyscore(self._keys.workers, "-inf", time.time() - self._interval * 3)
            await pipe.execute()

    async def prune_aborts(self) -> int:
        return int(
            await self._redis.zremrangebyscore(
                self._keys.arq_abort, "-inf", timestamp_ms() - self._abort_keep_ms
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
                    if self._sweep is not None and (closed := await self._sweep()):
                        log.warning("the sweep closed %d abandoned generation records", closed)
            except (RedisError, OSError, asyncpg.PostgresError) as e:
                log.warning("heartbeat or sweep failed: %r", e)
            except Exception:  # a bug here must not stop the heartbeats for good
                log.exception("heartbeat failed")
