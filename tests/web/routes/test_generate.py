"""POST /api/v1/generate end to end: the real API and worker processes, the simulator as Ollama."""

import uuid

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from shared.keys import Keys
from shared.models import Generation
from simulator.script import tokens_for
from tests import sse
from tests.conftest import AUTH, MAIN, namespace
from tests.helpers import directive, final_record

pytestmark = pytest.mark.e2e

AWKWARD = [
    "line\n",
    "crlf\r\n",
    'quote " and \\ backslash ',
    "data: {}",
    "\n\ndata: {}\n\n",
    "</script><script>alert(1)</script>",
    "emoji 😀🚀 ",
    "漢字かな混じり ",
    "tab\tnul-free \u2028 sep \u0085 nel \x0b vt ",
    "",
    "}",
]


async def test_json_answer_is_the_simulators_text(client, sim):
    prompt = f"Why is the sky blue? {uuid.uuid4()}"
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["response"] == "".join(tokens_for(prompt, 12))
    assert r.headers["x-generation-id"] == body["id"]
    (record,) = (await sim.get("/sim/requests")).json()
    assert record["prompt"] == prompt and record["model"] == "qwen3:8b"
    assert record["text"] == body["response"] and record["outcome"] == "completed"


async def test_stream_is_the_seed_format_with_every_chunk_once(client):
    prompt = directive(tokens=["This ", "is a ", "streamed ", "response."], rate=50) + "story"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    lines = [line for line in r.text.split("\n") if line.startswith("data: ")]
    assert lines[-1] == "data: {}"
    chunks = [orjson.loads(line[6:])["response"] for line in lines[:-1]]
    assert "".join(chunks) == "This is a streamed response."
    assert all(line.startswith('data: {"response": "') for line in lines[:-1])
    ids = [int(e.id) for e in sse.parse(r.text).events]
    assert ids == sorted(set(ids)), "event ids increase and never repeat"


@pytest.mark.parametrize("stream", [False, True])
async def test_awkward_tokens_come_out_identical(client, stream):
    prompt = directive(tokens=AWKWARD) + "awkward"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": stream})
    assert r.status_code == 200, r.text
    text = sse.parse(r.text).text if stream else r.json()["response"]
    assert text == "".join(AWKWARD)


async def test_stream_of_many_chunks_loses_none(client):
    tokens = [f"<{i}>" for i in range(400)]
    prompt = directive(tokens=tokens, rate=2000) + "many"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    parsed = sse.parse(r.text)
    assert parsed.text == "".join(tokens)
    assert parsed.events[-1].json() == {}


async def test_generation_is_recorded_with_its_outcome(client, sessions):
    prompt = directive(tokens=["a", "b", "c"]) + "record me"
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    # The answer goes out before its record is written (docs/api.md: the API reads the outcome
    # from the replay log meanwhile); the row itself lands right after.
    row = await final_record(sessions, r.json()["id"])
    assert row is not None
    assert row.status == "succeeded" and row.response == "abc" and row.prompt == prompt
    assert row.llm_model == "qwen3:8b" and row.stream is False
    assert row.completion_tokens == 3 and row.prompt_tokens and row.prompt_tokens > 0
    assert row.queued_at <= row.started_at <= row.first_token_at <= row.finished_at
    assert row.total_duration_ns and row.total_duration_ns > 0
    assert row.done_reason == "stop" and row.attempts == 1 and row.worker_id


BAD_BODIES = [
    ({}, "prompt"),
    ({"prompt": 42}, "prompt"),
    ({"prompt": ["a"]}, "prompt"),
    ({"prompt": None}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"prompt": "hi", "stream": "yes"}, "stream"),
    ({"prompt": "hi", "stream": 1}, "stream"),
    ([], "body"),
]


async def assert_nothing_enqueued(redis, sim, sessions, rows_before: int) -> None:
    assert await redis.zcard(Keys(namespace(MAIN)).arq_queue) == 0
    assert (await sim.get("/sim/requests")).json() == []
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Generation)) == rows_before


