"""The queue contract: the job and its payload, submit (admission + enqueue + wake-up), and cancel.

A generation's arq job id is the generation id, so a double submit is a no-op and a cancel can
name the job without a lookup. The keys are in shared/keys.py; arq's part of the layout in
shared/arq_layout.py; the order in which waiting jobs start in shared/fair_queue.py.
"""

import time
from functools import cached_property
from typing import Any, Literal

import orjson
from arq.utils import timestamp_ms
from pydantic import BaseModel
from redis.asyncio import Redis

from shared import arq_layout, fair_queue
from shared.batching import GroupCommit
from shared.keys import Keys
from shared.notices import ABORT, JOB, Notice
from shared.redis import RedisLink

GENERATE = "generate"

# One round trip for what arq's enqueue_job does in three (WATCH, EXISTS, MULTI/EXEC), plus the
# limits of the key and of its end user, the key's token budgets, the queue's bound, the place
# in the fair order, the wake-up and the client count: each awaited Redis command costs
# ~80-110 us of CPU here, and the queue must cost almost nothing. It is atomic, so concurrent
# requests cannot all see room for one more, and a refused request consumes no quota. The
# caller's subscription is checked here too: if Redis had not processed it yet, the caller
# must replay the log once.
#   KEYS: waiting, arq job, arq result, arq queue, clients, key rpm, key active, user rpm,
#         user active, tokens today, tokens this month
#   ARGV: the admission (JSON, see JobSubmitter.submit), the job's payload
#   returns {status, number, listening}: 1 queued (number: depth); 0 exists already; -1 queue
#   full (depth); -2 / -5 the key's / end user's requests per minute (seconds to wait);
#   -3 / -6 the key's / end user's concurrency; -4 a token budget (0: the day's, 1: the month's)
SUBMIT_SCRIPT = arq_layout.LUA_ENQUEUE + fair_queue.LUA_FAIR + """
local a = cjson.decode(ARGV[1])
local now = a.now
local function per_minute(key, limit, code)
  if limit <= 0 then return nil end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 60)
  if redis.call('ZCARD', key) >= limit then
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2]
    return {code, math.ceil(tonumber(oldest) + 60 - now), 0}
  end
end
local function at_once(key, limit, code)
  if limit <= 0 then return nil end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= limit then return {code, 1, 0} end
end
local refused = per_minute(KEYS[6], a.rpm, -2) or per_minute(KEYS[8], a.user_rpm, -5)
  or at_once(KEYS[7], a.concurrency, -3) or at_once(KEYS[9], a.user_concurrency, -6)
if refused then return refused end
if a.tokens_per_day > 0 and tonumber(redis.call('GET', KEYS[10]) or '0') >= a.tokens_per_day then
  return {-4, 0, 0}
end
if a.tokens_per_month > 0
  and tonumber(redis.call('GET', KEYS[11]) or '0') >= a.tokens_per_month then
  return {-4, 1, 0}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', a.expired_before)
local depth = redis.call('ZCARD', KEYS[1])
if depth >= a.max_depth then return {-1, depth, 0} end
if not arq_enqueue(KEYS[2], KEYS[3], KEYS[4], a.id, ARGV[2], a.expires_ms, a.now_ms) then
  return {0, depth, 0}
end
redis.call('ZADD', KEYS[1], now, a.id)
redis.call('SET', KEYS[5], 1, 'EX', a.clients_ttl)
local function count(key, score, window_s, limit)
  if limit <= 0 then return end
  redis.call('ZADD', key, score, a.id)
  redis.call('EXPIRE', key, window_s)
end
count(KEYS[6], now, 61, a.rpm)
count(KEYS[8], now, 61, a.user_rpm)
count(KEYS[7], a.latest_end, math.ceil(a.latest_end - now) + 60, a.concurrency)
count(KEYS[9], a.latest_end, math.ceil(a.latest_end - now) + 60, a.user_concurrency)
fair_enqueue(a.names, a.class, a.owner, a.end_user, a.weight, a.id)
redis.call('PUBLISH', a.wake_channel, a.notice)
local listening = redis.call('PUBSUB', 'NUMSUB', a.live_channel)[2]
return {1, depth + 1, listening}
"""


