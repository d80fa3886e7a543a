"""The shared subscriber against real Redis: fan-out, confirmation, overflow, release."""

import asyncio

from shared.stream import Event, live_message
from web.streaming.hub import StreamHub


async def publish(redis, keys, generation_id, *events: Event) -> int:
    data = live_message([e.encode() for e in events])
    return int(await redis.publish(keys.live(generation_id), data))


async def test_one_connection_serves_every_subscriber(redis, keys):
    before = len(await redis.client_list(_type="pubsub"))
    hub = StreamHub(redis, redis, keys)
    await hub.start()
    subs = [await hub.subscribe(f"g{i % 5}") for i in range(50)]
    after = len(await redis.client_list(_type="pubsub"))
    assert after - before == 1, "one pub/sub connection, whatever the number of streams"
    for i in range(5):
        assert await publish(redis, keys, f"g{i}", Event(1, "chunk", f"hello {i}")) == 1
    for n, sub in enumerate(subs):
        events = await sub.next(2)
        assert events == [Event(1, "chunk", f"hello {n % 5}")]
    for sub in subs:
        hub.unsubscribe(sub)
    assert hub.open_subscriptions == 0
    await asyncio.sleep(0.05)
    assert await redis.pubsub_numsub(keys.live("g0")) == [(keys.live("g0").encode(), 0)]
    await hub.aclose()


async def test_subscribe_returns_only_once_redis_confirmed(redis, keys):
    hub = StreamHub(redis, redis, keys)
    await hub.start()
    sub = await hub.subscribe("confirmed")
    # Published right after subscribe() returns: must arrive.
    assert await publish(redis, keys, "confirmed", Event(1, "chunk", "x")) == 1
    assert await sub.next(2) == [Event(1, "chunk", "x")]
    await hub.aclose()


async def test_a_slow_subscriber_is_told_to_resync_instead_of_blocking(redis, keys):
    hub = StreamHub(redis, redis, keys, buffer_limit=10)
    await hub.start()
    slow = await hub.subscribe("busy")
    fast = await hub.subscribe("busy")
    for seq in range(1, 31):
        await publish(redis, keys, "busy", Event(seq, "chunk", "t"))
        events = await fast.next(2)
        assert events and events[-1].seq == seq
    assert slow.resync, "overflowed: must read the replay log"
    await hub.aclose()


async def test_idle_subscription_times_out_with_none(redis, keys):
    hub = StreamHub(redis, redis, keys)
    await hub.start()
    sub = await hub.subscribe("quiet")
    assert await sub.next(0.05) is None
    await hub.aclose()
