"""GatewayWorker: arq's Worker with the project's pick-up, poll and finish, as declared overrides.

arq picks jobs up by polling (`poll_delay`): the pick-up wait is U(0, poll_delay), and a short
delay makes idle workers busy (measured: 271 ms median pick-up at the default 0.5 s; 6 % of a
core per idle worker at 0.005 s). Worse, running jobs stay in arq's queue, and every poll of a
worker with a free slot re-checks each of them with three awaited commands (measured: 82 % of a
core with 50 running jobs at a 5 ms poll; ~80 us of CPU per awaited command here). And each job
ends with a MULTI/EXEC of its own (about 10 % of a worker's CPU at 450 short generations/s).

So this subclass, which `python -m worker` builds the way arq's `create_worker` builds arq's
(`GatewayWorker(**get_kwargs(WorkerSettings))`):
- claims jobs at once on a wake-up notice (worker/pickup.py listens), and when a slot frees
  after a notice found none: the next waiting generations in the fair order
  (shared/fair_queue.py) it has room for, with arq's claim (shared/arq_layout.py), in one round
  trip for all of them; then runs each through arq's own `run_job`, with arq's own slot
  accounting (`sem`, `job_counter`, `tasks`);
- overrides `_poll_iteration`, kept as the safety net for a missed notice: it claims in the
  fair order too, starts a job the order somehow lost once it has waited STRAY_AFTER_MS, and
  outlives a Redis that goes away;
- overrides `finish_job`: arq's transaction, batched with those of jobs that end together
  (worker/finish.py), retried while Redis is briefly away.

arq still owns `run_job` and the process's lifecycle; `arq worker.main.WorkerSettings` runs plain
arq (slower: arq's poll and transactions) with the same tasks. tests/worker/test_arq_worker.py
pins arq's version and every method and attribute this class uses.
"""

import asyncio
import functools
import logging
from collections.abc import Sequence
from typing import Any

import orjson
from arq.typing import StartupShutdown
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.exceptions import RedisError

from shared import arq_layout
from shared.batching import GroupCommit
from shared.config import Settings
from shared.fair_queue import CLAIM_NEXT_SCRIPT
from shared.redis import RedisLink, subscriber
from worker.finish import Finisher
from worker.pickup import WakeUps

log = logging.getLogger(__name__)

# A Redis that went away: how long to wait before the next poll, at most.
POLL_BACKOFF_MAX_SECONDS = 5.0
# How long an end-of-job write is retried while Redis is away. After it the job's keys are left
# for arq's crash recovery (the job runs again after its lock expires, and the task then finds
# its stream ended and does nothing).
FINISH_RETRY_SECONDS = 30.0
# A job in arq's queue that nothing claimed for this long is started by the poll, out of the
# fair order (the order normally claims everything long before).
STRAY_AFTER_MS = 5_000
# How long the release of a failed job's claim is retried while Redis is away.
CLAIM_RELEASE_SECONDS = 60.0


