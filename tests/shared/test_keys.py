"""Redis names: all under the namespace, spelled in shared/keys.py only, and two namespaces in
one database do not hear each other."""

import asyncio
import re

import pytest

from shared.keys import Keys
from shared.notices import JOB, KEY_CHANGED, Notice
from tests.conftest import namespace
from tests.processes import ROOT
from web.streaming.hub import StreamHub
from worker.pickup import WakeUps

# The shapes of every Redis name, ours and arq's.
NAME_LITERAL = re.compile(
    r"""["'](gen|queue|worker|workers|limits|hub|control|arq|health-check):"""
)


def test_every_name_of_ours_is_under_the_namespace():
    keys = Keys("deploy-a")
    ours = [
        keys.arq_queue,
        keys.waiting,
        keys.wake_channel,
        keys.control_channel,
        keys.workers,
        keys.worker("w"),
        keys.health_check("h"),
        keys.live("g"),
        keys.log("g"),
        keys.clients("g"),
        keys.cancel("g"),
        keys.rate("o"),
        keys.active("o"),
    ]
    assert all(name.startswith("deploy-a:") for name in ours)
    assert len(set(ours)) == len(ours)


@pytest.mark.parametrize("bad", ["", "has space", "a:b", "x" * 65, "é"])
def test_a_namespace_that_could_break_a_name_is_refused(bad):
    with pytest.raises(ValueError):
        Keys(bad)


def test_no_other_module_spells_a_redis_name():
    for folder in ("web", "worker", "shared"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "shared" / "keys.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if not line.lstrip().startswith("#"):
                    assert not NAME_LITERAL.search(line), f"{path}:{number}: {line.strip()}"


async def test_two_namespaces_in_one_database_do_not_hear_each_other(redis):
    a, b = Keys(namespace("iso-a")), Keys(namespace("iso-b"))
    revoked: dict[str, list[str]] = {"a": [], "b": []}
    woken: dict[str, int] = {"a": 0, "b": 0}
    hubs = {"a": StreamHub(redis, redis, a), "b": StreamHub(redis, redis, b)}
    wakeups = {}
    for name, keys in (("a", a), ("b", b)):
        hubs[name].on_control(KEY_CHANGED, revoked[name].append)
        await hubs[name].start()

        def on_job(name: str = name) -> None:
            woken[name] += 1

        async def on_abort(_: str) -> None:
            return None

        wakeups[name] = WakeUps(redis, keys, on_job=on_job, on_abort=on_abort)
        await wakeups[name].start()
    sub_a = await hubs["a"].subscribe("same-generation-id")
    sub_b = await hubs["b"].subscribe("same-generation-id")
    try:
        await redis.publish(a.control_channel, Notice(KEY_CHANGED, "k1").encode())
        await redis.publish(a.wake_channel, Notice(JOB, "g1").encode())
        await redis.publish(a.live("same-generation-id"), b'[[1,"chunk","for a"]]')
        assert (await sub_a.next(2))[0].payload == "for a"
        await asyncio.sleep(0.2)
        assert revoked == {"a": ["k1"], "b": []}
        assert woken == {"a": 1, "b": 0}
        assert await sub_b.next(0.1) is None
    finally:
        for hub in hubs.values():
            await hub.aclose()
        for listener in wakeups.values():
            await listener.aclose()
