"""The worker process: `arq worker.main.WorkerSettings`.

Each limit is a setting; the reasons for the values are next to them.
"""

import logging
import os
import socket
import uuid
from typing import Any, ClassVar

from arq import func

from shared.config import get_settings
from shared.db import create_engine, create_sessionmaker
from shared.jobs import GENERATE
from shared.logs import configure_logging
from shared.ollama import OllamaClient
from shared.records import RecordWriter
from shared.redis import deserialize_job, redis_settings, serialize_job
from worker.housekeeping import Housekeeping
from worker.publisher import StreamPublisher
from worker.state import WorkerState
from worker.tasks.generate import generate
from worker.wake import WakeListener, running_worker

log = logging.getLogger(__name__)

settings = get_settings()


async def startup(ctx: dict[str, Any]) -> None:
    configure_logging(settings.LOG_LEVEL)
    redis = ctx["redis"]
    engine = create_engine(settings, pool_size=max(2, min(settings.WORKER_CONCURRENCY, 10)))
    records = RecordWriter(create_sessionmaker(engine))
    # While it runs, a generation's log outlives the longest generation; afterwards it is kept
    # for the retention time.
    live_ttl = int(settings.GENERATION_TIMEOUT_SECONDS + settings.STREAM_RETENTION_SECONDS)
    publisher = StreamPublisher(
        redis, live_ttl_s=live_ttl, retention_s=settings.STREAM_RETENTION_SECONDS
    )
    records.start()
    publisher.start()
    worker = running_worker()
    wake = WakeListener(worker, redis) if worker is not None else None
    if wake is not None:
        await wake.start()
    else:
        log.warning("no arq Worker found on start-up: jobs are picked up by polling only")
    worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    state = WorkerState(
        settings, worker_id, redis, engine, records, publisher, OllamaClient(settings), wake
    )
    state.housekeeping = Housekeeping(
        redis,
        worker_id,
        interval_s=settings.WORKER_HEARTBEAT_SECONDS,
        slots=settings.WORKER_CONCURRENCY,
        running=lambda: len(state.active),
        abort_keep_s=settings.QUEUE_TIMEOUT_SECONDS + 60,
    )
    await state.housekeeping.start()
    ctx["state"] = state
    log.info(
        "worker %s ready: %d slots, Ollama at %s",
        worker_id,
        settings.WORKER_CONCURRENCY,
        settings.ollama_base_url,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    state: WorkerState | None = ctx.get("state")
    if state is None:
        return
    if state.wake is not None:
        await state.wake.aclose()
    if state.housekeeping is not None:
        await state.housekeeping.aclose()
    await state.publisher.aclose()
    await state.records.aclose()
    await state.ollama.aclose()
    await state.engine.dispose()


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
    redis_settings = redis_settings(settings)
    job_serializer = serialize_job
    job_deserializer = deserialize_job
    on_startup = startup
    on_shutdown = shutdown
    # Slots per worker. Workers x slots should equal what Ollama runs at once
    # (OLLAMA_NUM_PARALLEL), so that waiting happens in our visible queue, not in Ollama's.
    max_jobs = settings.WORKER_CONCURRENCY
    # Jobs start on a wake-up notice (worker/wake.py); the poll is the safety net for a missed
    # one. Each poll re-reads every running job (they stay in arq's sorted set), so it is kept
    # slow.
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
    # `arq worker.main.WorkerSettings --check` tells whether this container's worker is alive.
    health_check_interval = 10
    health_check_key = f"arq:health-check:{socket.gethostname()}"
