"""LiteLLM's Ollama providers against the running stack: `ollama_chat/` (POST /api/chat: text,
streams, tools, reasoning), `ollama/` (POST /api/generate) and `litellm.aembedding` (POST
/api/embed), with the key as `api_key` (sent as `Authorization: Bearer`)."""

import litellm
import pytest

from simulator.embed import embedding_for, float32
from simulator.script import thinking_for, tokens_for
from tests.conftest import EMBED_MODEL, MODEL
from tests.helpers import WEATHER, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
async def key(new_key) -> str:
    return str((await new_key("litellm"))["key"])


async def test_ollama_chat_answers_whole_and_streamed(stack, key, sim):
    question = unique("sky")
    messages = [{"role": "user", "content": question}]
    answer = await litellm.acompletion(
        model=f"ollama_chat/{MODEL}", api_base=stack.url, api_key=key, messages=messages
    )
    assert answer.choices[0].message.content == "".join(tokens_for(question, 12))
    assert answer.usage.completion_tokens == 12
    stream = await litellm.acompletion(
        model=f"ollama_chat/{MODEL}",
        api_base=stack.url,
        api_key=key,
        messages=messages,
        stream=True,
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == answer.choices[0].message.content
    reached = [r for r in (await sim.get("/sim/requests")).json() if r["prompt"] == question]
    assert [r["path"] for r in reached] == ["/api/chat", "/api/chat"]


async def test_ollama_chat_calls_tools(stack, key, sim):
    question = unique("weather")
    messages: list = [{"role": "user", "content": question}]
    answer = await litellm.acompletion(
        model=f"ollama_chat/{MODEL}",
        api_base=stack.url,
        api_key=key,
        messages=messages,
        tools=[WEATHER],
    )
    choice = answer.choices[0]
    (call,) = choice.message.tool_calls
    direct = await sim.post(
        "/api/chat",
        json={"model": MODEL, "messages": messages, "tools": [WEATHER], "stream": False},
    )
    expected = direct.json()["message"]["tool_calls"][0]
    assert choice.finish_reason == "tool_calls" and call.id == expected["id"]
    assert (call.function.name, call.function.arguments) == ("weather", '{"city": "sim"}')
    messages += [
        choice.message.model_dump(),
        {"role": "tool", "tool_call_id": call.id, "content": "hail"},
    ]
    final = await litellm.acompletion(
        model=f"ollama_chat/{MODEL}",
        api_base=stack.url,
        api_key=key,
        messages=messages,
        tools=[WEATHER],
    )
    assert final.choices[0].message.content == "weather returned: hail"


async def test_ollama_chat_reasoning_is_reasoning_content(stack, key):
    question = unique()
    answer = await litellm.acompletion(
        model=f"ollama_chat/{MODEL}",
        api_base=stack.url,
        api_key=key,
        messages=[{"role": "user", "content": question}],
        reasoning_effort="high",
        max_tokens=3,
    )
    message = answer.choices[0].message
    assert message.reasoning_content == "".join(thinking_for(question, 4))
    assert message.content == "".join(tokens_for(question, 3))


async def test_ollama_generate_provider(stack, key, sim):
    question = unique("story")
    answer = await litellm.acompletion(
        model=f"ollama/{MODEL}",
        api_base=stack.url,
        api_key=key,
        messages=[{"role": "user", "content": question}],
        max_tokens=4,
    )
    (record,) = [r for r in (await sim.get("/sim/requests")).json() if question in r["prompt"]]
    assert record["path"] == "/api/generate"
    assert answer.choices[0].message.content == "".join(tokens_for(record["prompt"], 4))


async def test_aembedding_is_one_batch(stack, key, sim):
    texts = [unique("x"), unique("y"), unique("z")]
    answer = await litellm.aembedding(
        model=f"ollama/{EMBED_MODEL}", api_base=stack.url, api_key=key, input=texts
    )
    vectors = [item["embedding"] for item in answer.data]
    assert [[float32(x) for x in v] for v in vectors] == [
        embedding_for(EMBED_MODEL, t, 384) for t in texts
    ]
    embedded = [r for r in (await sim.get("/sim/requests")).json() if r["path"] == "/api/embed"]
    assert [r["inputs"] for r in embedded] == [3]
