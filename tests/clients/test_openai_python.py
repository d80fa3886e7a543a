"""Tool calls, thinking, images and embeddings through the OpenAI dialect, driven by the official
`openai` package: what an agent, a RAG pipeline or a vision app sends, checked value for value
against the deterministic simulator."""

import base64
import hashlib
import struct

import httpx
import openai
import orjson
import pytest

from simulator.embed import embedding_for, normalize
from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests import sse
from tests.conftest import EMBED_MODEL, MASTER_KEY, MODEL
from tests.helpers import (
    WEATHER,
    OpenStream,
    directive,
    eventually,
    final_record,
    sim_records,
    unique,
)

pytestmark = pytest.mark.e2e

CLOCK = {
    "type": "function",
    "function": {"name": "clock", "parameters": {"type": "object", "properties": {}}},
}
# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def async_client(stack):
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as client:
        yield client


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


async def test_a_tool_call_comes_back_in_openais_shape(async_client, sim, sessions):
    question = unique("weather in Oslo?")
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), tools=[WEATHER, CLOCK]
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.id == call_id(question, 0, "weather") and call.type == "function"
    assert call.function.name == "weather"
    assert orjson.loads(call.function.arguments) == {"city": "sim"}
    (record,) = await sim_records(sim, question)
    assert record["tools"] == [WEATHER, CLOCK]
    row = await final_record(sessions, answer.id.removeprefix("chatcmpl-"))
    assert row.kind == "chat" and row.status == "succeeded"
    assert row.tool_calls == [
        {"id": call.id, "function": {"index": 0, "name": "weather", "arguments": {"city": "sim"}}}
    ]


async def test_streamed_tool_calls_arrive_as_indexed_deltas(async_client):
    question = directive(
        tool_calls=[
            {"name": "weather", "arguments": {"city": "Oslo"}},
            {"name": "clock", "arguments": {}},
        ]
    ) + unique("two calls")
    text = question.split("\n", 1)[1]
    stream = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), tools=[WEATHER, CLOCK], stream=True
    )
    deltas, finishes = [], []
    async for chunk in stream:
        for choice in chunk.choices:
            deltas += choice.delta.tool_calls or []
            finishes.append(choice.finish_reason)
    assert [(d.index, d.id, d.function.name) for d in deltas] == [
        (0, call_id(text, 0, "weather"), "weather"),
        (1, call_id(text, 1, "clock"), "clock"),
    ]
    assert [orjson.loads(d.function.arguments) for d in deltas] == [{"city": "Oslo"}, {}]
    assert [f for f in finishes if f] == ["tool_calls"]


async def test_the_stream_helper_assembles_the_tool_calls(async_client):
    question = unique("helper")
    async with async_client.chat.completions.stream(
        model=MODEL, messages=user(question), tools=[WEATHER]
    ) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    (call,) = final.choices[0].message.tool_calls
    assert call.function.name == "weather" and call.id == call_id(question, 0, "weather")
    assert final.choices[0].finish_reason == "tool_calls"


async def test_a_tool_result_goes_back_as_ollamas_tool_message(async_client, sim):
    question = unique("weather?")
    history = [
        *user(question),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21 C"},
    ]
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=history, tools=[WEATHER]
    )
    assert answer.choices[0].message.content == "weather returned: sunny, 21 C"
    assert answer.choices[0].finish_reason == "stop"
    (record,) = await sim_records(sim, question)
    assistant, tool = record["extras"]["messages"][1:]
    assert assistant["tool_calls"] == [
        {"id": "call_1", "function": {"name": "weather", "arguments": {"city": "Oslo"}}}
    ]
    assert tool == {
        "role": "tool",
        "content": "sunny, 21 C",
        "tool_call_id": "call_1",
        "tool_name": "weather",
    }


async def test_tool_choice_none_and_a_named_function(async_client, sim):
    question = unique("choose")
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), tools=[WEATHER, CLOCK], tool_choice="none"
    )
    assert answer.choices[0].message.content == "".join(tokens_for(question, 12))
    named = unique("named")
    answer = await async_client.chat.completions.create(
        model=MODEL,
        messages=user(named),
        tools=[WEATHER, CLOCK],
        tool_choice={"type": "function", "function": {"name": "clock"}},
    )
    assert answer.choices[0].message.tool_calls[0].function.name == "clock"
    assert (await sim_records(sim, question))[0]["tools"] == []
    assert (await sim_records(sim, named))[0]["tools"] == [CLOCK]
    # "none" without tools, as some clients send it, is fine.
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=user(unique()), tool_choice="none"
    )
    assert answer.choices[0].finish_reason == "stop"


async def test_a_named_function_that_is_not_offered_is_a_400(async_client):
    with pytest.raises(openai.BadRequestError) as raised:
        await async_client.chat.completions.create(
            model=MODEL,
            messages=user(unique()),
            tools=[WEATHER],
            tool_choice={"type": "function", "function": {"name": "nope"}},
        )
    assert raised.value.body["param"] == "tool_choice" and "nope" in raised.value.body["message"]


