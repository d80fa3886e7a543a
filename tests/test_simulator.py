"""The Ollama simulator speaks Ollama's protocol, with faults on demand (a real process)."""

import asyncio

import httpx
import orjson
import pytest

from simulator.script import tokens_for


def lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line]


async def test_generate_streams_ndjson_with_final_statistics(sim):
    r = await sim.post(
        "/api/generate", json={"model": "qwen3:8b", "prompt": "p", "options": {"num_predict": 4}}
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    parts = lines(r.text)
    assert all(p["model"] == "qwen3:8b" and "created_at" in p for p in parts)
    assert [p["done"] for p in parts] == [False] * 4 + [True]
    assert "".join(p["response"] for p in parts) == "".join(tokens_for("p", 4))
    final = parts[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == 4
    for name in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_duration",
    ):
        assert isinstance(final[name], int)


async def test_generate_without_stream_answers_one_object(sim):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p", "stream": False})
    body = r.json()
    assert body["done"] is True and body["response"] == "".join(tokens_for("p", 12))


async def test_chat_uses_message_content(sim):
    r = await sim.post(
        "/api/chat", json={"model": "qwen3:8b", "messages": [{"role": "user", "content": "hi"}]}
    )
    parts = lines(r.text)
    assert parts[0]["message"]["role"] == "assistant"
    assert "".join(p["message"]["content"] for p in parts) == "".join(tokens_for("hi", 12))


async def test_unknown_model_is_ollamas_404(sim):
    r = await sim.post("/api/generate", json={"model": "nope", "prompt": "p"})
    assert r.status_code == 404
    assert r.json() == {"error": 'model "nope" not found, try pulling it first'}


async def test_tags_version_show_pull_and_root(sim):
    assert (await sim.get("/")).text == "Ollama is running"
    assert "version" in (await sim.get("/api/version")).json()
    names = [m["name"] for m in (await sim.get("/api/tags")).json()["models"]]
    assert "qwen3:8b" in names
    assert (await sim.post("/api/show", json={"model": "qwen3:8b"})).status_code == 200
    assert (await sim.post("/api/show", json={"model": "other:1b"})).status_code == 404
    pulled = lines((await sim.post("/api/pull", json={"model": "other:1b"})).text)
    assert pulled[-1] == {"status": "success"}
    assert (await sim.post("/api/show", json={"model": "other:1b"})).status_code == 200


async def test_text_is_escaped_as_ollamas_go_encoder_does(sim):
    prompt = 'SIM: {"tokens": ["</script>&", "\\u2028", "\\u0085"]}\nx'
    raw = (await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})).content
    assert b"\\u003c/script\\u003e\\u0026" in raw and b"\\u2028" in raw
    assert "\u0085".encode() in raw, "Go leaves U+0085 raw"


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("error_line", lambda r: lines(r.text)[-1] == {"error": "bad"}),
        ("status", lambda r: r.status_code == 500 and r.json() == {"error": "bad"}),
    ],
)
async def test_faults_on_demand(sim, fault, check):
    prompt = f'SIM: {{"fault": "{fault}", "after": 1, "message": "bad"}}\nx'
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})
    assert check(r)


async def test_dropped_connection_cuts_the_stream(sim):
    prompt = 'SIM: {"fault": "drop", "after": 2}\nx'
    with pytest.raises(httpx.HTTPError):
        await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})


async def test_token_rate_and_time_to_first_token_are_honoured(sim):
    prompt = 'SIM: {"n": 5, "rate": 20, "ttft": 0.2}\nx'
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})
    assert loop.time() - t0 >= 0.2 + 4 / 20 * 0.9


async def test_records_a_client_that_closes_its_stream(sim):
    prompt = 'SIM: {"n": 100, "rate": 20}\nx'
    async with sim.stream(
        "POST", "/api/generate", json={"model": "qwen3:8b", "prompt": prompt}
    ) as r:
        async for _ in r.aiter_lines():
            break
    for _ in range(50):
        (record,) = (await sim.get("/sim/requests")).json()
        if record["outcome"] != "running":
            break
        await asyncio.sleep(0.05)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 100
