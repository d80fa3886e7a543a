"""ollama-js (the `ollama` npm package) against the running stack, through the scenario scripts
in tests/clients/js/ollama_*.mjs: generate and chat streamed and whole with thinking and tools,
embeddings, the model questions, model management, and errors that are strings."""

import pytest

from simulator.embed import embedding_for, float32
from simulator.script import thinking_for, tokens_for
from tests.clients.js import run_js
from tests.conftest import EMBED_MODEL, MASTER_KEY, MODEL
from tests.helpers import WEATHER, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def key(new_key) -> str:
    return str((await new_key("ollama-js"))["key"])


async def js(stack, scenario: str, key: str, model: str = MODEL, **given: object) -> dict:
    return await run_js(scenario, base_url=stack.url, api_key=key, model=model, **given)


@pytest.mark.parametrize("stream", [False, True])
async def test_generate_thinks_and_answers(stack, key, stream):
    prompt = unique("why")
    result = await js(stack, "ollama_generate.mjs", key, prompt=prompt, think=True, stream=stream)
    assert result["thinking"] == "".join(thinking_for(prompt, 4))
    assert result["text"] == "".join(tokens_for(prompt, 12))
    assert result["last"]["done"] is True and result["last"]["done_reason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_chat_tool_calls_are_ollamas_exactly(stack, sim, key, stream):
    messages = [{"role": "user", "content": unique("weather")}]
    result = await js(
        stack, "ollama_chat.mjs", key, messages=messages, tools=[WEATHER], stream=stream
    )
    direct = await sim.post(
        "/api/chat",
        json={"model": MODEL, "messages": messages, "tools": [WEATHER], "stream": False},
    )
    assert result["toolCalls"] == direct.json()["message"]["tool_calls"]
    assert result["toolCalls"][0]["id"].startswith("call_") and result["text"] == ""


async def test_embed_and_embeddings(stack, key):
    texts = [unique("one"), unique("two")]
    embedded = await js(stack, "ollama_embed.mjs", key, EMBED_MODEL, input=texts)
    assert embedded["model"] == EMBED_MODEL
    assert [[float32(x) for x in v] for v in embedded["embeddings"]] == [
        embedding_for(EMBED_MODEL, t, 384) for t in texts
    ]
    legacy = await js(stack, "ollama_embeddings.mjs", key, EMBED_MODEL, prompt=texts[0])
    assert [float32(x) for x in legacy["embedding"]] == embedding_for(EMBED_MODEL, texts[0], 384)


async def test_list_show_and_ps(stack, key, client):
    listed = await js(stack, "ollama_list.mjs", key)
    assert [m["model"] for m in listed["models"]] == [EMBED_MODEL, MODEL]
    assert all(m["size"] and m["digest"] and m["details"]["format"] for m in listed["models"])
    shown = await js(stack, "ollama_show.mjs", key)
    assert shown["model_info"]["general.architecture"] == "qwen3"
    await client.post("/api/generate", json={"model": MODEL})  # loads it
    running = await js(stack, "ollama_ps.mjs", key)
    assert MODEL in [m["model"] for m in running["models"]]


async def test_errors_reach_the_user_as_ollamas_words(stack, key):
    missing = await js(stack, "ollama_show.mjs", key, "llama3.2:1b")
    assert missing["error"]["status"] == 404
    assert missing["error"]["message"] == "model 'llama3.2:1b' not found"
    refused = await js(stack, "ollama_pull.mjs", key, "tinyllama")
    assert refused["error"]["status"] == 403
    assert "master key or an admin key" in refused["error"]["message"]
    anonymous = await js(stack, "ollama_generate.mjs", "", prompt="hi")
    assert anonymous["error"]["status"] == 401
    assert anonymous["error"]["message"].startswith("an API key is required")


async def test_pull_streams_progress_for_the_master_key(stack, sim):
    try:
        result = await js(stack, "ollama_pull.mjs", MASTER_KEY, "tinyllama", stream=True)
        statuses = [p["status"] for p in result["progress"]]
        assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
        whole = await js(stack, "ollama_pull.mjs", MASTER_KEY, "tinyllama", stream=False)
        assert whole["progress"] == [{"status": "success"}]
    finally:
        await sim.request("DELETE", "/api/delete", json={"model": "tinyllama"})
