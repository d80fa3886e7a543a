"""The Ollama dialect's generation routes against the running stack, with the official `ollama`
package and raw HTTP: text streamed and whole, errors in Ollama's shape on every path, bodies
read as JSON whatever their Content-Type, loads and unloads, `/` and its heartbeat."""

import httpx
import ollama
import orjson
import pytest

from simulator.script import tokens_for
from tests.conftest import AUTH, EMBED_MODEL, MODEL, key_client
from tests.helpers import directive, final_record, sim_outcome, sim_records, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def ollama_client(stack, redis):
    client = ollama.AsyncClient(host=stack.url, headers=AUTH)
    yield client
    await client._client.aclose()


async def test_generate_whole_and_streamed(ollama_client, sim, sessions):
    prompt = unique("why")
    whole = await ollama_client.generate(
        model=MODEL, prompt=prompt, options={"num_predict": 6, "temperature": 0.5}
    )
    assert whole.response == "".join(tokens_for(prompt, 6)) and whole.done
    assert whole.eval_count == 6 and whole.done_reason == "stop" and whole.total_duration > 0
    parts = [
        p
        async for p in await ollama_client.generate(
            model=MODEL, prompt=prompt, stream=True, options={"num_predict": 6}
        )
    ]
    assert "".join(p.response for p in parts) == whole.response
    assert parts[-1].done and parts[-1].eval_count == 6 and not any(p.done for p in parts[:-1])
    records = await sim_records(sim, prompt)
    assert records[0]["options"] == {"num_predict": 6, "temperature": 0.5}


async def test_chat_whole_and_streamed(ollama_client, sim):
    question = unique("hello")
    messages = [{"role": "system", "content": "terse"}, {"role": "user", "content": question}]
    whole = await ollama_client.chat(
        model=MODEL, messages=messages, options={"num_predict": 4}, format="json", think=False
    )
    assert whole.message.role == "assistant" and whole.message.content == "".join(
        tokens_for(question, 4)
    )
    parts = [
        p
        async for p in await ollama_client.chat(
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


async def test_awkward_tokens_come_out_identical(ollama_client):
    tokens = ["a\n", "\u0085", "\u2028", '"}', '\n{"error": 1}\n', "😀"]
    prompt = directive(tokens=tokens) + unique()
    parts = [p async for p in await ollama_client.generate(model=MODEL, prompt=prompt, stream=True)]
    assert "".join(p.response for p in parts) == "".join(tokens)


async def test_version_reports_the_workers_ollama(stack):
    async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=10) as http:
        assert (await http.get("/api/version")).json() == {"version": "0.12.6-sim"}
        root = await http.get("/")
    assert root.text == "Ollama is running"


async def test_head_root_answers_the_clis_heartbeat_without_a_key(stack):
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        r = await http.head("/")
    assert r.status_code == 200 and r.content == b""


async def test_an_unknown_model_is_ollamas_404(ollama_client):
    with pytest.raises(ollama.ResponseError) as raised:
        await ollama_client.generate(model="llama3.1:405b", prompt="hi")
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'llama3.1:405b' not found"


def is_ollamas_error(r: httpx.Response, status: int) -> str:
    """The message of an error in Ollama's shape, `{"error": "<string>"}`, with `status`."""
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return str(body["error"])


async def test_errors_are_ollamas_shape(stack, client, sim):
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as anonymous:
        r = await anonymous.post("/api/generate", json={"model": MODEL, "prompt": "hi"})
        assert "API key" in is_ollamas_error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "API key" in is_ollamas_error(await anonymous.get("/api/tags"), 401)
        is_ollamas_error(await anonymous.post("/api/embed", json={}), 401)
    assert "model" in is_ollamas_error(await client.post("/api/chat", json={}), 400)
    r = await client.post("/api/generate", json={"model": MODEL, "prompt": 3})
    assert "prompt" in is_ollamas_error(r, 400)
    r = await client.post("/api/generate", content=b'{"model": "qwen3:8b", "prompt": "h')
    assert "JSON" in is_ollamas_error(r, 400)
    r = await client.post("/api/chat", json={"model": MODEL, "messages": "hi"})
    assert "messages" in is_ollamas_error(r, 400)
    r = await client.post("/api/generate", json={"model": MODEL, "prompt": "x" * 2_000_000})
    assert "MAX_BODY_BYTES" in is_ollamas_error(r, 413)
    assert (await sim.get("/sim/requests")).json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/nothing"), ("POST", "/api/pul"), ("PUT", "/api/"), ("DELETE", "/api/x/y")],
)
async def test_unknown_paths_under_api_are_ollamas_404(client, method, path):
    assert is_ollamas_error(await client.request(method, path), 404) == "404 page not found"


