"""The worker's stream publisher against real Redis: numbering, coalescing, log and live copy."""

import asyncio

import pytest

from shared.stream import CHUNK, DONE, START, decode_live, log_append, read_log
from worker.publisher import PublishFailed, StreamPublisher


async def listen(redis, keys, generation_id):
    pubsub = redis.pubsub()
    await pubsub.subscribe(keys.live(generation_id))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    return pubsub


async def drain(pubsub, until_terminal=True):
    events = []
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2)
        assert message is not None, f"no terminal event; got {events}"
        events.extend(decode_live(message["data"]))
        if not until_terminal or events[-1].is_terminal:
            return events


async def test_events_are_numbered_logged_and_published_in_order(redis, keys, link):
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30)
    publisher.start()
    pubsub = await listen(redis, keys, "g1")
    stream = publisher.open("g1")
    stream.post(START, {"worker": "w"})
    for text in ["a", "b\n", "c"]:
        stream.send_text(text)
        await asyncio.sleep(0.01)
    await stream.send(DONE, {"eval_count": 3})
    live = await drain(pubsub)
    logged = await read_log(redis, keys, "g1")
    assert live == logged
    assert [e.seq for e in logged] == list(range(1, len(logged) + 1))
    assert logged[0].type == START and logged[-1].type == DONE
    assert "".join(e.payload for e in logged if e.type == CHUNK) == "ab\nc"
    assert 0 < await redis.ttl(keys.log("g1")) <= 30, "retention counts from the end"
    await publisher.aclose()
    await pubsub.aclose()


async def test_text_sent_during_a_flush_is_joined_not_lost(redis, keys, link):
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30)
    publisher.start()
    stream = publisher.open("g2")
    tokens = [f"t{i} " for i in range(500)]
    for token in tokens:  # no await between them: all land in one or two flushes
        stream.send_text(token)
    await stream.send(DONE, {})
    logged = await read_log(redis, keys, "g2")
    chunks = [e for e in logged if e.type == CHUNK]
    assert "".join(e.payload for e in chunks) == "".join(tokens)
    assert len(chunks) < len(tokens), "coalesced into fewer events"
    assert stream.chunks == len(chunks)
    await publisher.aclose()


async def test_streams_continue_numbering_after_an_earlier_attempt(redis, keys, link):
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30)
    publisher.start()
    first = publisher.open("g3")
    await first.send(START, {"attempt": 1})
    second = publisher.open("g3", last_seq=first.seq)
    await second.send(START, {"attempt": 2})
    await second.send(DONE, {})
    assert [e.seq for e in await read_log(redis, keys, "g3")] == [1, 2, 3]
    await publisher.aclose()


async def test_many_generations_share_one_pipeline_without_mixing(redis, keys, link):
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30)
    publisher.start()
    streams = {f"m{i}": publisher.open(f"m{i}") for i in range(50)}
    for step in range(20):
        for gid, stream in streams.items():
            stream.send_text(f"{gid}:{step};")
        await asyncio.sleep(0)
    await asyncio.gather(*(s.send(DONE, {}) for s in streams.values()))
    for gid in streams:
        text = "".join(e.payload for e in await read_log(redis, keys, gid) if e.type == CHUNK)
        assert text == "".join(f"{gid}:{step};" for step in range(20))
    await publisher.aclose()


async def test_coalescing_holds_later_text_but_never_the_first(redis, keys, link):
    # A window far longer than any round trip here, so that what it holds back is unmistakable.
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30, coalesce_s=1.0)
    publisher.start()
    pubsub = await listen(redis, keys, "c1")
    stream = publisher.open("c1")
    await stream.send(START, {"worker": "w"})  # a flush: the window starts now
    await drain(pubsub, until_terminal=False)
    stream.send_text("first")
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
    assert message is not None, "the first text waited for the coalescing window"
    assert [e.payload for e in decode_live(message["data"])] == ["first"]
    stream.send_text("second")
    stream.send_text(" third")
    held = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
    assert held is None, "later text is held for the window"
    later = await drain(pubsub, until_terminal=False)
    assert [e.payload for e in later] == ["second third"], "and goes out as one chunk"
    await stream.send(DONE, {})
    await publisher.aclose()
    await pubsub.aclose()


async def test_one_streams_failure_is_its_own(redis, keys, link):
    publisher = StreamPublisher(link, keys, live_ttl_s=60, retention_s=30)
    publisher.start()
    # Something else already wrote event 1 into A's log: A's own event 1 cannot be logged.
    await redis.execute_command(*log_append(keys, "fa", 1, b'[1,"start",{}]'))
    a, b = publisher.open("fa"), publisher.open("fb")
    a.send_text("lost")
    b.send_text("kept")
    results = await asyncio.gather(a.flush(), b.flush(), return_exceptions=True)
    assert isinstance(results[0], PublishFailed), "A's flush says its text was not logged"
    assert results[1] is None, "B shared A's pipeline but not its failure"
    assert [e.payload for e in await read_log(redis, keys, "fb")] == ["kept"]
    with pytest.raises(PublishFailed):  # and A stays failed for whatever it sends next
        await a.send(DONE, {})
    await publisher.aclose()
