"""ollama-python (`ollama.AsyncClient`) against the running stack: generate and chat streamed
and whole, tools, thinking, images, embeddings, the model questions, loads, and model management
(the operator's). Each test uses a key of its own, whose records it then reads."""

import hashlib
from collections.abc import AsyncIterator

import ollama
import pytest

from simulator.embed import embedding_for, float32
from simulator.script import thinking_for, tokens_for
from tests.conftest import AUTH, EMBED_MODEL, MODEL, Stack, key_client
from tests.helpers import unique

pytestmark = pytest.mark.e2e


def weather(city: str, days: int) -> str:
    """The weather in a city.

    Args:
        city: The city.
        days: How many days ahead.
    """
    return "sunny"


@pytest.fixture
async def key(new_key) -> str:
    return str((await new_key("ollama-python"))["key"])


@pytest.fixture
async def as_key(stack: Stack, key: str) -> AsyncIterator[ollama.AsyncClient]:
    """ollama-python with a key of the test's own."""
    client = ollama.AsyncClient(host=stack.url, headers={"Authorization": f"Bearer {key}"})
    yield client
    await client._client.aclose()


@pytest.fixture
async def as_master(stack: Stack) -> AsyncIterator[ollama.AsyncClient]:
    client = ollama.AsyncClient(host=stack.url, headers=AUTH)
    yield client
    await client._client.aclose()


async def records(stack: Stack, key: str) -> list[dict]:
    """The key's generations, oldest first."""
    async with key_client(stack, key) as http:
        return list(reversed((await http.get("/api/v1/generations")).json()["data"]))


async def test_generate_thinks_and_answers_whole_and_streamed(as_key, stack, key):
    prompt = unique("why")
    whole = await as_key.generate(model=MODEL, prompt=prompt, think=True)
    assert whole.thinking == "".join(thinking_for(prompt, 4))
    assert whole.response == "".join(tokens_for(prompt, 12)) and whole.done_reason == "stop"
    parts = [p async for p in await as_key.generate(model=MODEL, prompt=prompt, stream=True)]
    assert "".join(p.thinking or "" for p in parts) == ""  # think left out: the server's default
    assert "".join(p.response for p in parts) == whole.response and parts[-1].done
    first, second = await records(stack, key)
    assert (first["kind"], first["thinking"], first["response"]) == (
        "generate",
        whole.thinking,
        whole.response,
    )
    assert second["thinking"] is None and second["stream"] is True


async def test_chat_calls_tools_and_reads_their_results(as_key, stack, key):
    question = unique("weather")
    messages: list = [{"role": "user", "content": question}]
    answer = await as_key.chat(model=MODEL, messages=messages, tools=[weather])
    (call,) = answer.message.tool_calls or []
    assert (call.function.name, dict(call.function.arguments)) == (
        "weather",
        {"city": "sim", "days": 1},
    )
    streamed = [
        c
        async for part in await as_key.chat(
            model=MODEL, messages=messages, tools=[weather], stream=True
        )
        for c in part.message.tool_calls or []
    ]
    assert streamed == [call]
    messages += [answer.message, {"role": "tool", "tool_name": "weather", "content": "sunny"}]
    final = await as_key.chat(model=MODEL, messages=messages, tools=[weather])
    assert final.message.content == "weather returned: sunny" and not final.message.tool_calls
    first, second, third = await records(stack, key)
    assert first["tool_calls"][0]["function"]["arguments"] == {"city": "sim", "days": 1}
    assert second["tool_calls"] == first["tool_calls"] and third["tool_calls"] is None
    assert third["response"] == "weather returned: sunny"


async def test_chat_thinks_at_a_level_streamed(as_key):
    question = unique()
    parts = [
        p
        async for p in await as_key.chat(
            model=MODEL,
            messages=[{"role": "user", "content": question}],
            think="high",
            stream=True,
            options={"num_predict": 3},
        )
    ]
    assert "".join(p.message.thinking or "" for p in parts) == "".join(thinking_for(question, 8))
    assert "".join(p.message.content for p in parts) == "".join(tokens_for(question, 3))


