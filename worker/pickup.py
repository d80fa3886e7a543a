"""How a worker picks jobs up: at once on a wake-up notice, and by a poll that skips running jobs.

arq finds jobs by polling (`poll_delay`): the pick-up wait is U(0, poll_delay), and a small delay
makes idle workers busy (measured: 271 ms median pick-up at the default 0.5 s; 6 % of a core per
idle worker at 0.005 s). Worse, running jobs stay in arq's queue, and every poll of a worker with
a free slot re-checks each of them with three awaited commands (measured: 82 % of a core with 50
running jobs at a 5 ms poll; ~80 us of CPU per awaited command here).

So, on the arq Worker this process runs:
- the web process publishes `job <id>` after each enqueue and `abort <id>` after each cancel;
  on a `job` notice, and when a slot frees after a notice found none, the worker claims the
  oldest waiting generations it has room for (the queue is first come, first served), with the
  claim arq makes (the in-progress key, set only if absent and the job is due) in one script
  instead of four round trips per job; notices that arrive together share one round trip;
  then it starts each job through arq's own `run_job`, with arq's own bookkeeping;
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
from shared.jobs import WAITING_KEY, WAKE_CHANNEL
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

# The same claim for the oldest waiting generations (queue:waiting, in queue order) that no one
# has claimed yet, up to ARGV[1] of them; returns id, score, id, score, ... Waiting entries are
# bounded by MAX_QUEUE_DEPTH, and the ones claimed but not yet started are skipped in Redis.
CLAIM_NEXT_SCRIPT = """
local want, now, lock, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local claimed, from = {}, 0
while #claimed < 2 * want do
  local ids = redis.call('ZRANGE', KEYS[1], from, from + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if redis.call('EXISTS', prefix .. id) == 0 then
      local score = redis.call('ZSCORE', KEYS[2], id)
      if score and tonumber(score) <= now then
        redis.call('PSETEX', prefix .. id, lock, '1')
        claimed[#claimed + 1] = id
        claimed[#claimed + 1] = score
        if #claimed >= 2 * want then break end
      end
    end
  end
  from = from + 100
end
return claimed
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
        # Notices that arrive while a claim is in flight share the next one.
        self._claims: GroupCommit[None] = GroupCommit(self._claim_next, name="pickup.claim")
        # A notice came when every slot was taken, or a claim filled them all: when a slot
        # frees, look for the next waiting generation instead of leaving it to the poll.
        self._more_waiting = False
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

    async def _reserve(self, wanted: int) -> int:
        """Take up to `wanted` free slots (arq's semaphore and job counter); how many it took."""
        worker = self._worker
        taken = 0
        while taken < wanted and self._has_room():
            await worker.sem.acquire()  # a slot is free, so this does not wait
            worker.job_counter += 1
            taken += 1
        return taken

    def _unreserve(self) -> None:
        self._worker.job_counter -= 1
        self._worker.sem.release()

    async def claim(self, job_ids: list[str]) -> None:
        """Claim and start these jobs (the poll's), in one round trip for all of them."""
        worker = self._worker
        waiting = [j for j in dict.fromkeys(job_ids) if j not in worker.tasks]
        reserved = waiting[: await self._reserve(len(waiting))]
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
        scores: list[Any] = [None] * len(reserved)
        try:
            scores = await self._link.execute(commands)
        finally:
            for job_id, score in zip(reserved, scores, strict=True):
                if score is None or isinstance(score, Exception):
                    self._unreserve()
                else:
                    self._run(job_id, int(float(score)))

    async def _claim_next(self, _: list[None]) -> None:
        """Claim and start the oldest waiting generations this worker has room for."""
        worker = self._worker
        slots = await self._reserve(worker.max_jobs - worker.job_counter)
        if not slots:
            self._more_waiting = True
            return
        lock_ms = int(worker.in_progress_timeout_s * 1000)
        command = (
            "EVAL",
            CLAIM_NEXT_SCRIPT,
            2,
            WAITING_KEY,
            worker.queue_name,
            slots,
            timestamp_ms(),
            lock_ms,
            in_progress_key_prefix,
        )
        claimed: list[Any] = []
        try:
            (reply,) = await self._link.execute([command])
            if isinstance(reply, Exception):
                raise reply
            claimed = reply
        finally:
            pairs = list(zip(claimed[::2], claimed[1::2], strict=True))
            for job_id, score in pairs:
                self._run(job_id.decode(), int(float(score)))
            for _ in range(slots - len(pairs)):
                self._unreserve()
            # Every slot it asked for was filled: more may be waiting behind them.
            self._more_waiting = len(pairs) == slots

    def _run(self, job_id: str, score: int) -> None:
        worker = self._worker
        task = worker.loop.create_task(worker.run_job(job_id, score))
        task.add_done_callback(self._job_done)
        worker.tasks[job_id] = task

    def _job_done(self, _: "asyncio.Task[None]") -> None:
        self._worker._release_sem_dec_counter_on_complete()
        if self._more_waiting and self._has_room():
            self._more_waiting = False
            self._claims.add(None)

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
            # Not necessarily this job: the oldest that waits (first come, first served).
            if self._has_room():
                self._claims.add(None)
            else:
                self._more_waiting = True
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
