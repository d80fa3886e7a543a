"""The worker's settings and clients: `python -m worker` runs them on GatewayWorker
(worker/arq_worker.py); `arq worker.main.WorkerSettings` runs them on plain arq, the slower
fallback (arq's poll and per-job transactions).

Each limit is a setting; the reasons for the values are next to them.
"""

import asyncio
import logging
import os
import socket
import uuid
from typing import Any, ClassVar

import uvloop
from arq import func

from shared.arq_layout import deserialize_job, serialize_job
from shared.config import get_settings
from shared.jobs import GENERATE
from shared.logs import configure_logging
from shared.ollama import OllamaClient
from shared.records import RecordWriter
from shared.redis import RedisLink, arq_redis, redis_settings
from worker import metrics
from worker.housekeeping import Housekeeping, OllamaCheck
from worker.publisher import StreamPublisher
from worker.state import WorkerState
from worker.tasks.generate import generate

log = logging.getLogger(__name__)

settings = get_settings()
keys = settings.keys

# uvloop, installed before arq creates its event loop: measured here, an awaited Redis command
# costs ~82 us of CPU on uvloop against ~96 us on the default loop.
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    metrics.serve(settings.WORKER_METRICS_PORT, settings.WORKER_METRICS_HOST)
    redis = ctx["redis"]
    records = RecordWriter(settings.database_url)
    # While it runs, a generation's log outlives the longest generation; afterwards it is kept
    # for the retention time.
    live_ttl = int(settings.GENERATION_TIMEOUT_SECONDS + settings.STREAM_RETENTION_SECONDS)
    publisher = StreamPublisher(
        RedisLink(settings),
        keys,
        live_ttl_s=live_ttl,
        retention_s=settings.STREAM_RETENTION_SECONDS,
        coalesce_s=settings.STREAM_COALESCE_MS / 1000,
    )
    await records.start()
    publisher.start()
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    ollama = OllamaClient(settings)
    state = WorkerState(settings, keys, worker_id, redis, records, publisher, ollama)
    metrics.RUNNING.set_function(lambda: len(state.active))
    state.housekeeping = Housekeeping(
        redis,
        keys,
        worker_id,
        interval_s=settings.WORKER_HEARTBEAT_SECONDS,
        slots=settings.WORKER_CONCURRENCY,
        running=lambda: len(state.active),
        abort_keep_s=settings.QUEUE_TIMEOUT_SECONDS + 60,
        ollama=OllamaCheck(ollama, settings.OLLAMA_MODEL),
        durations=state.durations,
        # Past the queue's and the generation's bounds and a minute more, nothing runs it.
        sweep=lambda: records.sweep(
            older_than_s=settings.QUEUE_TIMEOUT_SECONDS + settings.GENERATION_TIMEOUT_SECONDS + 60
        ),
    )
    await state.housekeeping.start()
    ctx["state"] = state
    log.info(
        "worker ready",
        extra={
            "worker": worker_id,
            "slots": settings.WORKER_CONCURRENCY,
            "ollama": settings.ollama_base_url,
        },
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    state: WorkerState | None = ctx.get("state")
    if state is None:
        return
    if state.housekeeping is not None:
        await state.housekeeping.aclose()
    await state.publisher.aclose()
    await state.records.aclose()
    await state.ollama.aclose()


class WorkerSettings:
    functions: ClassVar = [
        func(
            generate,
            name=GENERATE,
            # A backstop only: the task enforces GENERATION_TIMEOUT_SECONDS itself and reports
            # it. arq also derives its crash-recovery lock from this (timeout + 10 s).
            timeout=settings.GENERATION_TIMEOUT_SECONDS + 30,
            # After a crash arq runs the job again; the task refuses to restart a generation
            # that had already streamed text, and runs one that had not.
            max_tries=3,
        )
    ]
    # arq's client on the lean pool (shared/redis.py); redis_settings serves `--check`.
    redis_pool = arq_redis(settings)
    redis_settings = redis_settings(settings)
    queue_name = keys.arq_queue
    job_serializer = serialize_job
    job_deserializer = deserialize_job
    on_startup = startup
    on_shutdown = shutdown
    # Slots per worker. Workers x slots should equal what Ollama runs at once
    # (OLLAMA_NUM_PARALLEL), so that waiting happens in our visible queue, not in Ollama's.
    max_jobs = settings.WORKER_CONCURRENCY
    # Jobs start on a wake-up notice (worker/pickup.py, on GatewayWorker); the poll is the
    # safety net for a missed one (and, on plain arq, the only way jobs start).
    poll_delay = settings.WORKER_POLL_SECONDS
    # The poll reads only the oldest `queue_read_limit` entries, and running jobs fill them
    # first: too small a window silently stops jobs from starting.
    queue_read_limit = max(100, 4 * settings.WORKER_CONCURRENCY)
    # PostgreSQL is the record; arq's results would only keep the prompt around in Redis.
    keep_result = 0
    allow_abort_jobs = True
    # On SIGTERM: stop taking jobs, let running ones finish for up to this long.
    job_completion_wait = settings.WORKER_SHUTDOWN_GRACE_SECONDS
    # One health key per host or container (arq's default key is shared by all workers), so
    # `python -m worker --check` tells whether this container's worker is alive.
    health_check_interval = 10
    health_check_key = keys.health_check(socket.gethostname())
