"""API keys: required everywhere but health and docs, made by the master key, stored hashed."""

import subprocess
import sys
import uuid

import pytest
from sqlalchemy import select

from shared.models import ApiKey
from tests.conftest import MASTER_KEY, key_client
from tests.helpers import directive, unique
from tests.processes import ROOT

pytestmark = pytest.mark.e2e

PROTECTED = [
    ("POST", "/api/v1/generate", {"prompt": "hi"}),
    ("GET", "/api/v1/generations", None),
    ("GET", f"/api/v1/generations/{uuid.uuid4()}", None),
    ("GET", f"/api/v1/generations/{uuid.uuid4()}/stream", None),
    ("POST", f"/api/v1/generations/{uuid.uuid4()}/cancel", None),
    ("GET", "/api/v1/keys", None),
    ("POST", "/api/v1/keys", {"name": "x"}),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
@pytest.mark.parametrize("header", [None, "Bearer llm_" + "x" * 43, "Bearer nonsense", "Basic abc"])
async def test_every_protected_endpoint_needs_a_valid_key(stack, redis, method, path, body, header):
    headers = {"Authorization": header} if header else {}
    async with key_client(stack, "") as http:
        r = await http.request(method, path, json=body, headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert await redis.zcard(stack.keys.arq_queue) == 0


async def test_health_and_docs_stay_open(stack):
    async with key_client(stack, "") as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/docs")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200


async def test_a_new_key_is_shown_once_and_stored_only_as_a_keyed_hash(
    stack, new_key, sessions, client
):
    made = await new_key("alice")
    key = made["key"]
    assert key.startswith("llm_") and len(key) >= 40 and made["prefix"] == key[:12]
    listed = (await client.get("/api/v1/keys")).json()
    mine = next(k for k in listed if k["id"] == made["id"])
    assert "key" not in mine and mine["name"] == "alice"
    async with sessions() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(made["id"])))
    assert row is not None and key not in str(vars(row)) and len(row.key_hash) == 64
    async with key_client(stack, key) as http:
        r = await http.post("/api/v1/generate", json={"prompt": unique()})
    assert r.status_code == 200


async def test_x_api_key_header_works_too(stack, new_key):
    key = (await new_key())["key"]
    async with key_client(stack, "") as http:
        r = await http.post(
            "/api/v1/generate", json={"prompt": unique()}, headers={"X-API-Key": key}
        )
    assert r.status_code == 200


