"""Pace and faults: the wait before the first chunk, the token rate, errors and cut streams."""

import asyncio

import httpx
import pytest

from simulator.script import tokens_for
from tests.simulator.parse import directive, lines


def generate(prompt: str, **fields: object) -> dict:
    return {"model": "qwen3:8b", "prompt": prompt, **fields}


async def test_token_rate_and_time_to_first_token_are_honoured(sim):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await sim.post("/api/generate", json=generate(directive(n=5, rate=20, ttft=0.2) + "x"))
    assert loop.time() - t0 >= 0.2 + 4 / 20 * 0.9


async def test_thinking_is_paced_like_the_answer(sim):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await sim.post("/api/generate", json=generate(directive(n=1, think=6, rate=20) + "x"))
    assert loop.time() - t0 >= 6 / 20 * 0.9


@pytest.mark.parametrize("stream", [True, False])
async def test_a_status_fault_is_an_error_answer(sim, stream):
    prompt = directive(fault="status", status=503, message="busy") + "x"
    r = await sim.post("/api/generate", json=generate(prompt, stream=stream))
    assert r.status_code == 503 and r.json() == {"error": "busy"}
    (record,) = (await sim.get("/sim/requests")).json()
    assert (record["outcome"], record["status"], record["error"]) == ("fault", 503, "busy")


async def test_an_error_line_ends_the_stream(sim):
    prompt = directive(fault="error_line", after=2, message="bad") + "x"
    parts = lines((await sim.post("/api/generate", json=generate(prompt))).text)
    assert [p.get("response") for p in parts[:2]] == tokens_for("x", 12)[:2]
    assert parts[2:] == [{"error": "bad"}]


async def test_an_error_line_fault_on_a_whole_answer_is_a_500(sim):
    prompt = directive(fault="error_line", message="bad") + "x"
    r = await sim.post("/api/generate", json=generate(prompt, stream=False))
    assert r.status_code == 500 and r.json() == {"error": "bad"}


@pytest.mark.parametrize("stream", [True, False])
async def test_a_dropped_connection_cuts_the_answer(sim, stream):
    prompt = directive(fault="drop", after=2) + "x"
    with pytest.raises(httpx.HTTPError):
        await sim.post("/api/generate", json=generate(prompt, stream=stream))
    (record,) = (await sim.get("/sim/requests")).json()
    assert record["outcome"] == "fault"


async def test_a_stall_holds_until_the_client_gives_up(sim):
    prompt = directive(fault="stall", after=1) + "x"
    with pytest.raises(httpx.ReadTimeout):
        await sim.post("/api/generate", json=generate(prompt), timeout=0.3)
    for _ in range(50):
        (record,) = (await sim.get("/sim/requests")).json()
        if record["outcome"] != "running":
            break
        await asyncio.sleep(0.02)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] == 1


async def test_a_fault_can_apply_only_the_first_times(sim):
    prompt = directive(fault="status", status=500, times=2, key="k") + "x"
    statuses = [
        (await sim.post("/api/generate", json=generate(prompt))).status_code for _ in range(3)
    ]
    assert statuses == [500, 500, 200]
    outcomes = [r["outcome"] for r in (await sim.get("/sim/requests")).json()]
    assert outcomes == ["fault", "fault", "completed"]


async def test_records_a_client_that_closes_its_stream(sim):
    prompt = directive(n=100, rate=20) + "x"
    async with sim.stream("POST", "/api/generate", json=generate(prompt)) as r:
        async for _ in r.aiter_lines():
            break
    for _ in range(50):
        (record,) = (await sim.get("/sim/requests")).json()
        if record["outcome"] != "running":
            break
        await asyncio.sleep(0.05)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 100


async def test_a_full_queue_is_ollamas_503(start):
    sim = await start(parallel=1, max_queue=0)
    slow = asyncio.create_task(
        sim.post("/api/generate", json=generate(directive(n=4, rate=10) + "x"))
    )
    await asyncio.sleep(0.1)
    r = await sim.post(
        "/api/chat", json={"model": "qwen3:8b", "messages": [{"role": "user", "content": "y"}]}
    )
    assert r.status_code == 503
    assert r.json() == {
        "error": "server busy, please try again.  maximum pending requests exceeded"
    }
    assert (await slow).status_code == 200


async def test_requests_wait_for_a_slot(start):
    sim = await start(parallel=1)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    body = generate(directive(n=3, rate=10) + "x")
    await asyncio.gather(sim.post("/api/generate", json=body), sim.post("/api/generate", json=body))
    assert loop.time() - t0 >= 2 * 2 / 10 * 0.9