async def test_images_are_seen_and_never_recorded(as_key, stack, key):
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
    prompt = unique("describe")
    answer = await as_key.generate(model=MODEL, prompt=prompt, images=[image])
    digest = hashlib.sha256(image).hexdigest()[:12]
    assert answer.response.startswith(f"[image 1: {len(image)} bytes, sha256 {digest}] ")
    chat = await as_key.chat(
        model=MODEL, messages=[{"role": "user", "content": prompt, "images": [image]}]
    )
    assert chat.message.content.startswith("[image 1: ")
    for record in await records(stack, key):
        assert "iVBOR" not in record["prompt"] and prompt in record["prompt"]


async def test_embed_and_embeddings_are_exact_and_recorded(as_key, stack, key):
    texts = [unique("a"), unique("b")]
    embedded = await as_key.embed(model=EMBED_MODEL, input=texts)
    assert [[float32(x) for x in v] for v in embedded.embeddings] == [
        embedding_for(EMBED_MODEL, t, 384) for t in texts
    ]
    one = await as_key.embeddings(model="all-minilm", prompt=texts[0])
    assert [float32(x) for x in one.embedding] == embedding_for(EMBED_MODEL, texts[0], 384)
    first, second = await records(stack, key)
    assert (first["kind"], first["input_count"], second["input_count"]) == ("embed", 2, 1)
    assert first["llm_model"] == EMBED_MODEL and first["response"] in ("", None)


async def test_list_show_and_ps_describe_the_allowed_models(as_key, sim):
    listed = {m.model: m for m in (await as_key.list()).models}
    assert sorted(listed) == [EMBED_MODEL, MODEL]
    assert listed[MODEL].size and listed[MODEL].digest and listed[MODEL].details.family == "qwen3"
    shown = await as_key.show(MODEL)
    assert shown.modelinfo and shown.modelinfo["qwen3.context_length"] == 40960
    assert "tools" in (shown.capabilities or []) and shown.template
    with pytest.raises(ollama.ResponseError) as refused:
        await as_key.show("llama3.2:1b")
    assert (refused.value.status_code, refused.value.error) == (
        404,
        "model 'llama3.2:1b' not found",
    )
    loaded = await as_key.generate(model=MODEL, prompt="")
    assert (loaded.done, loaded.done_reason, loaded.response) == (True, "load", "")
    await as_key.generate(model=MODEL, prompt=unique())  # its first generation loads it
    running = (await as_key.ps()).models
    assert MODEL in [m.model for m in running] and all(m.size_vram for m in running)


async def test_keep_alive_0_with_an_empty_prompt_unloads_for_the_master_key(as_master, as_key):
    await as_master.generate(model=MODEL, prompt="")
    kept = await as_key.generate(model=MODEL, prompt="", keep_alive=0)
    assert kept.done_reason == "load"  # a normal key's keep_alive is dropped
    gone = await as_master.chat(model=MODEL, messages=[], keep_alive=0)
    assert gone.done_reason == "unload"
    assert MODEL not in [m.model for m in (await as_master.ps()).models]


async def test_pull_is_refused_for_a_key_and_streams_for_the_master_key(as_key, as_master, sim):
    with pytest.raises(ollama.ResponseError) as refused:
        await as_key.pull("tinyllama")
    assert refused.value.status_code == 403 and "master key" in refused.value.error
    try:
        progress = [p async for p in await as_master.pull("tinyllama", stream=True)]
        assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
        assert any(p.total and p.completed == p.total for p in progress)
        assert (await as_master.pull("tinyllama")).status == "success"
    finally:
        await sim.request("DELETE", "/api/delete", json={"model": "tinyllama"})
    with pytest.raises(ollama.ResponseError) as missing:
        await as_master.delete("tinyllama")
    assert (missing.value.status_code, missing.value.error) == (
        404,
        "model 'tinyllama' not found",
    )
