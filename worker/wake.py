"""Start and abort jobs the moment the web process announces them, not at the next poll.

arq finds jobs by polling (`poll_delay`): the pick-up wait is U(0, poll_delay), and a small delay
makes idle workers busy re-reading the queue (measured: 271 ms median pick-up at the default
0.5 s; 6 % of a core per idle worker at 0.005 s). The web process publishes `job <id>` after each
enqueue and `abort <id>` after each cancel; this listener hands them to the worker's own
`start_jobs` and `_cancel_aborted_jobs`, so arq's claim protocol (WATCH/MULTI on the in-progress
key) still decides who runs a job. Polling stays on as the safety net for a missed notice.

arq 0.28 (maintenance-only, see issue #404) offers no hook for this, and the run contract is
`arq worker.main.WorkerSettings`, which builds arq's own Worker. So on start-up the listener finds
that Worker as the owner of the task running `Worker.main()`. If it cannot, it logs why and the
worker simply polls.
"""

import asyncio
import contextlib
import logging

from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from shared.jobs import WAKE_CHANNEL

log = logging.getLogger(__name__)


def running_worker() -> Worker | None:
    """The arq Worker whose `main()` is running the current task, if any."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro() if task else None, "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    return owner if isinstance(owner, Worker) else None


class WakeListener:
    def __init__(self, worker: Worker, redis: Redis) -> None:
        self._worker = worker
        self._pubsub = redis.pubsub()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.subscribe(WAKE_CHANNEL)
        self._task = asyncio.create_task(self._run(), name="wake-listener")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pubsub.aclose()

    async def _run(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except (RedisConnectionError, OSError) as e:
                log.warning("wake listener lost Redis (%r); polling until it is back", e)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisConnectionError, OSError):
                    await self._pubsub.connect()
                continue
            if message is not None:
                await self._handle(message["data"].decode())

    async def _handle(self, notice: str) -> None:
        kind, _, job_id = notice.partition(" ")
        worker = self._worker
        try:
            if kind == "job":
                if worker.allow_pick_jobs and worker.job_counter < worker.max_jobs:
                    await worker.start_jobs([job_id.encode()])
            elif kind == "abort" and job_id in worker.job_tasks:
                await worker._cancel_aborted_jobs()
        except (RedisConnectionError, OSError) as e:
            log.warning("wake-up for %s failed (%r); the poll will pick it up", job_id, e)
