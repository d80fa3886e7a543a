"""Cancellation end to end: a client that leaves, a client that comes back, an explicit cancel."""

import pytest

from tests.helpers import (
    OpenStream,
    directive,
    final_record,
    sim_outcome,
    unique,
)

pytestmark = pytest.mark.e2e

SLOW = {"n": 200, "rate": 20}  # 10 s if nobody stops it


async def test_cancel_endpoint_stops_the_stream_and_is_idempotent(client, sim, sessions):
    prompt = directive(**SLOW) + unique()
    async with OpenStream(
        client, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(2)
        url = f"/api/v1/generations/{s.generation_id}/cancel"
        first = await client.post(url)
        assert first.status_code == 200 and first.json()["status"] in ("running", "cancelled")
        rest = await s.rest()
    last = rest.events[-1]
    assert last.event == "error" and last.json()["error"]["type"] == "cancelled"
    row = await final_record(sessions, s.generation_id)
    assert row.status == "cancelled"
    again = await client.post(url)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert (await sim_outcome(sim, prompt))["outcome"] == "client_closed"


async def test_cancel_of_an_unknown_generation_is_404(client):
    r = await client.post("/api/v1/generations/00000000-0000-0000-0000-000000000000/cancel")
    assert r.status_code == 404
