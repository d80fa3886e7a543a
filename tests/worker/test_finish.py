"""The batched `finish_job` against arq's own, on real Redis: the same keys left behind."""

import asyncio

from arq.connections import ArqRedis
from arq.constants import (
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.worker import Worker, func

from shared.redis import RedisLink
from tests.conftest import REDIS_URL
from worker.finish import Finisher

QUEUE = "test:finish:queue"


async def noop(ctx):
    return None


async def enqueued(pool: ArqRedis, job_id: str) -> None:
    """A job as arq leaves it while it runs: queued, its retry count and in-progress lock set."""
    await pool.enqueue_job("noop", _job_id=job_id, _queue_name=QUEUE)
    await pool.zadd(QUEUE, {job_id: 1_000})  # the same score for both, whenever they came
    await pool.set(in_progress_key_prefix + job_id, b"1", px=60_000)
    await pool.set(retry_key_prefix + job_id, b"1")


async def left_behind(pool: ArqRedis, job_id: str) -> dict[str, object]:
    """Every key about `job_id`, with its value and whether it expires, named neutrally."""
    state: dict[str, object] = {}
    for key in sorted(await pool.keys("*")):
        name = key.decode()
        if job_id in name:
            ttl = await pool.pttl(key)
            # The job's own data holds its enqueue time; the rest must match byte for byte.
            value = None if name.startswith(job_key_prefix) else await pool.get(key)
            state[name.replace(job_id, "ID")] = (value, ttl > 0)
    state["queue score"] = await pool.zscore(QUEUE, job_id)
    return state


async def test_batched_finish_leaves_what_arqs_own_leaves(redis):
    pool = ArqRedis.from_url(REDIS_URL)
    worker = Worker(functions=[func(noop, name="noop")], redis_pool=pool, queue_name=QUEUE)
    finisher = Finisher(worker, RedisLink(REDIS_URL))
    finisher.start()
    cases = [  # (finish, result_data, result_timeout_s, forever, incr_score, keep_in_progress)
        (True, None, 0, False, None, None),
        (True, b"result", 30, False, None, None),
        (True, b"result", 30, True, None, None),
        (False, None, 30, False, 5_000, None),  # a retry: back in the queue, later
        (False, None, 30, False, None, 10.0),  # arq keeps the lock for a while
    ]
    try:
        for n, case in enumerate(cases):
            theirs, ours = f"arq-{n}", f"ours-{n}"
            await enqueued(pool, theirs)
            await enqueued(pool, ours)
            await Worker.finish_job(worker, theirs, *case)  # arq's own, not the replacement
            await worker.finish_job(ours, *case)
            assert await left_behind(pool, ours) == await left_behind(pool, theirs), case
        # Jobs that end together share one write and still each get their own transaction.
        ids = [f"many-{i}" for i in range(20)]
        for job_id in ids:
            await enqueued(pool, job_id)
        await asyncio.gather(*(worker.finish_job(j, *cases[1]) for j in ids))
        for job_id in ids:
            assert await pool.get(result_key_prefix + job_id) == b"result"
            assert await pool.zscore(QUEUE, job_id) is None
            assert not await pool.exists(in_progress_key_prefix + job_id)
    finally:
        await finisher.aclose()
        await pool.aclose()
