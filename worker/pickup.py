"""How a worker picks jobs up: at once on a wake-up notice, and by a poll that skips running jobs.

arq finds jobs by polling (`poll_delay`): the pick-up wait is U(0, poll_delay), and a small delay
makes idle workers busy (measured: 271 ms median pick-up at the default 0.5 s; 6 % of a core per
idle worker at 0.005 s). Worse, running jobs stay in arq's queue, and every poll of a worker with
a free slot re-checks each of them with three awaited commands (measured: 82 % of a core with 50
running jobs at a 5 ms poll; ~80 us of CPU per awaited command here).

So, on the arq Worker this process runs:
- the web process publishes `job <id>` after each enqueue and `abort <id>` after each cancel;
  the listener claims that job at once, with the same atomic claim arq makes (the in-progress
  key, set only if absent and the job is due) as one script instead of four round trips, and
  claims that arrive together share one round trip; then it starts the job through arq's own
  `run_job` with arq's own bookkeeping;
- the poll (`poll_delay` = WORKER_POLL_SECONDS) stays as the safety net for a missed notice,
  but skips the jobs this worker runs and asks Redis once which of the rest are running
  elsewhere.

arq 0.28 (maintenance-only; arq issue #404) has no hook for either, and the run contract is
`arq worker.main.WorkerSettings`, which builds arq's own Worker. So on start-up this module finds
that Worker as the owner of the task running `Worker.main()`, and replaces `_poll_iteration` on
that one instance. If it cannot find it, it logs why and the worker runs as plain arq.
"""

import asyncio
import contextlib
import logging
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.batching import GroupCommit
from shared.jobs import WAKE_CHANNEL
from shared.redis import RedisLink

log = logging.getLogger(__name__)

# arq's claim (worker.py, start_jobs), as one atomic step: the job must not be in progress and
# must be due; then it is in progress, for arq's own lock time.
CLAIM_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
return score
"""


def running_worker() -> Worker | None:
    """The arq Worker whose `main()` is running the current task, if any."""
    task = asyncio.current_task()
    frame = getattr(task.get_coro() if task else None, "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    return owner if isinstance(owner, Worker) else None


class Pickup:
    def __init__(self, worker: Worker, redis: Redis, link: RedisLink) -> None:
        self._worker = worker
        self._link = link
        self._pubsub = redis.pubsub()
        # Notices that arrive while a batch of claims is in flight share the next batch.
        self._claims: GroupCommit[str] = GroupCommit(self.claim, name="pickup.claim")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.subscribe(WAKE_CHANNEL)
        self._claims.start()
        self._task = asyncio.create_task(self._listen(), name="pickup")
        if not self._worker.burst:
            self._worker._poll_iteration = self.poll_iteration  # type: ignore[method-assign]

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._claims.aclose()
        await self._pubsub.aclose()
        await self._link.aclose()

    def _has_room(self) -> bool:
        worker = self._worker
        return worker.allow_pick_jobs and worker.job_counter < worker.max_jobs

    async def claim(self, job_ids: list[str]) -> None:
        """Claim and start jobs, as arq's start_jobs does, in one round trip for all of them."""
        worker = self._worker
        reserved: list[str] = []
        for job_id in dict.fromkeys(job_ids):
            if not self._has_room():
                break
            if job_id in worker.tasks:
                continue
            await worker.sem.acquire()  # a slot is free, so this does not wait
            worker.job_counter += 1
            reserved.append(job_id)
        if not reserved:
            return
        now, lock_ms = timestamp_ms(), int(worker.in_progress_timeout_s * 1000)
        commands = [
            (
                "EVAL",
                CLAIM_SCRIPT,
                2,
                in_progress_key_prefix + j,
                worker.queue_name,
                j,
                now,
                lock_ms,
            )
            for j in reserved
        ]
        try:
            scores = await self._link.execute(commands)
        except BaseException:
            scores = [None] * len(reserved)
            raise
        finally:
            for job_id, score in zip(reserved, scores, strict=True):
                if score is None or isinstance(score, Exception):
                    worker.job_counter -= 1
                    worker.sem.release()
                else:
                    self._run(job_id, int(float(score)))

    def _run(self, job_id: str, score: int) -> None:
        worker = self._worker
        task = worker.loop.create_task(worker.run_job(job_id, score))
        task.add_done_callback(lambda _: worker._release_sem_dec_counter_on_complete())
        worker.tasks[job_id] = task

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except (RedisError, OSError) as e:
                log.warning("wake-up listener lost Redis (%r); polling until it is back", e)
                await asyncio.sleep(1.0)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.connect()
                continue
            if message is not None:
                await self._handle(message["data"].decode())

    async def _handle(self, notice: str) -> None:
        kind, _, job_id = notice.partition(" ")
        if kind == "job":
            if self._has_room():
                self._claims.add(job_id)
        elif (
            kind == "abort"
            and job_id in self._worker.job_tasks
            and job_id not in self._worker.aborting_tasks
        ):
            try:
                await self._worker._cancel_aborted_jobs()
            except (RedisError, OSError) as e:
                log.warning("abort of %s failed (%r); the poll will retry it", job_id, e)

    async def poll_iteration(self) -> None:
        """arq's `_poll_iteration` (not in burst mode), with the cheaper search for due jobs."""
        worker = self._worker
        if self._has_room():
            due: list[Any] = await worker.pool.zrangebyscore(
                worker.queue_name,
                min=float("-inf"),
                max=timestamp_ms(),
                start=0,
                num=worker.queue_read_limit,
            )
            waiting = [d.decode() for d in due if d.decode() not in worker.tasks]
            if waiting:
                running = await self._link.execute(
                    [("EXISTS", in_progress_key_prefix + job_id) for job_id in waiting]
                )
                await self.claim([j for j, busy in zip(waiting, running, strict=True) if not busy])
        if worker.allow_abort_jobs:
            await worker._cancel_aborted_jobs()
        for job_id, task in list(worker.tasks.items()):
            if task.done():
                del worker.tasks[job_id]
                task.result()  # as arq does: errors in run_job surface here
        await worker.heart_beat()
