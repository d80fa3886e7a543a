"""The batched `finish_job` against arq's own, on real Redis: the same keys left behind."""

import asyncio

from arq.connections import ArqRedis
from arq.worker import Worker, func

from shared.config import Settings
from shared.keys import Keys
from tests.conftest import REDIS_URL
from worker.arq_worker import GatewayWorker


async def noop(ctx):
    return None


async def enqueued(pool: ArqRedis, queue: str, job_id: str) -> None:
    """A job as arq leaves it while it runs: queued, its retry count and in-progress lock set."""
    await pool.enqueue_job("noop", _job_id=job_id, _queue_name=queue)
    await pool.zadd(queue, {job_id: 1_000})  # the same score for both, whenever they came
    await pool.set(Keys.arq_in_progress(job_id), b"1", px=60_000)
    await pool.set(Keys.arq_retry(job_id), b"1")


async def left_behind(pool: ArqRedis, queue: str, job_id: str) -> dict[str, object]:
    """Every key about `job_id`, with its value and whether it expires, named neutrally."""
    state: dict[str, object] = {}
    for key in sorted(await pool.keys(f"*{job_id}*")):
        name = key.decode()
        ttl = await pool.pttl(key)
        # The job's own data holds its enqueue time; the rest must match byte for byte.
        value = None if name == Keys.arq_job(job_id) else await pool.get(key)
        state[name.replace(job_id, "ID")] = (value, ttl > 0)
    state["queue score"] = await pool.zscore(queue, job_id)
    return state


async def test_batched_finish_leaves_what_arqs_own_leaves(redis, keys):
    pool = ArqRedis.from_url(REDIS_URL)
    queue = f"{keys.namespace}:finish:queue"
    worker = GatewayWorker(
        functions=[func(noop, name="noop")],
        redis_pool=pool,
        queue_name=queue,
        settings=Settings(_env_file=None, REDIS_URL=REDIS_URL, REDIS_NAMESPACE=keys.namespace),
        handle_signals=False,
    )
    await worker.on_startup(worker.ctx)  # what arq's main() calls: the batched paths start
    cases = [  # (finish, result_data, result_timeout_s, forever, incr_score, keep_in_progress)
        (True, None, 0, False, None, None),
        (True, b"result", 30, False, None, None),
        (True, b"result", 30, True, None, None),
        (False, None, 30, False, 5_000, None),  # a retry: back in the queue, later
        (False, None, 30, False, None, 10.0),  # arq keeps the lock for a while
    ]
    try:
        for n, case in enumerate(cases):
            theirs, ours = f"arq-{n}-{keys.namespace}", f"ours-{n}-{keys.namespace}"
            await enqueued(pool, queue, theirs)
            await enqueued(pool, queue, ours)
            await Worker.finish_job(worker, theirs, *case)  # arq's own, not the override
            await worker.finish_job(ours, *case)
            assert await left_behind(pool, queue, ours) == await left_behind(
                pool, queue, theirs
            ), case
        # Jobs that end together share one write and still each get their own transaction.
        ids = [f"many-{i}-{keys.namespace}" for i in range(20)]
        for job_id in ids:
            await enqueued(pool, queue, job_id)
        await asyncio.gather(*(worker.finish_job(j, *cases[1]) for j in ids))
        for job_id in ids:
            assert await pool.get(Keys.arq_result(job_id)) == b"result"
            assert await pool.zscore(queue, job_id) is None
            assert not await pool.exists(Keys.arq_in_progress(job_id))
    finally:
        await worker.on_shutdown(worker.ctx)
        leftovers = await pool.keys(f"*{keys.namespace}*")
        if leftovers:
            await pool.delete(*leftovers)
        await pool.aclose()
