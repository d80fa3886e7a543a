"""How a worker picks jobs up: at once on the wake-up notice, and in the fair order
(shared/fair_queue.py): a quiet key or end user behind a flood waits about one generation."""

import asyncio

import pytest
from sqlalchemy import select

from shared.models import Generation
from tests.conftest import key_client
from tests.helpers import OpenStream, directive, eventually, unique

pytestmark = pytest.mark.e2e

SHORT = directive(n=3, rate=200)  # about 15 ms of answer each


async def test_jobs_start_on_the_wake_up_notice_not_at_the_next_poll(lab):
    lab.start_worker(WORKER_POLL_SECONDS=30)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    r = await lab.http.post("/api/v1/generate", json={"prompt": unique()})
    assert r.status_code == 200
    assert loop.time() - t0 < 5, "with a 30 s poll, only the wake-up can start it this soon"


async def test_many_jobs_queued_at_a_workers_start_all_start_without_the_poll(lab):
    tasks = [
        asyncio.create_task(lab.http.post("/api/v1/generate", json={"prompt": SHORT + unique()}))
        for _ in range(10)
    ]
    await waiting(lab, 10)
    lab.start_worker(WORKER_POLL_SECONDS=30, WORKER_CONCURRENCY=3)
    done = await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
    assert [r.status_code for r in done] == [200] * 10


async def waiting(lab, n: int) -> None:
    async def queued():
        return await lab.redis.zcard(lab.keys.waiting) >= n

    assert await eventually(queued, timeout=15), f"{n} generations never all waited"


class Flood:
    """Requests queued while no worker runs, then a worker with two slots; the order they
    started in, from their records."""

    def __init__(self, lab, stack) -> None:
        self.lab, self.stack = lab, stack
        self.tasks: list[asyncio.Task] = []
        self.who: dict[str, str] = {}
        self.clients: list = []

    async def queue(self, key: str, label: str, n: int, end_user: str | None = None) -> None:
        headers = {"X-End-User": end_user} if end_user else {}
        http = key_client(self.stack, key)
        self.clients.append(http)

        async def one():
            r = await http.post(
                "/api/v1/generate", json={"prompt": SHORT + unique()}, headers=headers
            )
            assert r.status_code == 200, r.text
            self.who[r.headers["x-generation-id"]] = label
            return r

        before = await self.lab.redis.zcard(self.lab.keys.waiting)
        self.tasks += [asyncio.create_task(one()) for _ in range(n)]
        await waiting(self.lab, before + n)

    async def run(self, sessions, slots: int = 2) -> list[str]:
        self.lab.start_worker(WORKER_CONCURRENCY=slots)
        try:
            await asyncio.wait_for(asyncio.gather(*self.tasks), timeout=60)
        finally:
            for http in self.clients:
                await http.aclose()
        async with sessions() as session:
            rows = (
                await session.scalars(select(Generation).where(Generation.id.in_(list(self.who))))
            ).all()
        return [self.who[str(r.id)] for r in sorted(rows, key=lambda r: r.started_at)]


@pytest.fixture
def flood(lab, lab_stack):
    return Flood(lab, lab_stack)


def unlimited(**settings):
    return {"rate_limit_rpm": 0, "concurrency_limit": 0, **settings}


async def test_a_quiet_key_waits_about_one_generation_behind_a_flood(flood, new_key, sessions):
    loud, quiet = await new_key("loud", **unlimited()), await new_key("quiet", **unlimited())
    await flood.queue(loud["key"], "loud", 40)
    await flood.queue(quiet["key"], "quiet", 1)
    order = await flood.run(sessions)
    assert len(order) == 41
    assert order.index("quiet") <= 2, f"first come, first served would start it last: {order}"


async def test_a_keys_end_users_share_it_fairly(flood, new_key, sessions):
    key = (await new_key("shared app", **unlimited()))["key"]
    await flood.queue(key, "alice", 20, end_user="alice")
    await flood.queue(key, "bob", 2, end_user="bob")
    order = await flood.run(sessions)
    assert sorted(i for i, who in enumerate(order) if who == "bob")[-1] <= 4, order


async def test_weight_is_a_share_of_the_queue(flood, new_key, sessions):
    heavy = await new_key("heavy", **unlimited(weight=3))
    light = await new_key("light", **unlimited())
    await flood.queue(heavy["key"], "heavy", 15)
    await flood.queue(light["key"], "light", 15)
    first = (await flood.run(sessions))[:16]
    assert 10 <= first.count("heavy") <= 14, f"3 : 1 would be 12 of 16: {first}"


async def test_interactive_goes_first_and_batch_is_not_starved(flood, new_key, sessions):
    fast = await new_key("chat", **unlimited(priority="interactive"))
    slow = await new_key("nightly", **unlimited(priority="batch"))
    await flood.queue(slow["key"], "batch", 5)
    await flood.queue(fast["key"], "interactive", 34)
    order = await flood.run(sessions, slots=1)
    assert order[:17].count("batch") <= 2, f"16 : 1 between the classes: {order}"
    assert order.index("batch") < 17 and order[:36].count("batch") >= 2, "batch progresses"


async def test_the_queue_position_is_the_place_in_the_fair_order(lab, lab_stack, new_key):
    loud, quiet = await new_key("loud", **unlimited()), await new_key("quiet", **unlimited())
    async with key_client(lab_stack, loud["key"]) as loud_http:
        tasks = [
            asyncio.create_task(
                loud_http.post("/api/v1/generate", json={"prompt": SHORT + unique()})
            )
            for _ in range(6)
        ]
        await waiting(lab, 6)
        async with (
            key_client(lab_stack, quiet["key"]) as http,
            OpenStream(
                http,
                "POST",
                "/api/v1/generate",
                json={"prompt": SHORT + unique(), "stream": True},
            ) as s,
        ):
            (first,) = await s.events(1)
            assert first.event == "queued"
            assert first.json()["queue"]["position"] <= 2, "not 7th, as it came"
            lab.start_worker()
            rest = await s.rest()
        assert rest.events[-1].json() == {} and rest.text, "it ran to the end"
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
