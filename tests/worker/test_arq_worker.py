"""GatewayWorker's contract with arq: the pinned version, every method it overrides or calls,
every attribute it reads, and arq's slot accounting, run for real on Redis.

An arq upgrade that renames or re-signs any of these fails here first, loudly, instead of
silently (a renamed `_poll_iteration` would no longer be called; a changed `sem` would
oversubscribe or stall the worker).
"""

import asyncio
import inspect
import itertools
import re
import uuid
from pathlib import Path

import arq
import pytest
from arq import constants
from arq.connections import ArqRedis
from arq.worker import Worker, func

from shared import arq_layout
from shared.config import Settings
from shared.jobs import GENERATE, GenerationJob, JobSubmitter, Limits
from shared.keys import Keys
from shared.redis import RedisLink
from simulator.script import tokens_for
from tests.conftest import REDIS_URL, namespace
from tests.helpers import OpenStream, directive, eventually, final_record, sim_records, unique
from tests.processes import ROOT
from worker.arq_worker import GatewayWorker

OVERRIDDEN = ("_poll_iteration", "finish_job")
# arq's methods GatewayWorker calls, with the parameters it passes.
CALLED = {
    "run_job": ["self", "job_id", "score"],
    "_cancel_aborted_jobs": ["self"],
    "_release_sem_dec_counter_on_complete": ["self"],
    "heart_beat": ["self"],
}
# arq's attributes GatewayWorker reads or updates.
ATTRIBUTES = (
    "sem",
    "job_counter",
    "max_jobs",
    "tasks",
    "job_tasks",
    "aborting_tasks",
    "allow_pick_jobs",
    "allow_abort_jobs",
    "queue_name",
    "queue_read_limit",
    "in_progress_timeout_s",
    "burst",
    "loop",
    "pool",
    "ctx",
    "on_startup",
    "on_shutdown",
)


async def probe(ctx, payload):
    return None


def test_arq_is_the_pinned_version():
    assert arq.VERSION == arq_layout.ARQ_VERSION == "0.28.0"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"arq \(==0\.28\.0\)"', pyproject), "pyproject pins the same arq"


@pytest.mark.parametrize("name", OVERRIDDEN)
def test_overrides_keep_arqs_signatures(name):
    assert name in GatewayWorker.__dict__, "a declared override"
    assert inspect.signature(getattr(GatewayWorker, name)) == inspect.signature(
        getattr(Worker, name)
    )


def test_arq_calls_what_is_overridden():
    main, run_job = inspect.getsource(Worker.main), inspect.getsource(Worker.run_job)
    assert "await self._poll_iteration()" in main
    assert "await self.on_startup(self.ctx)" in main
    assert "self.finish_job(" in run_job
    assert "await self.on_shutdown(self.ctx)" in inspect.getsource(Worker.close)


@pytest.mark.parametrize("name", CALLED)
def test_called_methods_keep_their_parameters(name):
    assert list(inspect.signature(getattr(Worker, name)).parameters) == CALLED[name]


def test_the_attributes_used_exist_with_their_meaning():
    worker = Worker(functions=[func(probe, name="probe")], max_jobs=3, handle_signals=False)
    for name in ATTRIBUTES:
        assert hasattr(worker, name), name
    # The slot accounting GatewayWorker._reserve relies on: one more permit than jobs, and a
    # counter it raises and arq lowers.
    assert isinstance(worker.sem, asyncio.BoundedSemaphore)
    assert worker.sem._value == worker.max_jobs + 1
    assert worker.job_counter == 0
    assert isinstance(worker.tasks, dict) and isinstance(worker.job_tasks, dict)
    source = inspect.getsource(Worker._release_sem_dec_counter_on_complete)
    assert "self.job_counter - 1" in source and "self.sem.release()" in source


def test_arqs_key_names_are_the_layout_mirrored():
    assert constants.job_key_prefix == "arq:job:"
    assert constants.in_progress_key_prefix == "arq:in-progress:"
    assert constants.retry_key_prefix == "arq:retry:"
    assert constants.result_key_prefix == "arq:result:"
    assert constants.abort_jobs_ss == "arq:abort"
    assert Keys.arq_job("x") == "arq:job:x" and Keys.arq_abort == "arq:abort"
    # run_job reads exactly the keys the submit script writes.
    run_job = inspect.getsource(Worker.run_job)
    assert "pipe.get(job_key_prefix + job_id)" in run_job
    assert "pipe.zrem(abort_jobs_ss, job_id)" in run_job


def test_no_module_finds_arq_by_introspection_or_patches_it():
    for path in [*ROOT.glob("web/**/*.py"), *ROOT.glob("worker/**/*.py")]:
        text = path.read_text()
        assert "cr_frame" not in text and "f_locals" not in text, path
        assert "method-assign" not in text, path
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("simulator/**/*.py")]:
        assert "cr_frame" not in Path(path).read_text(), path


