"""What the Ollama dialect relays besides text, against the running stack and the simulator:
tool calls, thinking, images and embeddings, each exactly as Ollama sent it, streamed and whole,
and recorded (never the images or the vectors)."""

import base64
import hashlib

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulator.embed import embedding_for, float32
from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests.conftest import EMBED_MODEL, MODEL
from tests.helpers import directive, eventually, final_record, sim_records, unique

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def as_float32(vectors: list[list[float]]) -> list[list[float]]:
    """Vectors as Ollama's float32 (JSON carries their shortest text)."""
    return [[float32(x) for x in vector] for vector in vectors]


def lines(response: httpx.Response) -> list[dict]:
    return [orjson.loads(line) for line in response.content.splitlines()]


async def direct(sim: httpx.AsyncClient, path: str, body: dict) -> dict:
    """The simulator's own whole answer to `body` (what Ollama itself answers)."""
    r = await sim.post(path, json={**body, "stream": False})
    assert r.status_code == 200, r.text
    return r.json()


async def test_tool_calls_come_back_exactly_whole_and_recorded(client, sim, sessions):
    body = {"model": MODEL, "messages": [{"role": "user", "content": unique()}], "tools": [WEATHER]}
    r = await client.post("/api/chat", json={**body, "stream": False})
    message = r.json()["message"]
    assert message == (await direct(sim, "/api/chat", body))["message"]
    assert message["tool_calls"] == [
        {
            "id": call_id(body["messages"][0]["content"], 0, "weather"),
            "function": {"index": 0, "name": "weather", "arguments": {"city": "sim", "days": 1}},
        }
    ]
    first, _ = await sim_records(sim, body["messages"][0]["content"])
    assert first["tools"] == [WEATHER]
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert row.kind == "chat" and row.tool_calls == message["tool_calls"]


async def test_streamed_tool_calls_and_thinking_lose_nothing(client, sim):
    question = unique()
    steer = directive(
        thinking=["let me ", "look it up"],
        tool_calls=[
            {"name": "weather", "arguments": {"city": 'Zürich "\n', "days": 2}},
            {"name": "weather", "arguments": {"city": "Oslo", "days": 1}},
        ],
    )
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": steer + question}],
        "tools": [WEATHER],
        "think": True,
    }
    r = await client.post("/api/chat", json=body)
    assert r.headers["content-type"] == "application/x-ndjson"
    parts = lines(r)
    assert all(p["message"]["role"] == "assistant" for p in parts)
    assert [p["done"] for p in parts] == [False] * (len(parts) - 1) + [True]
    thinking = "".join(p["message"].get("thinking", "") for p in parts)
    calls = [c for p in parts for c in p["message"].get("tool_calls", [])]
    expected = (await direct(sim, "/api/chat", body))["message"]
    assert thinking == expected["thinking"] == "let me look it up"
    assert calls == expected["tool_calls"] and len(calls) == 2
    assert calls[0]["function"]["arguments"]["city"] == 'Zürich "\n'
    record = await client.get(f"/api/v1/generations/{r.headers['x-generation-id']}")
    assert record.json()["thinking"] == thinking and record.json()["tool_calls"] == calls


async def test_a_tool_result_is_passed_on_and_answered(client, sim):
    question = unique()
    call = {"function": {"name": "weather", "arguments": {"city": "Oslo", "days": 1}}}
    messages = [
        {"role": "user", "content": question},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_name": "weather", "content": "snow, -3 °C"},
    ]
    r = await client.post(
        "/api/chat",
        json={"model": MODEL, "messages": messages, "tools": [WEATHER], "stream": False},
    )
    assert r.json()["message"] == {"role": "assistant", "content": "weather returned: snow, -3 °C"}
    (record,) = await sim_records(sim, question)
    assert record["extras"]["messages"] == messages


@pytest.mark.parametrize(("think", "count"), [(True, 4), ("high", 8), ("low", 2), (False, 0)])
async def test_generate_relays_thinking_at_each_level(client, sim, think, count):
    prompt = unique()
    body = {"model": MODEL, "prompt": prompt, "think": think, "options": {"num_predict": 3}}
    whole = (await client.post("/api/generate", json={**body, "stream": False})).json()
    expected = "".join(thinking_for(prompt, count))
    assert whole.get("thinking", "") == expected
    assert whole["response"] == "".join(tokens_for(prompt, 3))
    parts = lines(await client.post("/api/generate", json=body))
    assert "".join(p.get("thinking", "") for p in parts) == expected
    assert "".join(p["response"] for p in parts) == whole["response"]
    records = await sim_records(sim, prompt)
    assert [r["extras"]["think"] for r in records] == [think, think]


async def test_an_idempotent_retry_replays_thinking_and_tool_calls(client, sim):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": directive(rate=20) + unique()}],
        "tools": [WEATHER],
        "think": True,
    }
    headers = {"Idempotency-Key": unique("retry")}
    async with client.stream("POST", "/api/chat", json=body, headers=headers) as r:
        first_id = r.headers["x-generation-id"]
        async for line in r.aiter_lines():
            assert orjson.loads(line)["message"]["thinking"]
            break  # the connection drops after the first line
    again = await client.post("/api/chat", json=body, headers=headers)
    assert again.headers["x-generation-id"] == first_id
    parts = lines(again)
    expected = (await direct(sim, "/api/chat", body))["message"]
    assert "".join(p["message"].get("thinking", "") for p in parts) == expected["thinking"]
    assert [c for p in parts for c in p["message"].get("tool_calls", [])] == expected["tool_calls"]


