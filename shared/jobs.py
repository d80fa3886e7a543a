"""The queue contract: job names, job payloads, enqueue with wake-up, cancel.

A generation's arq job id is the generation id, so a double submit is a no-op and a cancel can
name the job without a lookup.
"""

from typing import Any, Literal

from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from pydantic import BaseModel

GENERATE = "generate"

# Workers listen here for "a job is waiting" (`job <id>`) and "abort this job" (`abort <id>`), so
# they start and cancel jobs at once instead of at their next poll (see worker/wake.py).
WAKE_CHANNEL = "queue:wake"


class GenerationJob(BaseModel):
    """What a worker needs to run one generation; the prompt travels here, not via the database."""

    generation_id: str
    kind: Literal["generate", "chat"] = "generate"
    request: dict[str, Any]
    stream: bool


def cancel_key(generation_id: str) -> str:
    return f"gen:{generation_id}:cancel"


async def enqueue_generation(redis: ArqRedis, job: GenerationJob, *, expires_s: float) -> bool:
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
    await redis.publish(WAKE_CHANNEL, f"job {job.generation_id}")
    return True


async def request_cancel(redis: ArqRedis, generation_id: str, *, ttl_s: int) -> None:
    """Ask whichever worker holds the job to abort it; a queued job will never start."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(cancel_key(generation_id), b"1", ex=ttl_s)
        # arq's own abort mechanism (allow_abort_jobs): the worker cancels the job's task.
        pipe.zadd(abort_jobs_ss, {generation_id: timestamp_ms()})
        pipe.publish(WAKE_CHANNEL, f"abort {generation_id}")
        await pipe.execute()
