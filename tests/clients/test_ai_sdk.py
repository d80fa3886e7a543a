"""The Vercel AI SDK (the npm packages `ai`, `@ai-sdk/openai`, `@ai-sdk/openai-compatible`) against
the OpenAI dialect's chat completions and embeddings, run by Node.js (tests/clients/js/)."""

import pytest

from simulator.embed import embedding_for
from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests.clients.js import run_js
from tests.conftest import EMBED_MODEL, MASTER_KEY, MODEL
from tests.helpers import directive, unique

pytestmark = pytest.mark.e2e


async def scenario(stack, name: str, model: str = MODEL, **given: object) -> dict:
    return await run_js(name, base_url=stack.url, api_key=MASTER_KEY, model=model, **given)


async def test_generate_text_through_chat_completions(stack):
    prompt = unique("ai sdk")
    result = await scenario(stack, "ai_chat_text.mjs", prompt=prompt)
    assert result["text"] == "".join(tokens_for(prompt, 12))
    assert result["finishReason"] == "stop" and result["modelId"] == MODEL
    assert result["generationId"] and result["usage"]["outputTokens"] == 12


async def test_stream_text_through_chat_completions(stack):
    prompt = directive(tokens=["a\n", 'b "', "data: c"]) + unique()
    result = await scenario(stack, "ai_chat_stream.mjs", prompt=prompt)
    assert result["text"] == 'a\nb "data: c' and "".join(result["deltas"]) == result["text"]
    assert result["finishReason"] == "stop"


@pytest.mark.parametrize("stream", [False, True])
async def test_a_tool_the_sdk_runs_and_the_answer_after_it(stack, stream):
    prompt = unique("weather in Oslo")
    result = await scenario(stack, "ai_chat_tools.mjs", prompt=prompt, stream=stream)
    first, second = result["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["toolCalls"] == [
        {
            "toolCallId": call_id(prompt, 0, "weather"),
            "toolName": "weather",
            "input": {"city": "sim"},
        }
    ]
    assert first["toolResults"][0]["output"] == "sunny in sim"
    # The simulated model quotes the tool's result, which the SDK sent back as a tool message.
    assert second["finishReason"] == "stop" and second["text"] == "weather returned: sunny in sim"
    assert result["text"] == second["text"]


@pytest.mark.parametrize("stream", [False, True])
async def test_reasoning_through_the_openai_compatible_provider(stack, stream):
    prompt = unique("reason")
    result = await scenario(stack, "ai_reasoning.mjs", prompt=prompt, stream=stream)
    # reasoning "medium" is reasoning_effort "medium": the simulator's 4 thinking chunks.
    assert result["reasoningText"] == "".join(thinking_for(prompt, 4))
    assert result["text"] == "".join(tokens_for(prompt, 12))
    if stream:
        kinds = [p["type"] for p in result["parts"]]
        assert kinds.index("text-delta") > kinds.index("reasoning-delta")


async def test_embed_and_embed_many(stack):
    value, values = unique("one"), [unique("two"), unique("three")]
    result = await scenario(stack, "ai_embed.mjs", model=EMBED_MODEL, value=value, values=values)
    assert result["embedding"] == pytest.approx(embedding_for(EMBED_MODEL, value, 384))
    for vector, text in zip(result["embeddings"], values, strict=True):
        assert vector == pytest.approx(embedding_for(EMBED_MODEL, text, 384))
    assert result["usage"]["tokens"] > 0
