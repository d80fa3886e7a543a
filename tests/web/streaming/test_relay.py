"""The relay against real Redis: exactly once and in order, whatever the live path did."""

import pytest

from shared.errors import QueueTimeout, UpstreamTimeout
from shared.stream import Event, live_message, log_append
from tests.helpers import final_record, unique
from web.streaming.hub import StreamHub
from web.streaming.relay import Relay, WaitBounds

BOUNDS = WaitBounds(queue=5, first_chunk=5, next_chunk=5, total=30)


async def log(redis, keys, gid, *events: Event) -> None:
    for e in events:
        await redis.execute_command(*log_append(keys, gid, e.seq, e.encode()))


async def publish(redis, keys, gid, *events: Event) -> None:
    await redis.publish(keys.live(gid), live_message([e.encode() for e in events]))


async def collect(relay: Relay) -> list[Event]:
    out = []
    async for batch in relay.batches():
        out.extend(batch)
    return out


@pytest.fixture
async def hub(redis, keys):
    h = StreamHub(redis, redis, keys)
    await h.start()
    yield h
    await h.aclose()


def chunks(n: int) -> list[Event]:
    return [Event(i, "chunk", f"c{i}") for i in range(1, n + 1)]


async def test_duplicates_are_dropped_and_gaps_filled_from_the_log(redis, keys, hub):
    events = [*chunks(5), Event(6, "done", {})]
    await log(redis, keys, "g", *events)
    relay = Relay(hub, redis, keys, "g", bounds=BOUNDS, keepalive=1)
    await relay.open()
    await publish(redis, keys, "g", events[0], events[1])
    await publish(redis, keys, "g", events[1])  # a duplicate
    await publish(redis, keys, "g", events[4], events[5])  # 3 and 4 never arrive live
    assert await collect(relay) == events
    relay.close()


async def test_late_subscriber_replays_then_follows_live(redis, keys, hub):
    events = chunks(3)
    await log(redis, keys, "late", *events)
    relay = Relay(hub, redis, keys, "late", bounds=BOUNDS, keepalive=1, replay=True)
    await relay.open()
    batches = relay.batches()
    assert await anext(batches) == events
    tail = [Event(4, "chunk", "c4"), Event(5, "done", {})]
    await log(redis, keys, "late", *tail)
    await publish(redis, keys, "late", *tail)
    assert await anext(batches) == tail
    relay.close()


async def test_resume_after_last_event_id_skips_what_the_client_has(redis, keys, hub):
    events = [*chunks(4), Event(5, "done", {})]
    await log(redis, keys, "resume", *events)
    relay = Relay(hub, redis, keys, "resume", bounds=BOUNDS, keepalive=1, after_seq=2, replay=True)
    await relay.open()
    assert await collect(relay) == events[2:]
    relay.close()


async def test_events_lost_live_are_recovered_on_the_idle_tick(redis, keys, hub):
    events = [*chunks(2), Event(3, "done", {})]
    relay = Relay(hub, redis, keys, "lost", bounds=BOUNDS, keepalive=0.1)
    await relay.open()
    await log(redis, keys, "lost", *events)  # logged, never published
    assert await collect(relay) == events
    relay.close()


async def test_no_worker_ends_in_a_queue_timeout(redis, keys, hub):
    bounds = WaitBounds(queue=0.3, first_chunk=5, next_chunk=5, total=30)
    relay = Relay(hub, redis, keys, "nobody", bounds=bounds, keepalive=0.1)
    await relay.open()
    with pytest.raises(QueueTimeout):
        await collect(relay)
    relay.close()


async def test_a_stalled_stream_ends_in_an_upstream_timeout(redis, keys, hub):
    bounds = WaitBounds(queue=5, first_chunk=5, next_chunk=0.3, total=30)
    await log(redis, keys, "stall", Event(1, "start", {}), Event(2, "chunk", "a"))
    relay = Relay(hub, redis, keys, "stall", bounds=bounds, keepalive=0.1, replay=True)
    await relay.open()
    with pytest.raises(UpstreamTimeout, match="stopped sending"):
        await collect(relay)
    relay.close()


@pytest.mark.e2e
async def test_no_worker_in_time_is_a_queue_timeout(workerless, sessions):
    http, _ = workerless
    r = await http.post("/api/v1/generate", json={"prompt": unique()})  # QUEUE_TIMEOUT_SECONDS=1.5
    assert r.status_code == 503 and r.json()["error"]["type"] == "queue_timeout"
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert row.status == "failed" and row.error_type == "queue_timeout" and row.started_at is None
