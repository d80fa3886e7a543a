"""The queue contract: job names and payloads, admission, enqueue with wake-up, cancel.

A generation's arq job id is the generation id, so a double submit is a no-op and a cancel can
name the job without a lookup. Keys, besides arq's own:

    queue:waiting        sorted set: generations admitted and not yet started (score: admit time)
    gen:<id>:clients     how many clients are attached to the generation's stream
    gen:<id>:cancel      set when a cancel was asked for; a worker checks it before it starts
    worker:<id>          a worker's heartbeat (JSON), expiring 3 heartbeats after the last one
"""

import time
from typing import Any, Literal

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from pydantic import BaseModel

GENERATE = "generate"
WAITING_KEY = "queue:waiting"
HEARTBEATS_KEY = "workers"

# Workers listen here for "a job is waiting" (`job <id>`) and "abort this job" (`abort <id>`), so
# they start and cancel jobs at once instead of at their next poll (see worker/wake.py).
WAKE_CHANNEL = "queue:wake"

# Admission is one atomic step, so that concurrent requests cannot all see room for one more:
# forget entries older than the queue timeout (their jobs expired), then add if there is room.
ADMIT_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local depth = redis.call('ZCARD', KEYS[1])
if depth >= tonumber(ARGV[2]) then return -depth end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return depth + 1
"""


class GenerationJob(BaseModel):
    """What a worker needs to run one generation; the prompt travels here, not via the database."""

    generation_id: str
    kind: Literal["generate", "chat"] = "generate"
    request: dict[str, Any]
    stream: bool


def cancel_key(generation_id: str) -> str:
    return f"gen:{generation_id}:cancel"


def clients_key(generation_id: str) -> str:
    return f"gen:{generation_id}:clients"


def heartbeat_key(worker_id: str) -> str:
    return f"worker:{worker_id}"


async def admit(redis: ArqRedis, generation_id: str, *, max_depth: int, timeout_s: float) -> int:
    """Reserve a place in the queue: the new depth, or minus the depth if the queue is full."""
    now = time.time()
    result = await redis.eval(
        ADMIT_SCRIPT, 1, WAITING_KEY, now - timeout_s, max_depth, now, generation_id
    )
    return int(result)


async def leave_queue(redis: ArqRedis, generation_id: str) -> None:
    await redis.zrem(WAITING_KEY, generation_id)


async def enqueue_generation(
    redis: ArqRedis, job: GenerationJob, *, expires_s: float, clients_ttl_s: int
) -> bool:
    """Queue the job and wake the workers; False if a job with this id exists already."""
    queued = await redis.enqueue_job(
        GENERATE,
        job.model_dump(mode="json"),
        _job_id=job.generation_id,
        # A job nobody picked up in time never starts late: arq fails it as expired.
        _expires=expires_s,
    )
    if queued is None:
        return False
    async with redis.pipeline(transaction=False) as pipe:
        pipe.publish(WAKE_CHANNEL, f"job {job.generation_id}")
        # The submitting request is the first client attached to the stream.
        pipe.set(clients_key(job.generation_id), 1, ex=clients_ttl_s)
        await pipe.execute()
    return True


async def request_cancel(redis: ArqRedis, generation_id: str, *, ttl_s: int) -> None:
    """Ask whichever worker holds the job to abort it; a queued job will never start."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(cancel_key(generation_id), b"1", ex=ttl_s)
        # arq's own abort mechanism (allow_abort_jobs): the worker cancels the job's task, or
        # fails a queued job at pick-up without running it.
        pipe.zadd(abort_jobs_ss, {generation_id: timestamp_ms()})
        pipe.zrem(WAITING_KEY, generation_id)
        pipe.publish(WAKE_CHANNEL, f"abort {generation_id}")
        await pipe.execute()
