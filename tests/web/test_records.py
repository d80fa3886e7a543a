"""Generation records belong to their key: listed newest first, hidden from other keys."""

import uuid

import pytest

from tests import sse
from tests.conftest import key_client
from tests.helpers import directive, final_record, unique

pytestmark = pytest.mark.e2e


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