class GatewayWorker(Worker):
    def __init__(
        self,
        *args: Any,
        settings: Settings,
        on_startup: StartupShutdown | None = None,
        on_shutdown: StartupShutdown | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, on_startup=self._startup, on_shutdown=self._shutdown, **kwargs)
        self._settings = settings
        self._keys = settings.keys
        self._fair_names = orjson.dumps(self._keys.fair)
        self._app_startup = on_startup
        self._app_shutdown = on_shutdown
        self._claim_link: RedisLink | None = None
        # Each item: how many waiting generations a claim should look for.
        self._claims: GroupCommit[int] | None = None
        self._finisher: Finisher | None = None
        self._wakeups: WakeUps | None = None
        # A notice came when every slot was taken, or a claim filled them all: when a slot
        # frees, look for the next waiting generation instead of leaving it to the poll.
        self._more_waiting = False
        self._poll_backoff = 0.0
        self._releases: set[asyncio.Task[None]] = set()

    async def _startup(self, ctx: dict[str, Any]) -> None:
        if self._app_startup is not None:
            await self._app_startup(ctx)
        if self.burst:
            return
        self._claim_link = RedisLink(self._settings)
        # Notices that arrive while a claim is in flight share the next one.
        self._claims = GroupCommit(self._claim_next, name="pickup.claim")
        self._claims.start()
        self._finisher = Finisher(RedisLink(self._settings))
        self._finisher.start()
        self._listener = subscriber(self._settings)
        self._wakeups = WakeUps(
            self._listener, self._keys, on_job=self.job_waiting, on_abort=self.abort
        )
        await self._wakeups.start()

    async def _shutdown(self, ctx: dict[str, Any]) -> None:
        # arq awaits every job before this hook runs; a late finish takes arq's own path.
        if self._wakeups is not None:
            await self._wakeups.aclose()
            await self._listener.aclose()
        if self._claims is not None:
            await self._claims.aclose()
        if self._claim_link is not None:
            await self._claim_link.aclose()
        if self._finisher is not None:
            finisher, self._finisher = self._finisher, None
            await finisher.aclose()
        if self._app_shutdown is not None:
            await self._app_shutdown(ctx)

    def _has_room(self) -> bool:
        return self.allow_pick_jobs and self.job_counter < self.max_jobs

    async def _reserve(self, wanted: int) -> int:
        """Take up to `wanted` free slots (arq's semaphore and job counter); how many it took."""
        taken = 0
        while taken < wanted and self._has_room():
            await self.sem.acquire()  # a slot is free, so this does not wait
            self.job_counter += 1
            taken += 1
        return taken

    def _unreserve(self) -> None:
        self._release_sem_dec_counter_on_complete()

    def _run(self, job_id: str, score: int) -> None:
        task = self.loop.create_task(self.run_job(job_id, score))
        task.add_done_callback(functools.partial(self._job_done, job_id))
        self.tasks[job_id] = task

    def _job_done(self, job_id: str, task: "asyncio.Task[None]") -> None:
        self._release_sem_dec_counter_on_complete()
        if not task.cancelled() and isinstance(task.exception(), RedisError | OSError):
            # arq's own bookkeeping failed (Redis went away): the claim would hold the job for
            # arq's whole lock time. Released, the job is claimed again and its task goes on
            # from its replay log (a generation that had streamed text ends with worker_lost).
            release = self.loop.create_task(self._release_claim(job_id))
            self._releases.add(release)
            release.add_done_callback(self._releases.discard)
        if self._more_waiting and self._has_room() and self._claims is not None:
            self._more_waiting = False
            self._claims.add(1)

    async def _release_claim(self, job_id: str) -> None:
        loop = asyncio.get_running_loop()
        deadline, backoff = loop.time() + CLAIM_RELEASE_SECONDS, 0.25
        while True:
            try:
                await self.pool.delete(self._keys.arq_in_progress(job_id))
                log.info("job %s: released its claim after arq's bookkeeping failed", job_id)
                return
            except (RedisError, OSError):
                if loop.time() + backoff > deadline:
                    log.error("job %s: could not release its claim; arq's lock expires", job_id)
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    def job_waiting(self) -> None:
        """A `job` notice: claim the next waiting generation in the fair order (not necessarily
        that one)."""
        if self._has_room() and self._claims is not None:
            self._claims.add(1)
        else:
            self._more_waiting = True

    async def abort(self, job_id: str) -> None:
        """An `abort` notice: if this worker runs the job, cancel it now (arq's own abort)."""
        if job_id in self.job_tasks and job_id not in self.aborting_tasks:
            await self._cancel_aborted_jobs()

    async def _claim_next(self, wanted: list[int]) -> None:
        """Claim and start the next waiting generations (in the fair order) this worker has room
        for: as many as the notices say wait (each notice, and each freed slot, is one), not
        every free slot (measured: reserving and giving back a thousand free slots per claim was
        a quarter of a worker's CPU)."""
        assert self._claim_link is not None
        slots = await self._reserve(min(sum(wanted), self.max_jobs - self.job_counter))
        if not slots:
            self._more_waiting = True
            return
        keys = self._keys
        command = (
            "EVAL",
            CLAIM_NEXT_SCRIPT,
            2,
            keys.waiting,
            keys.arq_queue,
            self._fair_names,
            slots,
            int(self.in_progress_timeout_s * 1000),
            keys.arq_in_progress_prefix,
        )
        claimed: list[Any] = []
        try:
            (reply,) = await self._claim_link.execute([command])
            if isinstance(reply, Exception):
                raise reply
            claimed = reply
        finally:
            pairs = list(zip(claimed[::2], claimed[1::2], strict=True))
            for job_id, score in pairs:
                self._run(job_id.decode(), int(float(score)))
            for _ in range(slots - len(pairs)):
                self._unreserve()
            # Every slot it asked for was filled (more may wait behind them), or a notice came
            # while this claim held the free slots (its job may have been queued after the
            # claim looked): claim again, now or when a slot frees.
            again = self._more_waiting or len(pairs) == slots
            self._more_waiting = False
            if again:
                if self._has_room():
                    self._claims.add(1)  # type: ignore[union-attr]
                else:
                    self._more_waiting = True

    async def claim(self, job_ids: Sequence[str]) -> None:
        """Claim and start these jobs (the poll's), in one round trip for all of them."""
        assert self._claim_link is not None
        waiting = [j for j in dict.fromkeys(job_ids) if j not in self.tasks]
        reserved = waiting[: await self._reserve(len(waiting))]
        if not reserved:
            return
        now, lock_ms = timestamp_ms(), int(self.in_progress_timeout_s * 1000)
        commands = [arq_layout.claim_command(self._keys, j, now, lock_ms) for j in reserved]
        scores: list[Any] = [None] * len(reserved)
        try:
            scores = await self._claim_link.execute(commands)
        finally:
            for job_id, score in zip(reserved, scores, strict=True):
                if score is None or isinstance(score, Exception):
                    self._unreserve()
                else:
                    self._run(job_id, int(float(score)))

    async def _poll_iteration(self) -> None:
        """arq's `_poll_iteration` (not in burst mode), with the cheaper search for due jobs, and
        a lost Redis logged and waited out instead of ending the process."""
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # arq stops the worker by cancelling its main task once; on Python 3.11 a Redis
            # call's timeout (asyncio.wait_for inside redis-py) can swallow that cancellation
            # when its reply lands at the same moment, and the worker would poll on, never
            # exiting (seen in tests/worker/test_main.py about one run in ten).
            raise asyncio.CancelledError
        if self.burst or self._claim_link is None:
            await super()._poll_iteration()
            return
        if self._poll_backoff:
            await asyncio.sleep(self._poll_backoff)
        try:
            await self._poll_once()
        except (RedisError, OSError) as e:
            self._poll_backoff = min(max(self._poll_backoff * 2, 0.25), POLL_BACKOFF_MAX_SECONDS)
            log.warning("poll failed (%r); next try in %.2f s", e, self._poll_backoff)
        else:
            self._poll_backoff = 0.0

    async def _poll_once(self) -> None:
        assert self._claim_link is not None
        if self._has_room() and self._claims is not None:
            # A missed notice: the next waiting generations, in the fair order.
            self._claims.add(self.max_jobs - self.job_counter)
        if self._has_room():
            # A job in arq's queue that the fair order does not hold (it was lost there, or
            # queued by another path) still starts, once it has waited a while.
            due: list[bytes] = await self.pool.zrangebyscore(
                self.queue_name,
                min=float("-inf"),
                max=timestamp_ms() - STRAY_AFTER_MS,
                start=0,
                num=self.queue_read_limit,
            )
            waiting = [d.decode() for d in due if d.decode() not in self.tasks]
            if waiting:
                running = await self._claim_link.execute(
                    [("EXISTS", self._keys.arq_in_progress(job_id)) for job_id in waiting]
                )
                await self.claim([j for j, busy in zip(waiting, running, strict=True) if not busy])
        if self.allow_abort_jobs:
            await self._cancel_aborted_jobs()
        for job_id, task in list(self.tasks.items()):
            if task.done():
                del self.tasks[job_id]
                self._job_outcome(job_id, task)
        await self.heart_beat()

    @staticmethod
    def _job_outcome(job_id: str, task: "asyncio.Task[None]") -> None:
        # arq re-raises here (`task.result()`), which ends the worker: one job's Redis failure
        # would take every running generation with it.
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("job %s: arq's run_job failed: %r", job_id, error)

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        """arq's `finish_job`, same signature and effect; batched, and retried while Redis is
        briefly away."""
        args = (finish, result_data, result_timeout_s, keep_result_forever, incr_score)
        if self._finisher is None:
            await super().finish_job(job_id, *args, keep_in_progress)
            return
        commands = arq_layout.finish_commands(self.queue_name, job_id, *args, keep_in_progress)
        loop = asyncio.get_running_loop()
        deadline, backoff = loop.time() + FINISH_RETRY_SECONDS, 0.1
        while True:
            try:
                await self._finisher.finish(commands)
                return
            except (RedisError, OSError) as e:
                if loop.time() + backoff > deadline:
                    raise
                log.warning("job %s: end-of-job write failed (%r); retrying", job_id, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