async def count_rows(sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Generation)) or 0)


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
async def test_bad_body_is_422_and_enqueues_nothing(client, redis, sim, sessions, body, field):
    before = await count_rows(sessions)
    r = await client.post("/api/v1/generate", json=body)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["type"] == "invalid_request" and field in error["message"]
    await assert_nothing_enqueued(redis, sim, sessions, before)


async def test_invalid_json_is_422(client, redis, sim, sessions):
    before = await count_rows(sessions)
    r = await client.post(
        "/api/v1/generate",
        content=b'{"prompt": "hi",',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request"
    await assert_nothing_enqueued(redis, sim, sessions, before)


async def test_prompt_over_the_limit_is_422(client, redis, sim, sessions):
    before = await count_rows(sessions)
    r = await client.post("/api/v1/generate", json={"prompt": "x" * 100_001})
    assert r.status_code == 422 and "MAX_PROMPT_CHARS" in r.json()["error"]["message"]
    await assert_nothing_enqueued(redis, sim, sessions, before)


@pytest.mark.parametrize("stream", [False, True])
async def test_ollama_5xx_is_a_clear_502(client, stream):
    prompt = directive(fault="status", status=500, message="CUDA out of memory") + "x"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": stream})
    assert r.status_code == 502
    assert r.json()["error"] == {
        "type": "upstream_error",
        "message": "Ollama answered 500: CUDA out of memory",
    }


async def test_error_line_mid_stream_becomes_an_error_event(client):
    prompt = directive(tokens=["one ", "two "], fault="error_line", after=2, message="boom") + "x"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    assert r.status_code == 200
    parsed = sse.parse(r.text)
    assert parsed.text == "one two "
    last = parsed.events[-1]
    assert last.event == "error"
    assert last.json() == {
        "error": {"type": "upstream_error", "message": "Ollama failed during the generation: boom"}
    }


async def test_error_line_without_stream_is_a_502(client):
    prompt = directive(tokens=["one "], fault="error_line", after=1, message="boom") + "x"
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 502 and "boom" in r.json()["error"]["message"]


async def test_dropped_connection_mid_stream_becomes_an_error_event(client):
    prompt = directive(tokens=["one ", "two "], fault="drop", after=1) + "x"
    r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
    parsed = sse.parse(r.text)
    assert parsed.text == "one "
    assert parsed.events[-1].event == "error"
    assert parsed.events[-1].json()["error"]["type"] == "upstream_error"


async def test_busy_ollama_is_retried_before_any_chunk(client, sim):
    key = str(uuid.uuid4())
    prompt = directive(fault="status", status=503, message="server busy", times=2, key=key) + "x"
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 200, r.text
    outcomes = [rec["outcome"] for rec in (await sim.get("/sim/requests")).json()]
    assert outcomes == ["fault", "fault", "completed"]


@pytest.mark.parametrize("stream", [False, True])
async def test_unknown_model_is_a_502_naming_the_model(missing_model_stack, stream):
    async with httpx.AsyncClient(
        base_url=missing_model_stack.url, headers=AUTH, timeout=30
    ) as http:
        r = await http.post("/api/v1/generate", json={"prompt": "hi", "stream": stream})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["type"] == "model_not_found"
    assert "missing-model:1b" in error["message"] and "not found" in error["message"]


@pytest.mark.parametrize("stream", [False, True])
async def test_unreachable_ollama_is_a_503_not_a_hang(unreachable_stack, stream):
    async with httpx.AsyncClient(base_url=unreachable_stack.url, headers=AUTH, timeout=30) as http:
        r = await http.post("/api/v1/generate", json={"prompt": "hi", "stream": stream})
    assert r.status_code == 503
    assert r.json()["error"]["type"] == "upstream_unavailable"
    assert "cannot reach Ollama" in r.json()["error"]["message"]
    assert r.headers["retry-after"]
