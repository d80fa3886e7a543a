"""The fair order, on real Redis: between keys (by weight), between a key's end users, between
priority classes, starvation-free; the order that positions are told from is the order jobs
are claimed in."""

import random
import time
import uuid

import orjson
import pytest

from shared.config import Settings
from shared.fair_queue import CLAIM_NEXT_SCRIPT, ORDER_SCRIPT
from shared.jobs import GenerationJob, JobSubmitter, Limits
from shared.keys import Keys
from shared.redis import RedisLink
from tests.conftest import REDIS_URL, namespace


@pytest.fixture
async def queue(redis):
    """`queue.add(owner, user="", priority="standard", weight=1) -> id`, `queue.claim(n)`,
    `queue.order()` on a namespace of its own."""
    keys = Keys(namespace(f"fair-{uuid.uuid4().hex[:6]}"))
    link = RedisLink(Settings(_env_file=None, REDIS_URL=REDIS_URL))
    submitter = JobSubmitter(link, keys)
    submitter.start()

    class Queue:
        async def add(self, owner, user="", priority="standard", weight=1) -> str:
            gid = str(uuid.uuid4())
            job = GenerationJob(generation_id=gid, request={"model": "m"}, stream=False)
            limits = Limits(owner=owner, end_user=user, priority=priority, weight=weight)
            submitted = await submitter.submit(
                job, max_depth=10_000, expires_s=600, clients_ttl_s=60, limits=limits, longest_s=60
            )
            assert submitted.queued
            self.owner_of[gid] = owner
            self.user_of[gid] = user
            return gid

        async def claim(self, n: int) -> list[str]:
            (reply,) = await link.execute(
                [
                    (
                        "EVAL",
                        CLAIM_NEXT_SCRIPT,
                        2,
                        keys.waiting,
                        keys.arq_queue,
                        orjson.dumps(keys.fair),
                        n,
                        60_000,
                        keys.arq_in_progress_prefix,
                    )
                ]
            )
            claimed = [gid.decode() for gid in reply[::2]]
            if claimed:  # as a worker's start event does: they wait no longer
                await redis.zrem(keys.waiting, *claimed)
            return claimed

        async def order(self) -> list[str]:
            got = await redis.eval(
                ORDER_SCRIPT, 1, keys.waiting, orjson.dumps(keys.fair).decode(), 10_000
            )
            return [gid.decode() for gid in got]

    q = Queue()
    q.owner_of, q.user_of, q.keys = {}, {}, keys
    yield q
    await submitter.aclose()
    await link.aclose()
    leftovers = [k async for k in redis.scan_iter(match=f"{keys.namespace}:*")]
    arq_keys = [Keys.arq_job(g) for g in q.owner_of] + [Keys.arq_in_progress(g) for g in q.owner_of]
    for batch in (leftovers, arq_keys):
        if batch:
            await redis.delete(*batch)


async def test_a_quiet_key_is_not_stuck_behind_a_flood(queue):
    for _ in range(40):
        await queue.add("flood")
    quiet = [await queue.add("quiet") for _ in range(4)]
    first_ten = await queue.claim(10)
    assert set(quiet) <= set(first_ten), "the quiet key's 4 start among the first 10, not 41-44"
    owners = [queue.owner_of[g] for g in first_ten[:8]]
    assert owners.count("quiet") == 4 and owners.count("flood") == 4, "they alternate"


async def test_end_users_of_one_key_share_it_fairly(queue):
    for _ in range(30):
        await queue.add("shared-key", user="batch-user")
    others = [await queue.add("shared-key", user=f"person-{i}") for i in range(3)]
    first = await queue.claim(6)
    assert set(others) <= set(first)


async def test_weight_is_a_share(queue):
    for _ in range(30):
        await queue.add("heavy", weight=3)
        await queue.add("light", weight=1)
    owners = [queue.owner_of[g] for g in await queue.claim(20)]
    assert owners.count("heavy") == 15 and owners.count("light") == 5


async def test_interactive_goes_first_and_batch_still_progresses(queue):
    for _ in range(40):
        await queue.add("nightly", priority="batch")
    for _ in range(40):
        await queue.add("chat", priority="interactive")
    owners = [queue.owner_of[g] for g in await queue.claim(34)]
    assert owners.count("chat") == 32 and owners.count("nightly") == 2  # 16 : 1


