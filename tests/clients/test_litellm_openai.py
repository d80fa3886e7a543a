"""LiteLLM's `openai/` provider pointed at the server (what a LiteLLM proxy or app in front of
it sends): text, tool calls streamed and not, reasoning, embeddings."""

import litellm
import pytest

from simulator.embed import embedding_for
from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests.conftest import EMBED_MODEL, MASTER_KEY, MODEL
from tests.helpers import WEATHER, unique

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(stack) -> dict:
    return {"api_base": f"{stack.url}/v1", "api_key": MASTER_KEY, "num_retries": 0}


async def test_completion_and_stream(server):
    question = unique("litellm")
    answer = await litellm.acompletion(
        model=f"openai/{MODEL}", messages=[{"role": "user", "content": question}], **server
    )
    assert answer.choices[0].message.content == "".join(tokens_for(question, 12))
    other = unique("litellm stream")
    stream = await litellm.acompletion(
        model=f"openai/{MODEL}",
        messages=[{"role": "user", "content": other}],
        stream=True,
        **server,
    )
    parts = [chunk.choices[0].delta.content or "" async for chunk in stream]
    assert "".join(parts) == "".join(tokens_for(other, 12))


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_calls(server, stream):
    question = unique("litellm tools")
    answer = await litellm.acompletion(
        model=f"openai/{MODEL}",
        messages=[{"role": "user", "content": question}],
        tools=[WEATHER],
        stream=stream,
        **server,
    )
    if stream:
        chunks = [chunk async for chunk in answer]
        answer = litellm.stream_chunk_builder(chunks)
    (call,) = answer.choices[0].message.tool_calls
    assert call.id == call_id(question, 0, "weather") and call.function.name == "weather"
    assert call.function.arguments == '{"city":"sim"}'
    assert answer.choices[0].finish_reason == "tool_calls"


async def test_reasoning_content(server):
    question = unique("litellm thinks")
    answer = await litellm.acompletion(
        model=f"openai/{MODEL}",
        messages=[{"role": "user", "content": question}],
        reasoning_effort="low",
        **server,
    )
    # "low" halves the simulator's 4 thinking chunks.
    assert answer.choices[0].message.reasoning_content == "".join(thinking_for(question, 2))


async def test_embedding(server):
    texts = [unique("a"), unique("b")]
    answer = await litellm.aembedding(model=f"openai/{EMBED_MODEL}", input=texts, **server)
    for item, text in zip(answer.data, texts, strict=True):
        assert item["embedding"] == pytest.approx(embedding_for(EMBED_MODEL, text, 384))