async def test_a_wrong_method_is_a_405_in_ollamas_shape(client):
    is_ollamas_error(await client.get("/api/generate"), 405)
    is_ollamas_error(await client.post("/api/tags"), 405)


async def test_the_native_apis_unknown_paths_stay_native(client):
    r = await client.get("/api/v1/nothing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Content-Type": "application/x-www-form-urlencoded"}, {"Content-Type": "text/plain"}],
    ids=["none", "form", "text"],
)
async def test_a_json_body_is_read_whatever_its_content_type(stack, headers):
    prompt = unique()
    body = orjson.dumps({"model": MODEL, "prompt": prompt, "stream": False})
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as http:
        # httpx adds no Content-Type to raw content: "none" sends none.
        r = await http.post("/api/generate", content=body, headers={**AUTH, **headers})
        assert "content-type" not in r.request.headers or headers
        assert r.json()["response"] == "".join(tokens_for(prompt, 12))
        r = await http.post(
            "/api/embed",
            content=orjson.dumps({"model": EMBED_MODEL, "input": "x"}),
            headers={**AUTH, **headers},
        )
        assert len(r.json()["embeddings"]) == 1


async def test_an_empty_prompt_loads_the_model_without_the_queue(client, sim):
    r = await client.post("/api/generate", json={"model": MODEL})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    loaded = r.json()
    assert loaded["model"] == MODEL and loaded["created_at"].endswith("Z")
    assert {k: loaded[k] for k in ("response", "done", "done_reason")} == {
        "response": "",
        "done": True,
        "done_reason": "load",
    }
    r = await client.post("/api/chat", json={"model": "qwen3:8b", "messages": []})
    assert r.json()["message"] == {"role": "assistant", "content": ""}
    assert r.json()["done_reason"] == "load"
    reached = (await sim.get("/sim/requests")).json()
    assert [(r["path"], r["done_reason"], r["stream"]) for r in reached] == [
        ("/api/generate", "load", False),
        ("/api/chat", "load", False),
    ]
    assert MODEL in [m["model"] for m in (await sim.get("/api/ps")).json()["models"]]


async def test_an_ordinary_keys_load_is_answered_without_reaching_ollama(stack, sim, new_key):
    # Which model is loaded is the operator's: an ordinary key's load, answered as Ollama
    # answers it, would otherwise evict the model everyone else uses, outside the queue.
    key = (await new_key("loader"))["key"]
    async with key_client(stack, key) as http:
        r = await http.post("/api/generate", json={"model": MODEL})
        assert r.status_code == 200 and r.json()["done_reason"] == "load"
        assert r.json()["response"] == "" and r.json()["model"] == MODEL
        r = await http.post("/api/chat", json={"model": MODEL, "messages": [], "keep_alive": 0})
        assert r.json()["done_reason"] == "load" and r.headers["x-ignored-fields"] == "keep_alive"
        assert r.json()["message"] == {"role": "assistant", "content": ""}
        assert (await http.get("/api/v1/generations")).json()["data"] == []
    assert (await sim.get("/sim/requests")).json() == []


async def test_keep_alive_0_unloads_for_the_master_key(client, sim):
    await client.post("/api/generate", json={"model": MODEL})
    assert MODEL in [m["model"] for m in (await sim.get("/api/ps")).json()["models"]]
    r = await client.post("/api/chat", json={"model": MODEL, "messages": [], "keep_alive": 0})
    assert r.json()["done_reason"] == "unload" and "x-ignored-fields" not in r.headers
    assert MODEL not in [m["model"] for m in (await sim.get("/api/ps")).json()["models"]]
    reached = (await sim.get("/sim/requests")).json()
    assert [r["extras"].get("keep_alive") for r in reached] == [None, 0]


async def test_a_load_of_a_model_ollama_lacks_is_its_error(missing_model_stack):
    async with httpx.AsyncClient(base_url=missing_model_stack.url, headers=AUTH) as http:
        r = await http.post("/api/generate", json={"model": "missing-model:1b"})
    assert "missing-model:1b" in is_ollamas_error(r, 502)


async def test_a_load_with_ollama_unreachable_is_a_clear_503(unreachable_stack):
    async with httpx.AsyncClient(base_url=unreachable_stack.url, headers=AUTH) as http:
        r = await http.post("/api/chat", json={"model": MODEL, "messages": []})
    assert is_ollamas_error(r, 503) == "cannot reach Ollama" and r.headers["retry-after"]


async def test_an_error_mid_stream_is_an_error_line(ollama_client):
    prompt = (
        directive(tokens=["a", "b"], fault="error_line", after=1, message="overheated") + unique()
    )
    with pytest.raises(ollama.ResponseError, match="overheated"):
        async for _ in await ollama_client.generate(model=MODEL, prompt=prompt, stream=True):
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
