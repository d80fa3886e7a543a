"""The Responses API (/v1/responses) through the clients that use it: openai-python's
`responses.*` (create, the stream helper, retrieve with `starting_after`, cancel) and the Vercel
AI SDK's default `openai(model)`, checked value for value against the simulator."""

import base64
import hashlib
import uuid

import openai
import pytest
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseFunctionToolCall,
    ResponseReasoningItem,
    ResponseTextDeltaEvent,
)

from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests.clients.js import run_js
from tests.conftest import MASTER_KEY, MODEL, key_client
from tests.helpers import directive, eventually, final_record, sim_outcome, sim_records, unique

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "name": "weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _generation(response_id: str) -> str:
    return str(uuid.UUID(hex=response_id.removeprefix("resp_")))


@pytest.fixture
async def oa(stack):
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as held:
        yield held


async def test_create_with_instructions(oa, sim, sessions):
    prompt = unique("sky")
    response = await oa.responses.create(
        model=MODEL, input=prompt, instructions="be brief", max_output_tokens=5, temperature=0.2
    )
    assert response.status == "completed" and response.output_text == "".join(tokens_for(prompt, 5))
    assert response.usage.output_tokens == 5 and response.instructions == "be brief"
    (asked,) = await sim_records(sim, prompt)
    assert asked["extras"]["messages"][0] == {"role": "system", "content": "be brief"}
    assert asked["options"] == {"temperature": 0.2, "num_predict": 5}
    row = await final_record(sessions, _generation(response.id))
    assert row.response == response.output_text


async def test_create_streamed_and_the_stream_helper(oa):
    tokens = ["a\n", 'b "', "data: c", "\u2028d"]
    prompt = directive(tokens=tokens) + unique()
    stream = await oa.responses.create(model=MODEL, input=prompt, stream=True)
    events = [event async for event in stream]
    deltas = [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]
    assert "".join(deltas) == "".join(tokens)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert events[-1].response.output_text == "".join(tokens)
    # The helper rebuilds the response from the events itself, and checks their order.
    async with oa.responses.stream(model=MODEL, input=prompt) as helper:
        async for _ in helper:
            pass
        final = await helper.get_final_response()
    assert final.output_text == "".join(tokens) and final.status == "completed"


async def test_a_tool_loop_with_function_call_output(oa, sim):
    prompt = unique("weather in Oslo")
    first = await oa.responses.create(model=MODEL, input=prompt, tools=[WEATHER])
    (call,) = first.output
    assert isinstance(call, ResponseFunctionToolCall)
    assert call.call_id == call_id(prompt, 0, "weather") and call.arguments == '{"city":"sim"}'
    result = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    second = await oa.responses.create(
        model=MODEL,
        tools=[WEATHER],
        input=[{"role": "user", "content": prompt}, *first.output, result],
    )
    assert second.output_text == "weather returned: sunny"
    tool = (await sim_records(sim, prompt))[-1]["extras"]["messages"][-1]
    assert tool["tool_name"] == "weather" and tool["content"] == "sunny"


async def test_reasoning_comes_back_as_a_reasoning_item(oa, sim):
    prompt = unique("reason")
    response = await oa.responses.create(model=MODEL, input=prompt, reasoning={"effort": "medium"})
    reasoning, message = response.output
    assert isinstance(reasoning, ResponseReasoningItem)
    assert reasoning.summary[0].text == "".join(thinking_for(prompt, 4))
    assert message.type == "message" and response.output_text == "".join(tokens_for(prompt, 12))
    stream = await oa.responses.create(
        model=MODEL, input=prompt, reasoning={"effort": "medium"}, stream=True
    )
    thought = [e.delta async for e in stream if e.type == "response.reasoning_summary_text.delta"]
    assert "".join(thought) == reasoning.summary[0].text


async def test_a_data_url_image_reaches_ollama_and_a_remote_one_is_refused(oa, sim, sessions):
    question = unique("what is this?")
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [{"type": "input_text", "text": question}, {"type": "input_image", "image_url": url}]
    response = await oa.responses.create(model=MODEL, input=[{"role": "user", "content": content}])
    digest = hashlib.sha256(PNG).hexdigest()[:12]
    assert response.output_text.startswith(f"[image 1: {len(PNG)} bytes, sha256 {digest}] ")
    (asked,) = await sim_records(sim, question)
    assert asked["images"] == {"count": 1, "bytes": [len(PNG)]}
    row = await final_record(sessions, _generation(response.id))
    assert question in row.prompt and "iVBOR" not in row.prompt
    remote = {"type": "input_image", "image_url": "https://example.com/cat.png"}
    with pytest.raises(openai.BadRequestError) as raised:
        await oa.responses.create(model=MODEL, input=[{"role": "user", "content": [remote]}])
    assert raised.value.body["param"] == "input" and "data: URL" in raised.value.body["message"]


