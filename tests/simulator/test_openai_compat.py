"""Ollama's OpenAI-compatible endpoints: requests converted as Ollama converts them, and the
same generation as the native endpoints."""

import asyncio
import base64

import openai
import pytest

from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests.simulator.parse import directive, events, lines

QUESTION = [{"role": "user", "content": "hello"}]
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    },
}


def chat(**fields: object) -> dict:
    return {"model": "qwen3:8b", "messages": QUESTION, **fields}


def error(message: str, kind: str) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


async def test_the_same_text_and_pace_as_the_native_endpoint(sim):
    prompt = directive(n=4, rate=20) + "same"
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    native = await sim.post("/api/chat", json=chat(messages=[{"role": "user", "content": prompt}]))
    t1 = loop.time()
    body = chat(messages=[{"role": "user", "content": prompt}], stream=True)
    compat = await sim.post("/v1/chat/completions", json=body)
    t2 = loop.time()
    text = "".join(p["message"]["content"] for p in lines(native.text))
    deltas = [e["choices"][0]["delta"].get("content", "") for e in events(compat.text)[:-1]]
    assert "".join(deltas) == text == "".join(tokens_for("same", 4))
    assert t1 - t0 >= 3 / 20 * 0.9 and t2 - t1 >= 3 / 20 * 0.9


@pytest.mark.parametrize(
    ("effort", "count"), [("low", 2), ("minimal", 2), ("high", 8), ("xhigh", 16)]
)
async def test_reasoning_effort_is_think_and_comes_back_as_reasoning(sim, effort, count):
    body = chat(stream=True, max_tokens=1, reasoning_effort=effort)
    chunks = events((await sim.post("/v1/chat/completions", json=body)).text)
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert deltas[0] == {
        "role": "assistant",
        "content": "",
        "reasoning": thinking_for("hello", count)[0],
    }
    assert [d.get("reasoning") for d in deltas[:count]] == thinking_for("hello", count)
    assert deltas[count] == {"content": tokens_for("hello", 1)[0]}
    whole = (
        await sim.post(
            "/v1/chat/completions", json=chat(max_tokens=1, reasoning={"effort": effort})
        )
    ).json()
    assert whole["choices"][0]["message"]["reasoning"] == "".join(thinking_for("hello", count))
    assert (await sim.get("/sim/requests")).json()[0]["extras"]["think"] == (
        "low" if count == 2 else {8: "high", 16: "max"}[count]
    )


async def test_reasoning_effort_none_turns_thinking_off(start):
    sim = await start(implicit_think_tokens=3)
    quiet = (await sim.post("/v1/chat/completions", json=chat(reasoning_effort="none"))).json()
    assert "reasoning" not in quiet["choices"][0]["message"]
    chatty = (await sim.post("/v1/chat/completions", json=chat())).json()
    assert chatty["choices"][0]["message"]["reasoning"] == "".join(thinking_for("hello", 3))


async def test_an_unknown_effort_is_a_400(sim):
    r = await sim.post("/v1/chat/completions", json=chat(reasoning_effort="huge"))
    assert r.status_code == 400
    assert r.json() == error(
        'invalid reasoning value: "huge" (must be "minimal", "low", "medium", "high", "xhigh", '
        '"ultra", "max", or "none")',
        "invalid_request_error",
    )


async def test_tool_calls_stream_in_openais_shape(sim):
    r = await sim.post("/v1/chat/completions", json=chat(stream=True, tools=[TOOL]))
    call, finish, done = events(r.text)
    assert call["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": call_id("hello", 0, "lookup"),
                "index": 0,
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"q":"sim"}'},
            }
        ],
    }
    assert finish["choices"][0]["finish_reason"] == "tool_calls" and done == "[DONE]"


