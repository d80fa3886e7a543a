"""The Ollama dialect, driven by the official `ollama` package against the running stack."""

import httpx
import ollama
import orjson
import pytest

from simulator.script import tokens_for
from tests.conftest import AUTH, MODEL
from tests.helpers import directive, final_record, sim_outcome, sim_records, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(stack, redis):
    client = ollama.AsyncClient(host=stack.url, headers=AUTH)
    yield client
    await client._client.aclose()


async def test_generate_whole_and_streamed(client, sim, sessions):
    prompt = unique("why")
    whole = await client.generate(
        model=MODEL, prompt=prompt, options={"num_predict": 6, "temperature": 0.5}
    )
    assert whole.response == "".join(tokens_for(prompt, 6)) and whole.done
    assert whole.eval_count == 6 and whole.done_reason == "stop" and whole.total_duration > 0
    parts = [
        p
        async for p in await client.generate(
            model=MODEL, prompt=prompt, stream=True, options={"num_predict": 6}
        )
    ]
    assert "".join(p.response for p in parts) == whole.response
    assert parts[-1].done and parts[-1].eval_count == 6 and not any(p.done for p in parts[:-1])
    records = await sim_records(sim, prompt)
    assert records[0]["options"] == {"num_predict": 6, "temperature": 0.5}


async def test_chat_whole_and_streamed(client, sim):
    question = unique("hello")
    messages = [{"role": "system", "content": "terse"}, {"role": "user", "content": question}]
    whole = await client.chat(
        model=MODEL, messages=messages, options={"num_predict": 4}, format="json", think=False
    )
    assert whole.message.role == "assistant" and whole.message.content == "".join(
        tokens_for(question, 4)
    )
    parts = [
        p
        async for p in await client.chat(
            model=MODEL, messages=messages, stream=True, options={"num_predict": 4}
        )
    ]
    assert "".join(p.message.content for p in parts) == whole.message.content
    first = (await sim_records(sim, question))[0]
    assert (
        first["path"] == "/api/chat"
        and first["extras"]["format"] == "json"
        and first["extras"]["think"] is False
    )
    assert first["extras"]["messages"] == messages


async def test_awkward_tokens_come_out_identical(client):
    tokens = ["a\n", "\u0085", "\u2028", '"}', '\n{"error": 1}\n', "😀"]
    prompt = directive(tokens=tokens) + unique()
    parts = [p async for p in await client.generate(model=MODEL, prompt=prompt, stream=True)]
    assert "".join(p.response for p in parts) == "".join(tokens)


async def test_tags_and_version(client):
    assert [m.model for m in (await client.list()).models] == [MODEL]


async def test_version_reports_the_workers_ollama(stack):
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=10) as http:
        assert (await http.get("/api/version")).json() == {"version": "0.12.6-sim"}
        root = await http.get("/")
    assert root.text == "Ollama is running"


async def test_an_unknown_model_is_ollamas_404(client):
    with pytest.raises(ollama.ResponseError) as raised:
        await client.generate(model="llama3.1:405b", prompt="hi")
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'llama3.1:405b' not found"


async def test_errors_are_ollamas_shape(stack):
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        r = await http.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
        assert r.status_code == 401 and set(r.json()) == {"error"}
        r = await http.post("/api/chat", json={"model": MODEL}, headers=AUTH)
        assert r.status_code == 400 and isinstance(r.json()["error"], str)


async def test_an_error_mid_stream_is_an_error_line(client):
    prompt = (
        directive(tokens=["a", "b"], fault="error_line", after=1, message="overheated") + unique()
    )
    with pytest.raises(ollama.ResponseError, match="overheated"):
        async for _ in await client.generate(model=MODEL, prompt=prompt, stream=True):
            pass


async def test_a_dropped_ollama_stream_is_cancelled(stack, sim, sessions):
    prompt = directive(n=200, rate=20) + unique()
    body = {"model": MODEL, "prompt": prompt}
    async with (
        httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=10) as http,
        http.stream("POST", "/api/generate", json=body) as r,
    ):
        async for line in r.aiter_lines():
            assert orjson.loads(line)["done"] is False
            gid = r.headers["x-generation-id"]
            break
    record = await sim_outcome(sim, prompt, timeout=10)
    assert record["outcome"] == "client_closed"
    assert (await final_record(sessions, gid)).status == "cancelled"
