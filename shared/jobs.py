"""The queue contract: job names and payloads, submit (admission + enqueue + wake-up), cancel.

A generation's arq job id is the generation id, so a double submit is a no-op and a cancel can
name the job without a lookup. Keys, besides arq's own:

    queue:waiting        sorted set: generations queued and not yet started (score: queue time)
    gen:<id>:clients     how many clients are attached to the generation's stream
    gen:<id>:cancel      set when a cancel was asked for
    worker:<id>          a worker's heartbeat (JSON), expiring 3 heartbeats after the last one
    workers              sorted set of live workers (score: last heartbeat)
"""

import time
from collections.abc import Callable
from typing import Any, Literal

import orjson
from arq.connections import ArqRedis
from arq.constants import abort_jobs_ss, default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms
from pydantic import BaseModel

from shared.batching import GroupCommit
from shared.redis import RedisLink

GENERATE = "generate"
WAITING_KEY = "queue:waiting"
HEARTBEATS_KEY = "workers"

# Workers listen here for "a job is waiting" (`job <id>`) and "abort this job" (`abort <id>`), so
# they start and cancel jobs at once instead of at their next poll (see worker/pickup.py).
WAKE_CHANNEL = "queue:wake"

# One round trip for what arq's enqueue_job does in three (WATCH, EXISTS, MULTI/EXEC), plus the
# key's limits, the queue's bound, the wake-up and the client count: each awaited Redis command
# costs ~80-110 us of CPU here, and the queue must cost almost nothing. It writes exactly arq's
# keys (the job under arq:job:<id> in arq's own serialisation, its score in arq:queue) and is
# atomic, so concurrent requests cannot all see room for one more, and a refused request
# consumes no quota. The caller's subscription is checked here too: if Redis had not processed
# it yet, the caller must replay the log once.
SUBMIT_SCRIPT = """
local now = tonumber(ARGV[3])
local rpm = tonumber(ARGV[11])
local concurrency = tonumber(ARGV[12])
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - 60)
  if redis.call('ZCARD', KEYS[6]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')[2]
    return {-2, math.ceil(tonumber(oldest) + 60 - now), 0}
  end
end
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
  if redis.call('ZCARD', KEYS[7]) >= concurrency then return {-3, 1, 0} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local depth = redis.call('ZCARD', KEYS[1])
if depth >= tonumber(ARGV[2]) then return {-1, depth, 0} end
if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return {0, depth, 0} end
redis.call('PSETEX', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[7])
redis.call('SET', KEYS[5], 1, 'EX', ARGV[8])
if rpm > 0 then
  redis.call('ZADD', KEYS[6], now, ARGV[7])
  redis.call('EXPIRE', KEYS[6], 61)
end
if concurrency > 0 then
  redis.call('ZADD', KEYS[7], ARGV[13], ARGV[7])
  redis.call('EXPIRE', KEYS[7], math.ceil(tonumber(ARGV[13]) - now) + 60)
end
redis.call('PUBLISH', ARGV[9], 'job ' .. ARGV[7])
local listening = redis.call('PUBSUB', 'NUMSUB', ARGV[10])[2]
return {1, depth + 1, listening}
"""


class GenerationJob(BaseModel):
    """What a worker needs to run one generation; the prompt travels here, not via the database."""

    generation_id: str
    kind: Literal["generate", "chat"] = "generate"
    request: dict[str, Any]
    stream: bool
    queued_at: float = 0.0  # epoch seconds
    api_key_id: str | None = None  # None: the master key
    store_content: bool = True
    request_id: str | None = None  # for the worker's log lines


class Limits(BaseModel):
    """A key's limits (0: unlimited) and the name they are counted under."""

    owner: str
    rate_limit_rpm: int = 0
    concurrency_limit: int = 0


class Submitted(BaseModel):
    queued: bool  # False: a job with this id exists already
    full: bool  # the queue is full; nothing was queued
    rate_limited: bool  # the key's requests per minute are spent
    busy: bool  # the key has as many generations running as it may
    depth: int  # waiting generations (with this one); or, if rate_limited, seconds to wait
    listening: bool  # the caller's subscription was active before the job existed


def record_prompt(kind: str, request: dict[str, Any]) -> str:
    """What a generation's record keeps as its prompt (a chat: its messages, as JSON)."""
    if kind == "chat":
        return orjson.dumps(request.get("messages", [])).decode()
    return str(request.get("prompt", ""))


def cancel_key(generation_id: str) -> str:
    return f"gen:{generation_id}:cancel"


def clients_key(generation_id: str) -> str:
    return f"gen:{generation_id}:clients"


def heartbeat_key(worker_id: str) -> str:
    return f"worker:{worker_id}"


def owner_of(api_key_id: str | None) -> str:
    return api_key_id or "master"


def rate_key(owner: str) -> str:
    return f"limits:{owner}:rpm"


def active_key(owner: str) -> str:
    """The key's generations not yet ended (score: when they end at the latest)."""
    return f"limits:{owner}:active"


class JobSubmitter:
    """Submits generation jobs: concurrent submissions share one pipeline (group commit)."""

    def __init__(self, link: RedisLink, *, serializer: Callable[[Any], bytes]) -> None:
        self._link = link
        self._serializer = serializer
        self._commit: GroupCommit[tuple[Any, ...]] = GroupCommit(
            self._link.execute, name="jobs.submit"
        )

    def start(self) -> None:
        self._commit.start()

    async def aclose(self) -> None:
        await self._commit.aclose()

    async def submit(
        self,
        job: GenerationJob,
        *,
        max_depth: int,
        expires_s: float,
        clients_ttl_s: int,
        channel: str,
        limits: Limits,
        longest_s: float,
    ) -> Submitted:
        """Admit and queue the job and wake the workers, in one atomic step.

        `longest_s`: how long the generation can take at most, queue included (after that its
        place in the key's concurrency count frees itself even if nobody released it)."""
        now_ms = timestamp_ms()
        payload = serialize_job(
            GENERATE, (job.model_dump(mode="json"),), {}, None, now_ms, serializer=self._serializer
        )
        gid = job.generation_id
        keys = (
            WAITING_KEY,
            job_key_prefix + gid,
            result_key_prefix + gid,
            default_queue_name,
            clients_key(gid),
            rate_key(limits.owner),
            active_key(limits.owner),
        )
        now = time.time()
        args = (
            now - expires_s,
            max_depth,
            now,
            int(expires_s * 1000),
            payload,
            now_ms,
            gid,
            clients_ttl_s,
            WAKE_CHANNEL,
            channel,
            limits.rate_limit_rpm,
            limits.concurrency_limit,
            now + longest_s,
        )
        status, depth, listening = await self._commit.commit(
            ("EVAL", SUBMIT_SCRIPT, len(keys), *keys, *args)
        )
        return Submitted(
            queued=status == 1,
            full=status == -1,
            rate_limited=status == -2,
            busy=status == -3,
            depth=int(depth),
            listening=bool(listening),
        )


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