async def test_tool_calls_whole_and_the_round_trip(sim):
    body = (await sim.post("/v1/chat/completions", json=chat(tools=[TOOL]))).json()
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == ""
    (call,) = choice["message"]["tool_calls"]
    messages = [
        *QUESTION,
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "42"},
    ]
    answer = (
        await sim.post("/v1/chat/completions", json=chat(messages=messages, tools=[TOOL]))
    ).json()
    assert answer["choices"][0]["message"]["content"] == "lookup returned: 42"
    assert answer["choices"][0]["finish_reason"] == "stop"
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["extras"]["messages"][-1] == {
        "role": "tool",
        "content": "42",
        "tool_name": "lookup",
        "tool_call_id": call["id"],
    }
    assert record["extras"]["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"q": "sim"}


async def test_the_request_is_recorded_as_ollama_received_it(sim):
    body = chat(
        max_tokens=3, stop="END", seed=7, response_format={"type": "json_object"}, user="u1"
    )
    await sim.post("/v1/chat/completions", json=body)
    (record,) = (await sim.get("/sim/requests")).json()
    assert record["path"] == "/v1/chat/completions" and record["model"] == "qwen3:8b"
    assert record["options"] == {
        "stop": ["END"],
        "num_predict": 3,
        "temperature": 1.0,
        "seed": 7,
        "top_p": 1.0,
    }
    assert record["extras"]["format"] == "json" and record["extras"]["messages"] == QUESTION
    assert record["extras"]["openai"] == {
        "max_tokens": 3,
        "stop": "END",
        "seed": 7,
        "response_format": {"type": "json_object"},
        "user": "u1",
    }


async def test_content_parts_and_data_url_images(sim):
    png = base64.b64encode(b"\x89PNG" + bytes(20)).decode()
    content = [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    messages = [{"role": "user", "content": content}]
    body = (await sim.post("/v1/chat/completions", json=chat(messages=messages))).json()
    assert body["choices"][0]["message"]["content"].startswith("[image 1: 24 bytes, sha256 ")
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["prompt"] == "what is it" and record["images"] == {"count": 1, "bytes": [24]}
    assert record["extras"]["messages"] == [
        {"role": "user", "content": "what is it"},
        {"role": "user", "content": "", "image_bytes": [24]},
    ]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (chat(model="nope"), 404, "model 'nope' not found"),
        (chat(messages=[]), 400, "[] is too short - 'messages'"),
        (chat(messages=[{"role": "user"}]), 400, "invalid message content type: <nil>"),
        (
            chat(messages=[{"role": "user", "content": [{"type": "video"}]}]),
            400,
            "invalid message format",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": "http://x/y.png"}],
                    }
                ]
            ),
            400,
            "image URLs are not currently supported, please use base64 encoded data instead",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": "data:image/gif;base64,R0lG"}
                        ],
                    }
                ]
            ),
            400,
            "invalid image input",
        ),
        (chat(model=""), 400, "model is required"),
        (
            chat(messages=["hi"]),
            400,
            "json: cannot unmarshal string into Go struct field ChatCompletionRequest.messages"
            " of type openai.Message",
        ),
        (
            chat(
                messages=[
                    {
                        "role": "user",
                        "content": directive(fault="status", status=503, message="later") + "x",
                    }
                ]
            ),
            503,
            "later",
        ),
    ],
)
async def test_errors_are_in_openais_shape(sim, body, status, message):
    r = await sim.post("/v1/chat/completions", json=body)
    assert r.status_code == status and r.headers["content-type"] == "application/json"
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    assert r.json() == error(message, kind)


async def test_completion_errors(sim):
    r = await sim.post("/v1/completions", json={"model": "qwen3:8b", "prompt": "x", "suffix": "y"})
    assert r.json() == error(
        "registry.ollama.ai/library/qwen3:8b does not support insert", "invalid_request_error"
    )
    r = await sim.post(
        "/v1/completions", json={"model": "qwen3:8b", "prompt": "x", "stop": ["a", 1]}
    )
    assert r.json() == error("invalid type for 'stop' field: float64", "invalid_request_error")


async def test_the_official_openai_client_reads_it(sim):
    client = openai.AsyncOpenAI(base_url=f"{sim.base_url}/v1", api_key="ollama")
    whole = await client.chat.completions.create(model="qwen3:8b", messages=QUESTION, max_tokens=3)
    assert whole.choices[0].message.content == "".join(tokens_for("hello", 3))
    stream = await client.chat.completions.create(
        model="qwen3:8b", messages=QUESTION, tools=[TOOL], stream=True
    )
    calls = [
        c.choices[0].delta.tool_calls
        for c in [chunk async for chunk in stream]
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert calls[0][0].function.name == "lookup" and calls[0][0].function.arguments == '{"q":"sim"}'
    vectors = await client.embeddings.create(model="all-minilm", input=["a", "b"])
    assert [len(d.embedding) for d in vectors.data] == [384, 384]
    await client.close()
