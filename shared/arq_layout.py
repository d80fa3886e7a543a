"""Everything here mirrors arq 0.28.0's Redis layout; nothing else in the project writes it.

What arq still owns: running a job (`Worker.run_job`: it reads the job key, counts tries,
honours the abort set, calls the task with its timeout, serialises the outcome), the process's
lifecycle (start-up and shut-down hooks, signals, the drain on SIGTERM, the health key) and the
plain `arq worker.main.WorkerSettings` way to run a worker.

What the project owns, because arq has no hook for it and its own path costs what the README's
performance section measured (271 ms median pick-up at arq's 0.5 s poll; three awaited commands
per waiting job on every poll; one MULTI/EXEC per enqueue, claim and finish):
- enqueue: one script that admits a job (limits, queue bound) and writes arq's keys
  (shared/jobs.py);
- claim: a script that takes a job the way arq's `start_jobs` does (the in-progress key, set
  only if absent and the job is due), for many jobs in one round trip (worker/arq_worker.py);
- finish: arq's end-of-job transaction, command for command, with the transactions of jobs that
  end together sent in one write (worker/finish.py);
- abort: arq's abort set entry, written with the rest of a cancel (shared/jobs.py).

arq's layout, as 0.28.0 writes and reads it:

    arq:job:<id>          the job (arq's serialisation, here JSON), expiring when it may no
                          longer start
    <queue_name>          sorted set: job id -> when it is due, in ms (arq never removes a job
                          from it before the job ends)
    arq:in-progress:<id>  a worker runs it (PSETEX for the job's timeout + 10 s)
    arq:retry:<id>        how many tries it had
    arq:result:<id>       its result (keep_result = 0 here: never written)
    arq:abort             sorted set: job ids to abort -> when it was asked, in ms

tests/worker/test_arq_worker.py pins the version and every signature and attribute used, so an
arq upgrade fails loudly there first.
"""

from typing import Any

import orjson
from arq.jobs import serialize_job as arq_serialize_job
from arq.utils import timestamp_ms, to_ms

from shared.keys import Keys

ARQ_VERSION = "0.28.0"

Command = tuple[Any, ...]

# arq's `enqueue_job` as a Lua function for the submit script: refuse a job whose key or result
# exists (a double submit), else write the job with its expiry and its score in the queue.
LUA_ENQUEUE = """
local function arq_enqueue(job_key, result_key, queue_key, job_id, payload, expires_ms, score_ms)
  if redis.call('EXISTS', job_key, result_key) > 0 then return false end
  redis.call('PSETEX', job_key, expires_ms, payload)
  redis.call('ZADD', queue_key, score_ms, job_id)
  return true
end
"""

# arq's claim (`Worker.start_jobs`) as a Lua function: the job must not be in progress and must be
# due; then it is in progress, for arq's own lock time. Returns the job's score, or false.
LUA_CLAIM = """
local function arq_claim(in_progress_key, queue_key, job_id, now_ms, lock_ms)
  if redis.call('EXISTS', in_progress_key) == 1 then return false end
  local score = redis.call('ZSCORE', queue_key, job_id)
  if not score or tonumber(score) > tonumber(now_ms) then return false end
  redis.call('PSETEX', in_progress_key, lock_ms, '1')
  return score
end
"""

# One job, as the poll finds it: KEYS in-progress key, queue; ARGV job id, now (ms), lock (ms).
CLAIM_SCRIPT = LUA_CLAIM + "return arq_claim(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])\n"


def serialize_job(data: object) -> bytes:
    # JSON, not arq's default pickle: whoever can write to Redis must not run code in our
    # processes. `default=repr` keeps arq's failure results (exceptions) serialisable.
    return orjson.dumps(data, default=repr)


def deserialize_job(data: bytes) -> dict[str, Any]:
    job: dict[str, Any] = orjson.loads(data)
    return job


def job_payload(function: str, argument: object, enqueue_ms: int) -> bytes:
    """The job key's value for `function(ctx, argument)`, exactly as arq's enqueue writes it."""
    return arq_serialize_job(function, (argument,), {}, None, enqueue_ms, serializer=serialize_job)


def abort_command(job_id: str) -> Command:
    """arq's abort (allow_abort_jobs): the worker running it cancels its task, and a queued job
    is failed at pick-up without running."""
    return ("ZADD", Keys.arq_abort, timestamp_ms(), job_id)


def claim_command(keys: Keys, job_id: str, now_ms: int, lock_ms: int) -> Command:
    return (
        "EVAL",
        CLAIM_SCRIPT,
        2,
        keys.arq_in_progress(job_id),
        keys.arq_queue,
        job_id,
        now_ms,
        lock_ms,
    )


def finish_commands(
    queue_name: str,
    job_id: str,
    finish: bool,
    result_data: bytes | None,
    result_timeout_s: float | None,
    keep_result_forever: bool,
    incr_score: int | None,
    keep_in_progress: float | None,
) -> list[Command]:
    """What arq 0.28's `Worker.finish_job` sends inside its transaction, command for command."""
    commands: list[Command] = []
    delete_keys: list[str] = []
    if keep_in_progress is None:
        delete_keys.append(Keys.arq_in_progress(job_id))
    else:
        commands.append(("PEXPIRE", Keys.arq_in_progress(job_id), to_ms(keep_in_progress)))
    if finish:
        if result_data:
            expire = None if keep_result_forever else to_ms(result_timeout_s)
            if expire:
                commands.append(("SET", Keys.arq_result(job_id), result_data, "PX", expire))
            else:
                commands.append(("SET", Keys.arq_result(job_id), result_data))
        delete_keys += [Keys.arq_retry(job_id), Keys.arq_job(job_id)]
        commands.append(("ZREM", Keys.arq_abort, job_id))
        commands.append(("ZREM", queue_name, job_id))
    elif incr_score:
        commands.append(("ZINCRBY", queue_name, incr_score, job_id))
    if delete_keys:
        commands.append(("DEL", *delete_keys))
    return commands