async def test_a_revoked_key_is_refused_at_once(stack, new_key, client):
    made = await new_key("soon revoked")
    async with key_client(stack, made["key"]) as http:
        assert (await http.get("/api/v1/generations")).status_code == 200  # now cached
        revoked = await client.post(f"/api/v1/keys/{made['id']}/revoke")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        r = await http.get("/api/v1/generations")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    again = await client.post(f"/api/v1/keys/{made['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]


async def test_only_the_master_key_manages_keys(stack, new_key):
    key = (await new_key())["key"]
    async with key_client(stack, key) as http:
        for method, path in (("GET", "/api/v1/keys"), ("POST", "/api/v1/keys")):
            r = await http.request(method, path, json={"name": "x"})
            assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden"


async def test_last_use_is_recorded(stack, new_key, client):
    import asyncio

    made = await new_key()
    async with key_client(stack, made["key"]) as http:
        await http.get("/api/v1/generations")
    for _ in range(50):
        keys = {k["id"]: k for k in (await client.get("/api/v1/keys")).json()}
        if keys[made["id"]]["last_used_at"]:
            break
        await asyncio.sleep(0.05)
    assert keys[made["id"]]["last_used_at"] is not None


def cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        env={**stack.env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


async def test_cli_creates_lists_and_revokes_keys(stack):
    created = cli(stack, "keys", "create", "--name", "from the cli", "--rpm", "5")
    assert created.returncode == 0, created.stderr
    key = created.stdout.splitlines()[0]
    async with key_client(stack, key) as http:
        assert (await http.get("/api/v1/generations")).status_code == 200
        listing = cli(stack, "keys", "list")
        assert "from the cli" in listing.stdout and key not in listing.stdout
        revoked = cli(stack, "keys", "revoke", key[:12])
        assert revoked.returncode == 0, revoked.stderr
        assert (await http.get("/api/v1/generations")).status_code == 401


async def test_keys_and_prompts_never_reach_the_logs(stack, new_key):
    key = (await new_key())["key"]
    secret_prompt = directive(tokens=["ok"]) + f"my secret prompt {uuid.uuid4()}"
    async with key_client(stack, key) as http:
        assert (
            await http.post("/api/v1/generate", json={"prompt": secret_prompt})
        ).status_code == 200
        await http.get("/api/v1/generations", params={"limit": 1})
    logs = stack.api.log() + stack.worker.log()
    assert key not in logs and MASTER_KEY not in logs
    assert "my secret prompt" not in logs


@pytest.mark.parametrize(
    "body",
    [
        {"name": "big", "rate_limit_rpm": 2**31},
        {"name": "big", "concurrency_limit": 2**63},
        {"name": "nul \u0000 name"},
    ],
)
async def test_key_fields_postgresql_cannot_hold_are_422(client, body):
    r = await client.post("/api/v1/keys", json=body)
    assert r.status_code == 422, r.text


async def test_a_changed_key_takes_effect_at_once(stack, new_key, client):
    made = await new_key("changing", rate_limit_rpm=5)
    async with key_client(stack, made["key"]) as http:
        for _ in range(2):
            assert (
                await http.post("/api/v1/generate", json={"prompt": unique()})
            ).status_code == 200
        r = await client.patch(
            f"/api/v1/keys/{made['id']}",
            json={"rate_limit_rpm": 2, "weight": 3, "priority": "interactive"},
        )
        assert r.status_code == 200, r.text
        changed = r.json()
        assert (changed["rate_limit_rpm"], changed["weight"], changed["priority"]) == (
            2,
            3,
            "interactive",
        )
        assert changed["concurrency_limit"] == made["concurrency_limit"], "the rest stays"
        # The key's cache on this API replica was told: the new limit counts from now.
        r = await http.post("/api/v1/generate", json={"prompt": unique()})
        assert r.status_code == 429 and "2 generations per minute" in r.json()["error"]["message"]
        assert (
            await http.patch(f"/api/v1/keys/{made['id']}", json={"weight": 9})
        ).status_code == 403


@pytest.mark.parametrize(
    "body",
    [{"weight": 0}, {"priority": "urgent"}, {"tokens_per_day": -1}, {"tokens_per_month": 2**63}],
)
async def test_a_bad_key_setting_is_422(client, new_key, body):
    made = await new_key("bad settings")
    assert (await client.patch(f"/api/v1/keys/{made['id']}", json=body)).status_code == 422
    assert (await client.post("/api/v1/keys", json={"name": "bad", **body})).status_code == 422


async def test_changing_an_unknown_key_is_404(client):
    r = await client.patch("/api/v1/keys/00000000-0000-4000-8000-000000000000", json={"weight": 2})
    assert r.status_code == 404


async def test_cli_sets_and_changes_budgets_and_priority(stack, client):
    created = cli(
        stack,
        "keys",
        "create",
        "--name",
        "cli budget",
        "--tokens-per-day",
        "5000",
        "--end-user-rpm",
        "3",
        "--priority",
        "batch",
    )
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.splitlines()[1].split()[2]
    updated = cli(stack, "keys", "update", key_id, "--tokens-per-day", "9000", "--weight", "2")
    assert updated.returncode == 0, updated.stderr
    assert "tokens_per_day=9000" in updated.stdout and "priority=batch" in updated.stdout
    (row,) = [k for k in (await client.get("/api/v1/keys")).json() if k["id"] == key_id]
    assert (row["tokens_per_day"], row["end_user_rate_limit_rpm"], row["weight"]) == (9000, 3, 2)
    assert row["priority"] == "batch"
    refused = cli(stack, "keys", "update", key_id, "--weight", "0")
    assert refused.returncode != 0 and "weight" in refused.stderr
    assert cli(stack, "keys", "update", key_id).returncode != 0, "nothing to change"