class GenerationJob(BaseModel):
    """What a worker needs to run one generation; the prompt travels here, not via the database."""

    generation_id: str
    # Ollama's endpoint: /api/generate, /api/chat, or /api/embed (an embedding job).
    kind: Literal["generate", "chat", "embed"] = "generate"
    request: dict[str, Any]  # Ollama's request body, as the dialect translated it
    stream: bool
    queued_at: float = 0.0  # epoch seconds
    api_key_id: str | None = None  # None: the master key
    key_name: str = "master"  # for the metrics of tokens per key
    end_user: str | None = None  # who behind the key asked (OpenAI's `user`, or a header)
    store_content: bool = True
    request_id: str | None = None  # for the worker's log lines

    @property
    def owner(self) -> str:
        return owner_of(self.api_key_id)

    @cached_property
    def prompt(self) -> str:
        """What the record keeps as its prompt: a chat's messages and an embedding job's inputs
        as JSON; never images (records keep text only)."""
        if self.kind == "chat":
            messages = [
                {k: v for k, v in m.items() if k != "images"} if isinstance(m, dict) else m
                for m in self.request.get("messages", [])
            ]
            return orjson.dumps(messages).decode()
        if self.kind == "embed":
            return orjson.dumps(self.inputs).decode()
        return str(self.request.get("prompt", ""))

    @property
    def inputs(self) -> list[Any]:
        """An embedding job's inputs: /api/embed's `input` (a text or a list of them), or the
        older /api/embeddings' one `prompt`; an empty text is none, as Ollama reads it."""
        given = self.request.get("input", self.request.get("prompt"))
        if isinstance(given, list):
            return given
        return [given] if given else []

    @property
    def input_count(self) -> int:
        """An embedding job's number of inputs."""
        return len(self.inputs)

    @property
    def llm_model(self) -> str:
        return str(self.request.get("model"))


class Limits(BaseModel):
    """What a key may ask (0: unlimited), how it is scheduled, and the name it is counted under."""

    owner: str
    rate_limit_rpm: int = 0
    concurrency_limit: int = 0
    end_user: str = ""  # "" when the request names none
    end_user_rate_limit_rpm: int = 0
    end_user_concurrency_limit: int = 0
    tokens_per_day: int = 0
    tokens_per_month: int = 0
    priority: str = fair_queue.DEFAULT_CLASS
    weight: int = 1


class Submitted(BaseModel):
    queued: bool  # False: a job with this id exists already
    full: bool  # the queue is full; nothing was queued
    rate_limited: Literal["key", "end user"] | None  # whose requests per minute are spent
    busy: Literal["key", "end user"] | None  # whose generations at once are all running
    budget: Literal["day", "month"] | None  # the token budget that is spent
    depth: int  # waiting generations (with this one); or, if rate_limited, seconds to wait
    listening: bool  # the caller's subscription was active before the job existed


def owner_of(api_key_id: str | None) -> str:
    """The name a key's limits are kept under in Redis (the master key's: `master`)."""
    return api_key_id or "master"


def usage_periods(now: float) -> tuple[str, str]:
    """The day and the month (UTC) tokens used at `now` count against."""
    day = time.strftime("%Y-%m-%d", time.gmtime(now))
    return day, day[:7]


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
        place in the concurrency counts frees itself even if nobody released it)."""
        keys, gid, owner, user = self._keys, job.generation_id, limits.owner, limits.end_user
        now, now_ms = time.time(), timestamp_ms()
        day, month = usage_periods(now)
        payload = arq_layout.job_payload(GENERATE, job.model_dump(mode="json"), now_ms)
        script_keys = (
            keys.waiting,
            keys.arq_job(gid),
            keys.arq_result(gid),
            keys.arq_queue,
            keys.clients(gid),
            keys.rate(owner),
            keys.active(owner),
            keys.user_rate(owner, user),
            keys.user_active(owner, user),
            keys.usage_day(owner, day),
            keys.usage_month(owner, month),
        )
        admission = {
            "now": now,
            "now_ms": now_ms,
            "expired_before": now - expires_s,
            "max_depth": max_depth,
            "expires_ms": int(expires_s * 1000),
            "id": gid,
            "clients_ttl": clients_ttl_s,
            "wake_channel": keys.wake_channel,
            "live_channel": keys.live(gid),
            "notice": Notice(JOB, gid).encode(),
            "rpm": limits.rate_limit_rpm,
            "concurrency": limits.concurrency_limit,
            "user_rpm": limits.end_user_rate_limit_rpm if user else 0,
            "user_concurrency": limits.end_user_concurrency_limit if user else 0,
            "latest_end": now + longest_s,
            "tokens_per_day": limits.tokens_per_day,
            "tokens_per_month": limits.tokens_per_month,
            "names": keys.fair,
            "class": limits.priority,
            "owner": owner,
            "end_user": user,
            "weight": limits.weight,
        }
        status, number, listening = await self._commit.commit(
            (
                "EVAL",
                SUBMIT_SCRIPT,
                len(script_keys),
                *script_keys,
                orjson.dumps(admission),
                payload,
            )
        )
        return Submitted(
            queued=status == 1,
            full=status == -1,
            rate_limited={-2: "key", -5: "end user"}.get(status),
            busy={-3: "key", -6: "end user"}.get(status),
            budget=("day", "month")[int(number)] if status == -4 else None,
            depth=int(number),
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


async def request_cancel(redis: Redis, keys: Keys, generation_id: str, *, ttl_s: int) -> bool:
    """Ask whichever worker holds the job to abort it; a queued job will never start. True if
    it was still waiting (no worker had started it: nobody else will record its end)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.cancel(generation_id), b"1", ex=ttl_s)
        pipe.execute_command(*arq_layout.abort_command(generation_id))
        pipe.zrem(keys.waiting, generation_id)
        pipe.publish(keys.wake_channel, Notice(ABORT, generation_id).encode())
        _, _, was_waiting, _ = await pipe.execute()
    return bool(was_waiting)
