"""GET /api/v1/usage: a key's generations and tokens per day, model and end user, which add up
to its records exactly; other keys' usage for the master key only."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import MODEL, key_client
from tests.helpers import final_record, unique

pytestmark = pytest.mark.e2e


async def test_usage_adds_up_to_the_records(stack, new_key, sessions):
    made = await new_key("usage")
    async with key_client(stack, made["key"]) as http:
        ids = []
        for user in ("alice", "alice", "bob", None):
            headers = {"X-End-User": user} if user else {}
            r = await http.post("/api/v1/generate", json={"prompt": unique()}, headers=headers)
            ids.append(r.headers["x-generation-id"])
        chat = {"model": MODEL, "messages": [{"role": "user", "content": unique()}]}
        r = await http.post("/v1/chat/completions", json={**chat, "user": "bob"})
        ids.append(r.headers["x-generation-id"])
        rows = [await final_record(sessions, i) for i in ids]
        usage = (await http.get("/api/v1/usage")).json()
    prompt = sum(r.prompt_tokens for r in rows)
    completion = sum(r.completion_tokens for r in rows)
    assert prompt > 0 and completion > 0
    assert usage["key"] == made["id"]
    assert usage["total"] == {
        "generations": 5,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "tokens": prompt + completion,
    }
    (today,) = usage["days"]
    assert today["group"] == datetime.now(UTC).date().isoformat() and today["generations"] == 5
    assert [(m["group"], m["generations"]) for m in usage["models"]] == [(MODEL, 5)]
    by_user = {u["group"]: u for u in usage["end_users"]}
    assert {g: u["generations"] for g, u in by_user.items()} == {"": 1, "alice": 2, "bob": 2}
    bob = [r for r in rows if r.end_user == "bob"]
    assert by_user["bob"]["completion_tokens"] == sum(r.completion_tokens for r in bob)
    assert usage["budgets"]["used_today"] == prompt + completion
    assert [(k["group"], k["tokens"]) for k in usage["keys"]] == [(made["id"], prompt + completion)]


async def test_a_range_without_generations_is_zero(stack, new_key):
    async with key_client(stack, (await new_key("quiet"))["key"]) as http:
        usage = (
            await http.get("/api/v1/usage", params={"start": "2020-01-01", "end": "2020-01-31"})
        ).json()
    assert usage["total"]["generations"] == 0 and usage["days"] == []


async def test_only_the_master_key_reads_other_keys_usage(stack, new_key, client):
    one, two = await new_key("one"), await new_key("two")
    async with key_client(stack, one["key"]) as http:
        await http.post("/api/v1/generate", json={"prompt": unique()})
        r = await http.get("/api/v1/usage", params={"key": two["id"]})
        assert r.status_code == 403
        assert (await http.get("/api/v1/usage", params={"key": "all"})).status_code == 403
    theirs = (await client.get("/api/v1/usage", params={"key": one["id"]})).json()
    assert theirs["key"] == one["id"] and theirs["total"]["generations"] == 1
    everyone = (await client.get("/api/v1/usage", params={"key": "all"})).json()
    assert everyone["budgets"] is None
    per_key = {k["group"]: k["generations"] for k in everyone["keys"]}
    assert per_key[one["id"]] == 1 and two["id"] not in per_key
    assert everyone["total"]["generations"] >= theirs["total"]["generations"]


@pytest.mark.parametrize(
    "params",
    [
        {"start": "2026-02-01", "end": "2026-01-01"},
        {"start": "2020-01-01", "end": "2026-01-01"},
        {"key": "not-a-key"},
        {"start": "yesterday"},
    ],
)
async def test_a_bad_range_or_key_is_422(client, params):
    r = await client.get("/api/v1/usage", params=params)
    assert r.status_code == 422


async def test_an_unknown_key_is_404(client):
    r = await client.get("/api/v1/usage", params={"key": "00000000-0000-4000-8000-000000000000"})
    assert r.status_code == 404


async def test_the_default_range_is_the_last_thirty_days(client):
    usage = (await client.get("/api/v1/usage")).json()
    today = datetime.now(UTC).date()
    assert usage["end"] == today.isoformat()
    assert usage["start"] == (today - timedelta(days=29)).isoformat()
