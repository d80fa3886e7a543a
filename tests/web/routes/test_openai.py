"""The OpenAI dialect, driven by the official `openai` package against the running stack."""

import asyncio

import httpx
import openai
import orjson
import pytest

from shared.keys import Keys
from simulator.script import tokens_for
from tests import sse
from tests.conftest import EMBED_MODEL, MAIN, MASTER_KEY, MODEL, namespace
from tests.helpers import OpenStream, directive, final_record, sim_outcome, sim_records, unique

pytestmark = pytest.mark.e2e

AWKWARD = ["line\n", 'quote " \\ ', "data: {}\n\n", "[DONE]", "😀 漢字"]


@pytest.fixture
def sync_client(stack):
    with openai.OpenAI(base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def async_client(stack):
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as client:
        yield client


async def test_chat_completion_with_the_sync_client(sync_client, sim, sessions):
    question = unique("sky")
    answer = await asyncio.to_thread(
        sync_client.chat.completions.create,
        model=MODEL,
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": question}],
        temperature=0.2,
        max_tokens=7,
        seed=42,
        stop=["END"],
    )
    assert answer.object == "chat.completion" and answer.model == MODEL
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content == "".join(tokens_for(question, 7))
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 7 and answer.usage.prompt_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 7
    (record,) = await sim_records(sim, question)
    assert record["path"] == "/api/chat"
    assert record["options"] == {"temperature": 0.2, "num_predict": 7, "seed": 42, "stop": ["END"]}
    assert record["extras"]["messages"][0] == {"role": "system", "content": "be brief"}
    row = await final_record(sessions, answer.id.removeprefix("chatcmpl-"))
    assert row.status == "succeeded" and row.completion_tokens == 7


async def test_chat_stream_with_usage_and_exact_text(async_client):
    prompt = directive(tokens=AWKWARD, rate=100) + unique()
    stream = await async_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(AWKWARD)
    assert chunks[0].choices[0].delta.role == "assistant"
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(AWKWARD)
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"


async def test_text_completion_whole_and_streamed(async_client):
    prompt = unique("complete me")
    whole = await async_client.completions.create(model=MODEL, prompt=prompt, max_tokens=5)
    assert whole.object == "text_completion" and whole.choices[0].text == "".join(
        tokens_for(prompt, 5)
    )
    stream = await async_client.completions.create(
        model=MODEL, prompt=prompt, max_tokens=5, stream=True
    )
    parts = [c.choices[0].text async for c in stream if c.choices]
    assert "".join(parts) == whole.choices[0].text


async def test_json_response_format_reaches_ollama(async_client, sim):
    question = unique("json please")
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    await async_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    )
    await async_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question + "!"}],
        response_format={"type": "json_object"},
    )
    assert (await sim_records(sim, question))[0]["extras"]["format"] == schema
    assert (await sim_records(sim, question + "!"))[0]["extras"]["format"] == "json"


async def test_models_lists_what_a_key_may_use(async_client):
    models = await async_client.models.list()
    assert [m.id for m in models.data] == [MODEL, EMBED_MODEL]
    assert (await async_client.models.retrieve(MODEL)).id == MODEL


async def test_an_unknown_model_is_a_404_in_openais_envelope(async_client, stack):
    with pytest.raises(openai.NotFoundError) as raised:
        await async_client.chat.completions.create(
            model="gpt-5", messages=[{"role": "user", "content": "hi"}]
        )
    assert raised.value.body["code"] == "model_not_found"
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
        r = await http.post(
            "/v1/chat/completions",
            json={"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
        )
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    assert r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
    ],
)
async def test_unsupported_parameters_are_refused_consistently(async_client, extra, param, redis):
    with pytest.raises(openai.BadRequestError) as raised:
        await async_client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], extra_body=extra
        )
    assert raised.value.status_code == 400 and raised.value.body["param"] == param
    assert await redis.zcard(Keys(namespace(MAIN)).arq_queue) == 0


async def test_a_bad_key_is_a_401_in_openais_envelope(stack):
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key="wrong", max_retries=0
    ) as client:
        with pytest.raises(openai.AuthenticationError) as raised:
            await client.models.list()
    assert raised.value.body["code"] == "unauthorized"


async def test_an_error_mid_stream_raises_in_the_client(async_client):
    prompt = (
        directive(tokens=["a", "b"], fault="error_line", after=1, message="GPU fell off") + unique()
    )
    stream = await async_client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    with pytest.raises(openai.APIError, match="GPU fell off"):
        async for _ in stream:
            pass


async def test_a_dropped_openai_stream_is_cancelled(stack, sim, sessions):
    prompt = directive(n=200, rate=20) + unique()
    async with openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=MASTER_KEY, max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], stream=True
        )
        async for _ in stream:
            break
        await stream.close()
    record = await sim_outcome(sim, prompt, timeout=10)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 200


async def test_a_dropped_chat_stream_resumes_from_its_last_event_id(client):
    # Each OpenAI chunk carries its event id (SSE clients ignore it); the native resume endpoint
    # sends exactly the rest, the way a browser playground picks up a lost connection.
    prompt = directive(tokens=["one ", "two ", "three ", "four"], rate=20) + unique()
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": True}
    async with OpenStream(client, "POST", "/v1/chat/completions", json=body) as s:
        seen = await s.events(3)  # the role chunk, "one ", "two "
        gid = s.generation_id
    assert seen[0].id is None and seen[1].id is not None
    text = "".join(e.json()["choices"][0]["delta"].get("content") or "" for e in seen)
    r = await client.get(
        f"/api/v1/generations/{gid}/stream", headers={"Last-Event-ID": seen[-1].id}
    )
    rest = sse.parse(r.text)
    assert text + rest.text == "one two three four"


async def test_a_queued_chat_stream_says_its_place_in_comments(workerless_stack, redis_of):
    await redis_of(workerless_stack)
    body = {"model": MODEL, "messages": [{"role": "user", "content": unique()}], "stream": True}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    raw = ""
    async with (
        httpx.AsyncClient(base_url=workerless_stack.url, headers=headers) as http,
        http.stream("POST", "/v1/chat/completions", json=body, timeout=10) as r,
    ):
        async for line in r.aiter_lines():
            raw += line + "\n"
            if line.startswith(": queued "):
                break
    status = orjson.loads(raw.split(": queued ", 1)[1].splitlines()[0])
    assert status["position"] == 1