async def test_previous_response_id_carries_the_conversation(oa, sim):
    first, second = unique("first"), unique("second")
    one = await oa.responses.create(model=MODEL, input=first)
    two = await oa.responses.create(model=MODEL, input=second, previous_response_id=one.id)
    assert two.output_text == "".join(tokens_for(second, 12))
    (asked,) = await sim_records(sim, second)
    assert [m["content"] for m in asked["extras"]["messages"]] == [
        first,
        one.output_text,
        second,
    ]


async def test_background_retrieve_resume_and_cancel(oa, sim):
    tokens = [f"w{i} " for i in range(40)]
    prompt = directive(tokens=tokens, rate=20) + unique()
    stream = await oa.responses.create(model=MODEL, input=prompt, background=True, stream=True)
    seen = []
    async for event in stream:
        seen.append(event)
        if event.type == "response.output_text.delta":
            break
    await stream.close()  # the client goes; the response runs on
    response_id = seen[0].response.id
    polled = await oa.responses.retrieve(response_id)
    assert polled.status == "in_progress" and polled.background is True
    after = seen[-1].sequence_number
    resumed = await oa.responses.retrieve(response_id, stream=True, starting_after=after)
    rest = [event async for event in resumed]
    assert rest[0].sequence_number == after + 1 and rest[-1].type == "response.completed"
    replay = [event async for event in await oa.responses.retrieve(response_id, stream=True)]
    assert [e.model_dump() for e in seen + rest] == [e.model_dump() for e in replay]
    assert rest[-1].response.output_text == "".join(tokens)
    done = await oa.responses.retrieve(response_id)
    assert done.status == "completed" and done.output_text == "".join(tokens)

    slow = directive(n=200, rate=20) + unique()
    started = await oa.responses.create(model=MODEL, input=slow, background=True)
    assert started.status in ("queued", "in_progress")

    async def running() -> bool:
        return (await oa.responses.retrieve(started.id)).status == "in_progress"

    assert await eventually(running)
    cancelled = await oa.responses.cancel(started.id)
    assert cancelled.status == "cancelled"
    assert (await sim_outcome(sim, slow))["outcome"] == "client_closed"


async def test_errors_are_openai_errors(oa, stack, new_key):
    with pytest.raises(openai.NotFoundError):
        await oa.responses.create(model="gpt-5", input="hi")
    with pytest.raises(openai.BadRequestError) as raised:
        await oa.responses.create(model=MODEL, input="hi", top_logprobs=3)
    assert raised.value.body["param"] == "top_logprobs"
    mine = await oa.responses.create(model=MODEL, input=unique())
    other = (await new_key("responses"))["key"]
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=other, max_retries=0
    ) as theirs:
        with pytest.raises(openai.NotFoundError):
            await theirs.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            await theirs.responses.cancel(mine.id)
    async with key_client(stack, other) as http:
        assert (await http.get(f"/v1/responses/{mine.id}?stream=true")).status_code == 404


async def scenario(stack, name: str, **given: object) -> dict:
    return await run_js(name, base_url=stack.url, api_key=MASTER_KEY, model=MODEL, **given)


@pytest.mark.parametrize("stream", [False, True])
async def test_the_ai_sdks_default_provider(stack, stream):
    prompt = directive(tokens=["a\n", 'b "', "data: c"]) + unique()
    result = await scenario(stack, "ai_responses.mjs", prompt=prompt, stream=stream)
    assert result["text"] == 'a\nb "data: c' and result["finishReason"] == "stop"
    assert result["responseId"].startswith("resp_")
    assert result["usage"]["outputTokens"] == 3
    if stream:
        assert "".join(result["deltas"]) == result["text"]


@pytest.mark.parametrize("stream", [False, True])
async def test_the_ai_sdk_runs_a_tool_and_refers_back_to_stored_items(stack, stream, sim):
    # The model thinks (the directive) and calls the tool; the SDK sends its reasoning back as
    # an item_reference, since responses are stored by default.
    text = unique("weather in Oslo")
    prompt = directive(think=2) + text
    result = await scenario(stack, "ai_responses_tools.mjs", prompt=prompt, stream=stream)
    first, second = result["steps"]
    assert first["finishReason"] == "tool-calls"
    assert first["reasoningText"] == "".join(thinking_for(text, 2))
    assert first["toolCalls"] == [
        {"toolCallId": call_id(text, 0, "weather"), "toolName": "weather", "input": {"city": "sim"}}
    ]
    assert second["finishReason"] == "stop" and second["text"] == "weather returned: sunny in sim"
    assert second["responseId"] != first["responseId"]
    *_, asked = await sim_records(sim, prompt)
    assistant = asked["extras"]["messages"][1]
    assert assistant["thinking"] == first["reasoningText"]
    assert assistant["tool_calls"][0]["id"] == call_id(text, 0, "weather")


async def test_the_ai_sdk_sees_an_unknown_model_as_a_404(stack):
    result = await run_js(
        "ai_responses.mjs", base_url=stack.url, api_key=MASTER_KEY, model="gpt-5", prompt="hi"
    )
    assert result["error"]["status"] == 404