async def test_reasoning_effort_turns_thinking_on_and_returns_reasoning_content(
    async_client, sim, sessions
):
    question = unique("think")
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), reasoning_effort="high"
    )
    thinking = "".join(thinking_for(question, 8))  # "high" doubles the simulator's 4 chunks
    message = answer.choices[0].message
    assert message.model_extra["reasoning_content"] == thinking
    assert message.content == "".join(tokens_for(question, 12))
    (record,) = await sim_records(sim, question)
    assert record["extras"]["think"] == "high" and record["think"] == "high"
    row = await final_record(sessions, answer.id.removeprefix("chatcmpl-"))
    assert row.thinking == thinking and row.response == message.content

    off = unique("no thinking")
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=user(off), reasoning_effort="none"
    )
    assert "reasoning_content" not in (answer.choices[0].message.model_extra or {})
    assert (await sim_records(sim, off))[0]["extras"]["think"] is False


async def test_streamed_thinking_comes_as_reasoning_content_deltas_before_the_text(async_client):
    question = directive(thinking=["Let ", "me ", "see."], tokens=["Four", "."]) + unique()
    stream = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), reasoning_effort="low", stream=True
    )
    parts = []
    async for chunk in stream:
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                parts.append(("thinking", extra["reasoning_content"]))
            if choice.delta.content:
                parts.append(("text", choice.delta.content))
    assert "".join(t for k, t in parts if k == "thinking") == "Let me see."
    assert "".join(t for k, t in parts if k == "text") == "Four."
    assert [k for k, _ in parts].index("text") > max(
        i for i, (k, _) in enumerate(parts) if k == "thinking"
    )


async def test_thinking_and_tool_calls_resume_losslessly(client):
    # A stream dropped after its first event is picked up by the native resume endpoint; the
    # rest of the log holds every thinking and tool-call event exactly once.
    question = (
        directive(
            thinking=["a ", "b ", "c"], tool_calls=[{"name": "clock", "arguments": {}}], rate=20
        )
        + unique()
    )
    body = {
        "model": MODEL,
        "messages": user(question),
        "tools": [CLOCK],
        "reasoning_effort": "low",
        "stream": True,
    }
    async with OpenStream(client, "POST", "/v1/chat/completions", json=body) as s:
        seen = await s.events(2)  # the role chunk, "a "
        gid = s.generation_id
    assert seen[1].json()["choices"][0]["delta"] == {"reasoning_content": "a "}
    r = await client.get(f"/api/v1/generations/{gid}/stream", headers={"Last-Event-ID": seen[1].id})
    assert r.status_code == 200
    # The native framing shows only the answer's text (none here), then the end.
    assert sse.parse(r.text).events[-1].data == "{}"
    record = (await client.get(f"/api/v1/generations/{gid}")).json()
    assert record["thinking"] == "a b c"
    assert [c["function"]["name"] for c in record["tool_calls"]] == ["clock"]


async def test_a_data_url_image_reaches_ollama_and_is_never_recorded(async_client, sim, sessions):
    question = unique("what is this?")
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [{"type": "text", "text": question}, {"type": "image_url", "image_url": {"url": url}}]
    answer = await async_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": content}]
    )
    digest = hashlib.sha256(PNG).hexdigest()[:12]
    text = answer.choices[0].message.content
    assert text.startswith(f"[image 1: {len(PNG)} bytes, sha256 {digest}] ")
    (record,) = await sim_records(sim, question)
    assert record["images"] == {"count": 1, "bytes": [len(PNG)]}
    row = await final_record(sessions, answer.id.removeprefix("chatcmpl-"))
    assert question in row.prompt and "iVBOR" not in row.prompt


async def test_a_remote_image_url_is_refused_the_server_fetches_nothing(async_client, redis):
    content = [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    with pytest.raises(openai.BadRequestError) as raised:
        await async_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}]
        )
    assert "data: URLs" in raised.value.body["message"]


async def test_images_over_max_image_bytes_are_413(stack, async_client):
    # MAX_IMAGE_BYTES is 20 MiB by default: a body that big passes the body limit of an image
    # route, and the images' share is then refused.
    image = "A" * (20 * 1024 * 1024 + 4)
    content = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + image}}]
    with pytest.raises(openai.APIStatusError) as raised:
        await async_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}]
        )
    assert raised.value.status_code == 413 and "MAX_IMAGE_BYTES" in raised.value.body["message"]