async def test_a_newly_active_key_earns_no_credit_for_being_idle(queue):
    for _ in range(10):
        await queue.add("early")
    await queue.claim(6)  # early ran alone for a while
    late = [await queue.add("late") for _ in range(10)]
    claimed = await queue.claim(8)
    owners = [queue.owner_of[g] for g in claimed]
    assert owners.count("late") == 4, "late joins at the current time: alternates, no burst"
    assert [g for g in await queue.order() if g in late] == late[4:], "the rest wait, in order"


async def test_cancelled_entries_are_skipped(queue, redis):
    first, second, third = [await queue.add("k") for _ in range(3)]
    # A cancel takes it out of the waiting set; the order drops it when it reaches it.
    await redis.zrem(queue.keys.waiting, second)
    assert await queue.order() == [first, third]
    assert await queue.claim(3) == [first, third]


async def test_the_order_told_is_the_order_claimed(queue):
    rng = random.Random(7)
    for _ in range(120):
        await queue.add(
            rng.choice(["a", "b", "c", "d"]),
            user=rng.choice(["", "u1", "u2"]),
            priority=rng.choice(["interactive", "standard", "batch"]),
            weight=rng.choice([1, 2]),
        )
    told = await queue.order()
    claimed: list[str] = []
    while batch := await queue.claim(rng.randint(1, 9)):
        claimed += batch
    assert claimed == told and len(claimed) == 120


async def test_under_a_mixed_load_every_waiting_flow_is_served_within_a_bound(queue):
    """Arrivals and claims interleaved, keys of every class with weights: while a class (or a
    key within its class) has work waiting, the others are served only a bounded number of
    times before it is served (start-time fair queueing's bound: ceil(w_other / w) + 1 per
    other flow), so no request starves."""
    rng = random.Random(11)
    keys = {  # key -> (class, weight)
        "chat": ("interactive", 1),
        "bot": ("interactive", 2),
        "app": ("standard", 1),
        "team": ("standard", 3),
        "nightly": ("batch", 1),
    }
    weights = {"interactive": 16, "standard": 4, "batch": 1}
    log: list[tuple[str, str]] = []  # ("add" | "claim", key), in order
    for _ in range(250):
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            key = rng.choice(list(keys))
            cls, weight = keys[key]
            await queue.add(key, user=rng.choice(["", "u1"]), priority=cls, weight=weight)
            log.append(("add", key))
        log += [("claim", queue.owner_of[g]) for g in await queue.claim(rng.choice([1, 1, 2]))]
    while batch := await queue.claim(10):
        log += [("claim", queue.owner_of[g]) for g in batch]
    added = sum(1 for what, _ in log if what == "add")
    assert sum(1 for what, _ in log if what == "claim") == added, "every request started"

    def check(flow_of, weight_of, among) -> int:
        """Replay the log: while a flow waits, count the other flows' claims until its own."""
        flows = {flow_of(k) for k in keys if among(k)}
        waiting = dict.fromkeys(flows, 0)
        passed_by = dict.fromkeys(flows, 0)  # others' claims since it last had its turn
        worst = 0
        for what, key in log:
            if not among(key):
                continue
            flow = flow_of(key)
            if what == "add":
                waiting[flow] += 1
                continue
            bound = sum(-(-weight_of(g) // weight_of(flow)) + 1 for g in flows if g != flow)
            assert passed_by[flow] <= bound, f"{flow} passed by {passed_by[flow]} > {bound}"
            worst = max(worst, passed_by[flow])
            waiting[flow] -= 1
            passed_by[flow] = 0
            for other in flows - {flow}:
                if waiting[other]:
                    passed_by[other] += 1
        return worst

    assert check(lambda k: keys[k][0], lambda c: weights[c], lambda k: True) > 0
    for cls in weights:
        check(lambda k: k, lambda k: keys[k][1], lambda k, cls=cls: keys[k][0] == cls)


async def test_a_job_queued_by_a_clock_ahead_of_the_workers_is_claimed(queue, redis):
    """The arq score is the submitting API's clock; the worker's may be behind it (a claim that
    waited in its pipeline behind the submit, two machines' skew). The order decides."""
    gid = await queue.add("k")
    ahead = int(time.time() * 1000) + 60_000
    await redis.zadd(queue.keys.arq_queue, {gid: ahead})
    assert await queue.claim(1) == [gid]