async def test_slots_are_never_oversubscribed_and_all_come_back(redis):
    """Six jobs on two slots, started by wake-up notices: never more than two at once, every
    job runs once, and arq's counter and semaphore end where they began."""
    keys = Keys(namespace(f"slots-{uuid.uuid4().hex[:4]}"))
    settings = Settings(_env_file=None, REDIS_URL=REDIS_URL, REDIS_NAMESPACE=keys.namespace)
    running, peak, ran = 0, 0, []

    async def generate(ctx, payload):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)
        running -= 1
        ran.append(payload["generation_id"])

    pool = ArqRedis.from_url(REDIS_URL)
    worker = GatewayWorker(
        functions=[func(generate, name=GENERATE)],
        redis_pool=pool,
        queue_name=keys.arq_queue,
        settings=settings,
        max_jobs=2,
        poll_delay=30,  # only the notices and freed slots start jobs
        keep_result=0,
        job_serializer=arq_layout.serialize_job,
        job_deserializer=arq_layout.deserialize_job,
        handle_signals=False,
    )
    link = RedisLink(settings)
    submitter = JobSubmitter(link, keys)
    submitter.start()
    run = asyncio.create_task(worker.async_run())
    try:
        await eventually(lambda: _subscribed(redis, keys))
        ids = [str(uuid.uuid4()) for _ in range(6)]
        for gid in ids:
            job = GenerationJob(
                generation_id=gid, request={"model": "m", "prompt": "p"}, stream=False
            )
            submitted = await submitter.submit(
                job,
                max_depth=10,
                expires_s=60,
                clients_ttl_s=60,
                limits=Limits(owner="o"),
                longest_s=60,
            )
            assert submitted.queued
        assert await eventually(lambda: _done(ran, 6), timeout=10)
        assert sorted(ran) == sorted(ids), "each job ran exactly once"
        assert peak == 2, "both slots used, never a third"
        await eventually(lambda: _idle(worker))
        assert worker.job_counter == 0 and worker.sem._value == worker.max_jobs + 1
    finally:
        run.cancel()
        await asyncio.gather(run, *worker.tasks.values(), return_exceptions=True)
        # What arq's close() does, but for its deprecated pool.close().
        await worker.on_shutdown(worker.ctx)
        await pool.aclose()
        await submitter.aclose()
        await link.aclose()
        leftovers = [k async for k in redis.scan_iter(match=f"{keys.namespace}:*")]
        if leftovers:
            await redis.delete(*leftovers)


async def _subscribed(redis, keys: Keys) -> bool:
    return (await redis.pubsub_numsub(keys.wake_channel))[0][1] > 0


async def _done(ran: list[str], n: int) -> bool:
    return len(ran) >= n


async def _idle(worker: GatewayWorker) -> bool:
    return worker.job_counter == 0 and all(t.done() for t in worker.tasks.values())


@pytest.mark.e2e
async def test_waiting_generations_start_in_order_as_slots_free(lab, sim, sessions):
    # One slot, and a poll too slow to matter: what starts the waiting jobs is the freed slot.
    lab.start_worker(WORKER_CONCURRENCY=1, WORKER_POLL_SECONDS=60)
    blocker = directive(n=10, rate=10) + unique("blocker")
    first = asyncio.create_task(lab.http.post("/api/v1/generate", json={"prompt": blocker}))
    assert await eventually(lambda: sim_records(sim, blocker))
    waiting = []
    for n in range(3):  # queued one after the other, while the slot is taken
        prompt = directive(n=2, rate=50) + unique(f"waiting-{n}")
        body = {"prompt": prompt}
        waiting.append(asyncio.create_task(lab.http.post("/api/v1/generate", json=body)))
        assert await eventually(lambda n=n: _depth_is(lab, n + 1))
    answers = [await task for task in [first, *waiting]]
    assert [a.status_code for a in answers] == [200] * 4
    rows = [await final_record(sessions, a.json()["id"]) for a in answers]
    started = [row.started_at for row in rows]
    assert started == sorted(started), "the waiting ones started in the order they came"
    # Each started as soon as the one before it ended, not at the next poll (60 s away).
    for before, after in itertools.pairwise(rows):
        assert (after.started_at - before.finished_at).total_seconds() < 10


async def _depth_is(lab, n: int) -> bool:
    return await lab.redis.zcard(lab.keys.waiting) == n


@pytest.mark.e2e
async def test_a_redis_cut_does_not_end_the_worker_and_its_generation_finishes(
    lab, redis_proxy, sessions
):
    # The worker's Redis goes away for 3 s mid-stream (only the worker's: a proxy in front). Its
    # heartbeat (every 2 s, dead after 6 s) outlives the cut, so the generation must go on: the
    # worker polls, publishes and files its job again once Redis is back.
    worker = await asyncio.to_thread(
        lab.start_worker, REDIS_URL=redis_proxy.redis_url, WORKER_HEARTBEAT_SECONDS=2
    )
    text = unique()
    prompt = directive(n=40, rate=10) + text
    async with OpenStream(
        lab.http, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(5)
        redis_proxy.cut()
        await asyncio.sleep(3)
        await redis_proxy.heal()
        rest = await s.rest()
    assert rest.events[-1].json() == {}, rest.raw[-300:]
    assert rest.text == "".join(tokens_for(text, 40)), "every token, once, in order"
    assert (await final_record(sessions, s.generation_id)).status == "succeeded"
    assert worker.proc.poll() is None, "the worker is still running"
    after = await lab.http.post("/api/v1/generate", json={"prompt": unique()})
    assert after.status_code == 200, "and serves the next generation"