async def test_embeddings_of_one_text_and_of_a_batch(async_client, sim, sessions):
    texts = [unique("first"), unique("second"), unique("third")]
    one = await async_client.embeddings.create(model=EMBED_MODEL, input=texts[0])
    assert one.model == EMBED_MODEL and one.object == "list"
    (vector,) = [d.embedding for d in one.data]
    assert vector == pytest.approx(embedding_for(EMBED_MODEL, texts[0], len(vector)))
    assert one.usage.prompt_tokens == one.usage.total_tokens > 0
    raw = await async_client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=texts)
    batch = raw.parse()
    assert [d.index for d in batch.data] == [0, 1, 2]
    for d, text in zip(batch.data, texts, strict=True):
        assert d.embedding == pytest.approx(embedding_for(EMBED_MODEL, text, len(vector)))
    # One job for the batch: one request to Ollama's /api/embed with every input.
    first, batched = await sim_records(sim, texts[0])  # filed under their first input
    assert first["inputs"] == 1
    assert batched["path"] == "/api/embed" and batched["inputs"] == 3
    row = await final_record(sessions, raw.headers["x-generation-id"])
    assert row.kind == "embed" and row.input_count == 3 and row.status == "succeeded"
    assert orjson.loads(row.prompt) == texts and row.response in ("", None)


async def test_base64_embeddings_and_dimensions(async_client):
    text = unique("packed")
    floats = await async_client.embeddings.create(model=EMBED_MODEL, input=[text], dimensions=8)
    vector = floats.data[0].embedding
    full = embedding_for(EMBED_MODEL, text, 384)
    assert len(vector) == 8 and vector == pytest.approx(normalize(full[:8]))
    packed = await async_client.embeddings.create(
        model=EMBED_MODEL, input=[text], dimensions=8, encoding_format="base64"
    )
    raw = packed.data[0].embedding
    # openai-python decodes base64 itself when it asked for floats; asked for base64, it is a str.
    assert isinstance(raw, str)
    assert list(struct.unpack("<8f", base64.b64decode(raw))) == pytest.approx(vector)


async def test_token_arrays_are_refused_with_a_clear_400(async_client):
    with pytest.raises(openai.BadRequestError) as raised:
        await async_client.embeddings.create(model=EMBED_MODEL, input=[[1, 2, 3]])
    assert raised.value.body["param"] == "input" and "send the text" in raised.value.body["message"]


async def test_optional_fields_sent_as_null_mean_their_defaults(stack):
    body = {
        "model": MODEL,
        "messages": user(unique()),
        "n": None,
        "stream": None,
        "stop": None,
        "temperature": None,
        "top_p": None,
        "max_tokens": None,
        "tools": None,
        "tool_choice": None,
        "reasoning_effort": None,
        "response_format": None,
    }
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=headers, timeout=30) as http:
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["finish_reason"] == "stop"
        for effort in ("minimal", "low", "medium", "high"):
            body = {"model": MODEL, "messages": user(unique()), "reasoning_effort": effort}
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200


async def test_worker_metrics_count_tool_calls_and_embedded_inputs(stack, async_client):
    port = stack.env["WORKER_METRICS_PORT"]

    async def counters() -> dict[str, float]:
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        wanted = ("llm_tool_calls_total ", "llm_embedding_inputs_total ")
        return {
            line.split()[0]: float(line.split()[1])
            for line in text.splitlines()
            if line.startswith(wanted)
        }

    before = await counters()
    await async_client.chat.completions.create(
        model=MODEL, messages=user(unique()), tools=[WEATHER]
    )
    await async_client.embeddings.create(model=EMBED_MODEL, input=[unique(), unique()])

    async def counted() -> bool:
        after = await counters()
        return (
            after["llm_tool_calls_total"] - before.get("llm_tool_calls_total", 0) >= 1
            and after["llm_embedding_inputs_total"] - before.get("llm_embedding_inputs_total", 0)
            >= 2
        )

    assert await eventually(counted)


async def test_a_slow_stream_with_keepalives_reads_cleanly(async_client):
    # Keep-alives (every second on the test stack) fall between events that carry an `id:`;
    # openai-python's decoder fails on a blank line after such a comment, so none is sent.
    question = directive(tokens=["slow ", "and ", "steady"], rate=0.6) + unique()
    stream = await async_client.chat.completions.create(
        model=MODEL, messages=user(question), stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "slow and steady"


async def test_a_large_batch_comes_back_whole_through_the_log(async_client):
    # 200 vectors of 384 numbers are ~1.5 MB of JSON: too big for the live channel, so the
    # result event goes to the replay log only, and the relay reads it from there.
    texts = [f"text {i} {unique()}" for i in range(200)]
    batch = await async_client.embeddings.create(model=EMBED_MODEL, input=texts)
    assert len(batch.data) == 200
    for d, text in zip(batch.data, texts, strict=True):
        assert d.embedding == pytest.approx(embedding_for(EMBED_MODEL, text, 384))


async def test_more_inputs_than_max_embed_inputs_is_a_400(async_client, sim):
    with pytest.raises(openai.BadRequestError) as raised:
        await async_client.embeddings.create(model=EMBED_MODEL, input=["x"] * 2049)
    assert (
        raised.value.body["param"] == "input" and "MAX_EMBED_INPUTS" in raised.value.body["message"]
    )
    assert (await sim.get("/sim/requests")).json() == []
