"""A generation after submission: its record, and its stream resumed by id and Last-Event-ID."""

import asyncio
import uuid

import pytest

from simulator.script import tokens_for
from tests import sse
from tests.conftest import AUTH, key_client
from tests.helpers import OpenStream, directive, final_record, unique

pytestmark = pytest.mark.e2e

TOKENS = [f"w{i} " for i in range(20)]


async def test_record_of_a_generation(client, sessions):
    prompt = unique()
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    body = (await client.get(f"/api/v1/generations/{r.json()['id']}")).json()
    assert body["status"] == "succeeded" and body["response"] == "".join(tokens_for(prompt, 12))
    assert body["prompt"] == prompt and body["completion_tokens"] == 12
    for field in ("queued_at", "started_at", "first_token_at", "finished_at", "total_duration_ns"):
        assert body[field] is not None


async def test_unknown_generation_is_404(client):
    for path in ("", "/stream"):
        r = await client.get(f"/api/v1/generations/00000000-0000-0000-0000-000000000000{path}")
        assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


async def test_resume_with_last_event_id_gets_exactly_the_rest(client, sessions):
    prompt = directive(tokens=TOKENS, rate=20) + unique()
    async with OpenStream(
        client, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as first:
        seen = await first.events(4)
        generation_id = first.generation_id
    # The connection is gone; come back well within DISCONNECT_GRACE_SECONDS.
    headers = {"Last-Event-ID": seen[-1].id}
    r = await client.get(f"/api/v1/generations/{generation_id}/stream", headers=headers)
    rest = sse.parse(r.text)
    assert int(rest.events[0].id) == int(seen[-1].id) + 1
    ids = [int(e.id) for e in seen + rest.events]
    assert ids == sorted(set(ids)), "nothing twice, nothing out of order"
    joined = "".join(e.json()["response"] for e in seen) + rest.text
    assert joined == "".join(TOKENS)
    assert rest.events[-1].json() == {}
    assert (await final_record(sessions, generation_id)).status == "succeeded"


async def test_resume_after_the_end_with_a_query_parameter(client):
    prompt = directive(tokens=TOKENS, rate=100) + unique()
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    events = sse.parse(r.text).events
    cut = events[3].id
    again = await client.get(
        f"/api/v1/generations/{r.headers['x-generation-id']}/stream?last_event_id={cut}"
    )
    assert again.headers["content-type"].startswith("text/event-stream")
    assert [e.id for e in sse.parse(again.text).events] == [e.id for e in events[4:]]


async def test_resume_after_the_last_event_is_204_at_once(client):
    r = await client.post("/api/v1/generate", json={"prompt": unique(), "stream": True})
    last = sse.parse(r.text).events[-1]
    assert last.json() == {}
    # What an EventSource does after `data: {}`: it reconnects with the last id it saw.
    again = await client.get(
        f"/api/v1/generations/{r.headers['x-generation-id']}/stream",
        headers={"Last-Event-ID": last.id},
        timeout=5,
    )
    assert again.status_code == 204 and again.content == b""


async def test_resume_from_zero_replays_everything(client):
    prompt = directive(tokens=TOKENS) + unique()
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    again = await client.get(f"/api/v1/generations/{r.json()['id']}/stream")
    assert sse.parse(again.text).text == "".join(TOKENS)


@pytest.mark.parametrize("bad", ["abc", "-1", "99999999999999999999999", "1.5"])
async def test_bad_last_event_id_is_422(client, bad):
    r = await client.post("/api/v1/generate", json={"prompt": unique()})
    url = f"/api/v1/generations/{r.json()['id']}/stream"
    again = await client.get(url, headers={"Last-Event-ID": bad})
    assert again.status_code == 422 and again.json()["error"]["type"] == "invalid_request"
    by_query = await client.get(url, params={"last_event_id": bad})
    assert by_query.status_code == 422


async def test_stream_past_its_retention_is_410(tight_stack, redis_of):
    import httpx

    await redis_of(tight_stack)
    async with httpx.AsyncClient(base_url=tight_stack.url, headers=AUTH, timeout=30) as http:
        r = await http.post("/api/v1/generate", json={"prompt": unique()})
        gid = r.json()["id"]
        assert (await http.get(f"/api/v1/generations/{gid}/stream")).status_code == 200
        await asyncio.sleep(2.5)  # STREAM_RETENTION_SECONDS=2 on this stack
        gone = await http.get(f"/api/v1/generations/{gid}/stream")
    assert gone.status_code == 410 and gone.json()["error"]["type"] == "gone"


async def test_every_subscriber_gets_every_chunk_once_whenever_it_arrives(client):
    prompt = directive(tokens=TOKENS, rate=40, ttft=0.3) + unique()
    async with OpenStream(
        client, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as origin:
        gid = origin.generation_id
        url = f"/api/v1/generations/{gid}/stream"

        async def follower(delay: float) -> sse.SSEStream:
            await asyncio.sleep(delay)
            return sse.parse((await client.get(url)).text)

        # before the first chunk (ttft 0.3 s), during the stream, and after its end
        followers = [asyncio.create_task(follower(d)) for d in (0.0, 0.4, 0.55, 1.2)]
        own = await origin.rest()
        results = [own, *await asyncio.gather(*followers)]
    for result in results:
        assert result.text == "".join(TOKENS)
        ids = [int(e.id) for e in result.events]
        assert ids == sorted(set(ids))


async def test_keepalive_comments_while_the_model_loads(client):
    prompt = directive(tokens=["late"], ttft=2.6) + unique()  # STREAM_KEEPALIVE_SECONDS=1
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    head, _, _ = r.text.partition("data: ")
    assert head.count(": keep-alive\n\n") >= 2
    assert sse.parse(r.text).text == "late"


async def test_a_slow_model_gets_the_headers_after_about_a_second(private_stack, redis_of):
    # The worker's start event comes first and at once; the headers must not then wait a
    # whole keep-alive interval more (STREAM_KEEPALIVE_SECONDS=5 on this stack: 1 s, not 6).
    await redis_of(private_stack)
    prompt = directive(tokens=["late"], ttft=4) + unique()
    loop = asyncio.get_running_loop()
    async with key_client(private_stack, private_stack.env["MASTER_API_KEY"]) as http:
        asked = loop.time()
        async with http.stream(
            "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
        ) as r:
            headers_after = loop.time() - asked
            assert r.status_code == 200
            body = b"".join([chunk async for chunk in r.aiter_bytes()]).decode()
    assert headers_after < 3, "well before the 4 s first token and the 5 s keep-alive"
    assert sse.parse(body).text == "late"


async def test_two_keys_cannot_see_each_others_generations(stack, new_key):
    alice, bob = (await new_key("alice"))["key"], (await new_key("bob"))["key"]
    async with key_client(stack, alice) as a, key_client(stack, bob) as b:
        made = await a.post("/api/v1/generate", json={"prompt": unique("alice's")})
        gid = made.json()["id"]
        assert (await a.get(f"/api/v1/generations/{gid}")).status_code == 200
        for method, path in (
            ("GET", f"/api/v1/generations/{gid}"),
            ("GET", f"/api/v1/generations/{gid}/stream"),
            ("POST", f"/api/v1/generations/{gid}/cancel"),
        ):
            r = await b.request(method, path)
            assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
        assert all(g["id"] != gid for g in (await b.get("/api/v1/generations")).json()["data"])
        assert [g["id"] for g in (await a.get("/api/v1/generations")).json()["data"]] == [gid]


async def test_the_list_is_newest_first_with_cursor_pagination(stack, new_key):
    key = (await new_key())["key"]
    async with key_client(stack, key) as http:
        made = [
            (await http.post("/api/v1/generate", json={"prompt": unique()})).json()["id"]
            for _ in range(5)
        ]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await http.get("/api/v1/generations", params=params)).json()
            seen += [g["id"] for g in page["data"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(made))
        bad = await http.get("/api/v1/generations", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422


async def test_the_list_of_one_end_users_generations(stack, new_key):
    key = (await new_key("app"))["key"]
    async with key_client(stack, key) as http:
        theirs = [
            (
                await http.post(
                    "/api/v1/generate", json={"prompt": unique()}, headers={"X-End-User": user}
                )
            ).json()["id"]
            for user in ("dana", "eli", "dana")
        ]
        page = (await http.get("/api/v1/generations", params={"user": "dana"})).json()
    assert [g["id"] for g in page["data"]] == [theirs[2], theirs[0]]
    assert {g["end_user"] for g in page["data"]} == {"dana"}


async def test_a_record_holds_the_whole_story(stack, new_key):
    key = (await new_key())["key"]
    prompt = directive(tokens=["a", "b"]) + unique()
    async with key_client(stack, key) as http:
        gid = (await http.post("/api/v1/generate", json={"prompt": prompt})).json()["id"]
        body = (await http.get(f"/api/v1/generations/{gid}")).json()
    assert body["status"] == "succeeded" and body["prompt"] == prompt and body["response"] == "ab"
    assert body["completion_tokens"] == 2 and body["done_reason"] == "stop"
    for field in ("queued_at", "started_at", "first_token_at", "finished_at"):
        assert body[field]
    for field in (
        "total_duration_ns",
        "load_duration_ns",
        "prompt_eval_duration_ns",
        "eval_duration_ns",
    ):
        assert isinstance(body[field], int)


async def test_store_content_false_keeps_only_metadata(private_stack, sessions, redis_of):
    await redis_of(private_stack)
    prompt = directive(tokens=["secret ", "answer"]) + unique("private")
    async with key_client(private_stack, private_stack.env["MASTER_API_KEY"]) as http:
        r = await http.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
        assert sse.parse(r.text).text == "secret answer", "the client still gets its answer"
        gid = r.headers["x-generation-id"]
        row = await final_record(sessions, gid)
        body = (await http.get(f"/api/v1/generations/{gid}")).json()
    assert row.status == "succeeded" and row.completion_tokens == 2
    assert row.prompt is None and row.response is None
    assert body["prompt"] is None and body["response"] is None


async def test_generations_of_the_master_key_are_its_own(client, new_key, stack):
    gid = (await client.post("/api/v1/generate", json={"prompt": unique()})).json()["id"]
    key = (await new_key())["key"]
    async with key_client(stack, key) as http:
        assert (await http.get(f"/api/v1/generations/{gid}")).status_code == 404
    assert (await client.get(f"/api/v1/generations/{gid}")).status_code == 200
    assert uuid.UUID(gid)


async def test_the_master_key_lists_every_keys_generations(client, new_key, stack):
    made = await new_key("listed-by-master")
    async with key_client(stack, made["key"]) as theirs:
        r = await theirs.post("/api/v1/generate", json={"prompt": unique()})
        gid = r.json()["id"]
        assert (await theirs.get("/api/v1/generations", params={"key": "all"})).status_code == 403
    everyone = (await client.get("/api/v1/generations", params={"key": "all"})).json()["data"]
    assert gid in [g["id"] for g in everyone]
    one = (await client.get("/api/v1/generations", params={"key": made["id"]})).json()["data"]
    assert [g["id"] for g in one] == [gid] and one[0]["api_key_id"] == made["id"]
    own = (await client.get("/api/v1/generations")).json()["data"]
    assert gid not in [g["id"] for g in own], "without `key`, the master's own"


async def test_resumed_streams_count_against_the_keys_concurrency(stack, new_key):
    made = await new_key("replayer", concurrency_limit=2)
    async with key_client(stack, made["key"]) as http:
        body = {"prompt": directive(n=20, rate=5) + unique(), "stream": True}  # 4 s
        async with OpenStream(http, "POST", "/api/v1/generate", json=body) as running:
            await running.events(1)
            url = f"/api/v1/generations/{running.generation_id}/stream"
            # Two replays may be open at once; the third is refused until one of them ends.
            async with OpenStream(http, "GET", url) as one, OpenStream(http, "GET", url) as two:
                assert one.response.status_code == two.response.status_code == 200
                third = await http.get(url)
                assert third.status_code == 429
                assert "streams at once" in third.json()["error"]["message"]
            await asyncio.sleep(0.3)  # their places are given back in the background
            async with OpenStream(http, "GET", url) as again:
                assert again.response.status_code == 200


async def test_a_record_read_right_after_the_answer_is_final(client):
    # The worker sends the last event before it writes the record; the record's reader must not
    # see the difference (read-your-writes through the replay log).
    for _ in range(20):
        prompt = directive(tokens=["read ", "your ", "writes"]) + unique()
        answer = (await client.post("/api/v1/generate", json={"prompt": prompt})).json()
        record = (await client.get(f"/api/v1/generations/{answer['id']}")).json()
        assert record["status"] == "succeeded", record
        assert record["response"] == "read your writes" and record["completion_tokens"] == 3
