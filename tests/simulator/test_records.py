"""/sim/requests: what reached "Ollama", for every endpoint that generates, embeds or manages."""

import base64

from simulator.records import Record
from tests.simulator.parse import directive

FIELDS = list(Record.__dataclass_fields__)


async def test_a_chat_record_holds_everything_a_test_may_check(start):
    sim = await start(implicit_think_tokens=1)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    image = base64.b64encode(b"12345").decode()
    messages = [
        {"role": "system", "content": "terse"},
        {"role": "user", "content": directive(tokens=["ok"]) + "q", "images": [image]},
    ]
    body = {
        "model": "qwen3:8b",
        "messages": messages,
        "tools": tools,
        "options": {"temperature": 0.1},
        "format": "json",
        "keep_alive": "1m",
        "stream": False,
    }
    await sim.post("/api/chat", json=body)
    (record,) = (await sim.get("/sim/requests")).json()
    assert list(record) == FIELDS
    assert record["path"] == "/api/chat" and record["model"] == "qwen3:8b"
    assert record["prompt"] == messages[1]["content"] and record["stream"] is False
    assert record["options"] == {"temperature": 0.1}
    assert record["extras"] == {
        "format": "json",
        "keep_alive": "1m",
        "messages": [
            {"role": "system", "content": "terse"},
            {"role": "user", "content": messages[1]["content"], "image_bytes": [5]},
        ],
    }
    assert record["think"] is True and record["thinking_sent"] == 1
    assert record["tools"] == tools and record["tool_calls"][0]["function"]["name"] == "f"
    assert record["images"] == {"count": 1, "bytes": [5]}
    assert record["text"] == "ok" and record["tokens_sent"] == 1
    assert (record["status"], record["error"], record["done_reason"]) == (200, None, "stop")
    assert record["outcome"] == "completed" and record["ended"] >= record["started"]


async def test_rejections_are_recorded_with_ollamas_answer(sim):
    await sim.post("/api/generate", json={"model": "nope", "prompt": "hi"})
    await sim.post("/api/generate", content=b"")
    records = (await sim.get("/sim/requests")).json()
    assert [(r["model"], r["prompt"], r["status"], r["error"], r["outcome"]) for r in records] == [
        ("nope:latest", "hi", 404, "model 'nope' not found", "rejected"),
        ("", "", 400, "missing request body", "rejected"),
    ]


async def test_a_running_generation_is_visible(sim):
    prompt = directive(n=3, rate=5) + "slow"
    async with sim.stream(
        "POST", "/api/generate", json={"model": "qwen3:8b", "prompt": prompt}
    ) as r:
        async for _ in r.aiter_lines():
            (record,) = (await sim.get("/sim/requests")).json()
            assert record["outcome"] == "running" and record["ended"] is None
            break


async def test_clearing_forgets_records_and_fault_counts(sim):
    prompt = directive(fault="status", times=1, key="once") + "x"
    assert (
        await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})
    ).status_code == 500
    assert (await sim.delete("/sim/requests")).json() == {"cleared": True}
    assert (await sim.get("/sim/requests")).json() == []
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})
    assert r.status_code == 500, "the fault's count started again"


async def test_the_record_limit(start):
    sim = await start(record_limit=2)
    for prompt in ("a", "b", "c"):
        await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})
    assert [(r["id"], r["prompt"]) for r in (await sim.get("/sim/requests")).json()] == [
        (2, "b"),
        (3, "c"),
    ]