def png(size: int, seed: str = "") -> tuple[str, bytes]:
    data = (hashlib.sha256(seed.encode()).digest() * (size // 32 + 1))[:size]
    return base64.b64encode(data).decode(), data


async def test_images_reach_ollama_and_are_never_recorded(client, sim, sessions):
    prompt = unique("what is this")
    image, data = png(1_500_000, prompt)  # 2 MB of base64: more than MAX_BODY_BYTES alone
    r = await client.post(
        "/api/generate",
        json={"model": MODEL, "prompt": prompt, "images": [image], "stream": False},
    )
    assert r.status_code == 200, r.text
    said = f"[image 1: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:12]}] "
    assert r.json()["response"].startswith(said)
    question = unique("and this")
    small, _ = png(10, question)
    messages = [{"role": "user", "content": question, "images": [small, small]}]
    r = await client.post("/api/chat", json={"model": MODEL, "messages": messages, "stream": False})
    assert r.json()["message"]["content"].startswith("[image 1: 10 bytes")
    (chat,) = await sim_records(sim, question)
    assert chat["images"] == {"count": 2, "bytes": [10, 10]}
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert orjson.loads(row.prompt) == [{"role": "user", "content": question}]
    (generated,) = await sim_records(sim, prompt)
    assert generated["images"] == {"count": 1, "bytes": [len(data)]}


async def test_images_over_max_image_bytes_are_413_and_queue_nothing(client, sim, sessions):
    prompt = unique()
    image, _ = png(15_800_000)  # 21 MB of base64, over MAX_IMAGE_BYTES (20 MiB)
    r = await client.post(
        "/api/generate", json={"model": MODEL, "prompt": prompt, "images": [image]}
    )
    assert r.status_code == 413
    assert r.json() == {"error": r.json()["error"]} and "MAX_IMAGE_BYTES" in r.json()["error"]
    assert await sim_records(sim, prompt) == []


async def test_embed_is_one_job_with_exact_vectors_and_no_vectors_recorded(client, sim, sessions):
    texts = [unique("first"), unique("second"), "third"]
    body = {"model": EMBED_MODEL, "input": texts, "truncate": True}
    r = await client.post("/api/embed", json=body)
    answer = r.json()
    assert answer["model"] == EMBED_MODEL
    assert as_float32(answer["embeddings"]) == [embedding_for(EMBED_MODEL, t, 384) for t in texts]
    assert answer["embeddings"] == (await direct(sim, "/api/embed", body))["embeddings"]
    assert answer["prompt_eval_count"] == 5 and answer["total_duration"] > 0
    record, _ = await sim_records(sim, texts[0])  # ours, then the direct one
    assert record["inputs"] == 3 and record["extras"]["truncate"] is True
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert (row.kind, row.input_count, row.status) == ("embed", 3, "succeeded")
    assert orjson.loads(row.prompt) == texts and not row.response and row.prompt_tokens == 5


async def test_one_text_embeds_on_both_endpoints(client, sim, sessions):
    text = unique("alone")
    embed = (await client.post("/api/embed", json={"model": "all-minilm", "input": text})).json()
    assert embed["model"] == "all-minilm"
    assert as_float32(embed["embeddings"]) == [embedding_for(EMBED_MODEL, text, 384)]
    r = await client.post("/api/embeddings", json={"model": "all-minilm", "prompt": text})
    assert r.json() == await direct(sim, "/api/embeddings", {"model": "all-minilm", "prompt": text})
    assert r.json()["embedding"] == pytest.approx(embed["embeddings"][0], rel=1e-6)
    row = await final_record(sessions, r.headers["x-generation-id"])
    assert (row.kind, row.input_count, orjson.loads(row.prompt)) == ("embed", 1, [text])


async def test_embedding_errors_are_ollamas(client, sim):
    r = await client.post("/api/embed", json={"model": "nomic-embed-text", "input": "x"})
    assert (r.status_code, r.json()) == (404, {"error": "model 'nomic-embed-text' not found"})
    r = await client.post("/api/embed", json={"model": MODEL, "input": "x"})
    assert r.status_code == 502 and "does not support embeddings" in r.json()["error"]
    r = await client.post("/api/embed", json={"model": EMBED_MODEL, "input": [1, 2]})
    assert r.status_code == 400 and isinstance(r.json()["error"], str)


async def test_a_whole_answer_is_the_stream_joined(client):
    body = {"model": MODEL, "prompt": unique(), "think": True}
    whole = (await client.post("/api/generate", json={**body, "stream": False})).json()
    parts = lines(await client.post("/api/generate", json=body))
    assert whole["thinking"] == "".join(p.get("thinking", "") for p in parts)
    assert whole["response"] == "".join(p["response"] for p in parts)
    last = parts[-1]
    assert {k: whole[k] for k in ("done", "done_reason", "eval_count")} == {
        k: last[k] for k in ("done", "done_reason", "eval_count")
    }


async def worker_counter(stack, name: str) -> float:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{stack.env['WORKER_METRICS_PORT']}/metrics")).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


async def test_the_worker_counts_tool_calls_and_embedded_inputs(client, stack):
    calls, inputs = (
        await worker_counter(stack, "llm_tool_calls_total"),
        await worker_counter(stack, "llm_embedding_inputs_total"),
    )
    steer = directive(tool_calls=[{"name": "weather"}, {"name": "weather"}])
    body = {"model": MODEL, "messages": [{"role": "user", "content": steer + unique()}]}
    await client.post("/api/chat", json={**body, "tools": [WEATHER], "stream": False})
    await client.post("/api/embed", json={"model": EMBED_MODEL, "input": ["a", "b", "c"]})

    async def counted() -> bool:
        return (
            await worker_counter(stack, "llm_tool_calls_total") == calls + 2
            and await worker_counter(stack, "llm_embedding_inputs_total") == inputs + 3
        )

    assert await eventually(counted)
