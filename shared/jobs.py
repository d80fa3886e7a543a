"""The queue contract: the job and its payload, submit (admission + enqueue + wake-up), the order
in which waiting jobs are claimed, and cancel.

A generation's arq job id is the generation id, so a double submit is a no-op and a cancel can
name the job without a lookup. The keys are in shared/keys.py; arq's part of the layout in
shared/arq_layout.py.
"""

import time
from functools import cached_property
from typing import Any, Literal

import orjson
from arq.utils import timestamp_ms
from pydantic import BaseModel
from redis.asyncio import Redis

from shared import arq_layout
from shared.batching import GroupCommit
from shared.keys import Keys
from shared.notices import ABORT, JOB, Notice
from shared.redis import RedisLink

GENERATE = "generate"

# One round trip for what arq's enqueue_job does in three (WATCH, EXISTS, MULTI/EXEC), plus the
# key's limits, the queue's bound, the wake-up and the client count: each awaited Redis command
# costs ~80-110 us of CPU here, and the queue must cost almost nothing. It is atomic, so
# concurrent requests cannot all see room for one more, and a refused request consumes no
# quota. The caller's subscription is checked here too: if Redis had not processed it yet, the
# caller must replay the log once.
#   KEYS: waiting, arq job, arq result, arq queue, clients, rate, active
#   ARGV: expired-before (s), max depth, now (s), job expiry (ms), payload, now (ms), id,
#         clients ttl (s), wake channel, live channel, rpm, concurrency, latest end (s),
#         wake notice
SUBMIT_SCRIPT = arq_layout.LUA_ENQUEUE + """
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
if not arq_enqueue(KEYS[2], KEYS[3], KEYS[4], ARGV[7], ARGV[5], ARGV[4], ARGV[6]) then
  return {0, depth, 0}
end
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
redis.call('PUBLISH', ARGV[9], ARGV[14])
local listening = redis.call('PUBSUB', 'NUMSUB', ARGV[10])[2]
return {1, depth + 1, listening}
"""

# The oldest waiting generations (first come, first served) that no one has claimed yet, claimed
# as arq claims a job, up to ARGV[1] of them; returns id, score, id, score, ... Waiting entries
# are bounded by MAX_QUEUE_DEPTH, and the ones claimed but not yet started are skipped in Redis.
#   KEYS: waiting, arq queue;  ARGV: how many, now (ms), lock (ms), in-progress key prefix
CLAIM_NEXT_SCRIPT = arq_layout.LUA_CLAIM + """
local want, now, lock, prefix = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local claimed, from = {}, 0
while #claimed < 2 * want do
  local ids = redis.call('ZRANGE', KEYS[1], from, from + 99)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local score = arq_claim(prefix .. id, KEYS[2], id, now, lock)
    if score then
      claimed[#claimed + 1] = id
      claimed[#claimed + 1] = score
      if #claimed >= 2 * want then break end
    end
  end
  from = from + 100
end
return claimed
"""


class GenerationJob(BaseModel):
    """What a worker needs to run one generation; the prompt travels here, not via the database."""

    generation_id: str
    kind: Literal["generate", "chat"] = "generate"
    request: dict[str, Any]  # Ollama's request body, as the dialect translated it
    stream: bool
    queued_at: float = 0.0  # epoch seconds
    api_key_id: str | None = None  # None: the master key
    store_content: bool = True
    request_id: str | None = None  # for the worker's log lines

    @property
    def owner(self) -> str:
        return owner_of(self.api_key_id)

    @cached_property
    def prompt(self) -> str:
        """What the record keeps as its prompt (a chat: its messages, as JSON)."""
        if self.kind == "chat":
            return orjson.dumps(self.request.get("messages", [])).decode()
        return str(self.request.get("prompt", ""))

    @property
    def llm_model(self) -> str:
        return str(self.request.get("model"))


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


def owner_of(api_key_id: str | None) -> str:
    """The name a key's limits are kept under in Redis (the master key's: `master`)."""
    return api_key_id or "master"


class JobSubmitter:
    """Submits generation jobs: concurrent submissions share one pipeline (group commit)."""

    def __init__(self, link: RedisLink, keys: Keys) -> None:
        self._keys = keys
        self._commit: GroupCommit[tuple[Any, ...]] = GroupCommit(link.execute, name="jobs.submit")

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
        limits: Limits,
        longest_s: float,
    ) -> Submitted:
        """Admit and queue the job and wake the workers, in one atomic step.

        `longest_s`: how long the generation can take at most, queue included (after that its
        place in the key's concurrency count frees itself even if nobody released it)."""
        keys, gid = self._keys, job.generation_id
        now_ms = timestamp_ms()
        payload = arq_layout.job_payload(GENERATE, job.model_dump(mode="json"), now_ms)
        script_keys = (
            keys.waiting,
            keys.arq_job(gid),
            keys.arq_result(gid),
            keys.arq_queue,
            keys.clients(gid),
            keys.rate(limits.owner),
            keys.active(limits.owner),
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
            keys.wake_channel,
            keys.live(gid),
            limits.rate_limit_rpm,
            limits.concurrency_limit,
            now + longest_s,
            Notice(JOB, gid).encode(),
        )
        status, depth, listening = await self._commit.commit(
            ("EVAL", SUBMIT_SCRIPT, len(script_keys), *script_keys, *args)
        )
        return Submitted(
            queued=status == 1,
            full=status == -1,
            rate_limited=status == -2,
            busy=status == -3,
            depth=int(depth),
            listening=bool(listening),
        )


# A resumed stream takes one of the owner's stream places, as many as its concurrency limit:
# replays cost the API real work, and one key must not hold it with a hundred of them.
#   KEYS: resumes;  ARGV: now (s), limit, member, latest end (s)
TAKE_STREAM_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if tonumber(ARGV[2]) > 0 and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[4]) - tonumber(ARGV[1])) + 60)
return 1
"""


async def take_stream_place(
    redis: Redis, keys: Keys, limits: Limits, member: str, *, longest_s: float
) -> bool:
    """Take a place for a resumed stream (False: the owner's are all taken). The place frees
    itself after `longest_s` if nobody releases it."""
    now = time.time()
    taken = await redis.execute_command(
        "EVAL",
        TAKE_STREAM_SCRIPT,
        1,
        keys.resumes(limits.owner),
        now,
        limits.concurrency_limit,
        member,
        now + longest_s,
    )
    return bool(taken)


async def release_stream_place(redis: Redis, keys: Keys, owner: str, member: str) -> None:
    await redis.zrem(keys.resumes(owner), member)


async def request_cancel(redis: Redis, keys: Keys, generation_id: str, *, ttl_s: int) -> None:
    """Ask whichever worker holds the job to abort it; a queued job will never start."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.cancel(generation_id), b"1", ex=ttl_s)
        pipe.execute_command(*arq_layout.abort_command(generation_id))
        pipe.zrem(keys.waiting, generation_id)
        pipe.publish(keys.wake_channel, Notice(ABORT, generation_id).encode())
        await pipe.execute()
