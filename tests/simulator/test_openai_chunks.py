"""Ollama's OpenAI-compatible answers: SSE chunks, whole objects, usage and finish reasons."""

from simulator.script import tokens_for
from tests.simulator.parse import directive, events

QUESTION = [{"role": "user", "content": "hello"}]


def chat(**fields: object) -> dict:
    return {"model": "qwen3:8b", "messages": QUESTION, **fields}


async def test_a_chat_stream_is_ollamas_sse(sim):
    r = await sim.post("/v1/chat/completions", json=chat(stream=True, max_tokens=3))
    assert r.headers["content-type"] == "text/event-stream"
    *chunks, finish, done = events(r.text)
    assert done == "[DONE]"
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": tokens_for("hello", 3)[0]},
        {"content": tokens_for("hello", 3)[1]},
        {"content": tokens_for("hello", 3)[2]},
    ]
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    first = chunks[0]
    assert list(first) == ["id", "object", "created", "model", "system_fingerprint", "choices"]
    assert first["id"].startswith("chatcmpl-") and first["object"] == "chat.completion.chunk"
    assert first["model"] == "qwen3:8b" and first["system_fingerprint"] == "fp_ollama"
    assert first["choices"][0]["finish_reason"] is None
    assert {(c["id"], c["created"]) for c in [*chunks, finish]} == {(first["id"], first["created"])}


async def test_include_usage_adds_a_usage_chunk_without_choices(sim):
    body = chat(stream=True, max_tokens=2, stream_options={"include_usage": True})
    *_, finish, usage, done = events((await sim.post("/v1/chat/completions", json=body)).text)
    assert finish["choices"][0]["finish_reason"] == "stop" and done == "[DONE]"
    assert usage["choices"] == [] and usage["id"] == finish["id"]
    assert usage["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


async def test_a_whole_chat_completion(sim):
    r = await sim.post("/v1/chat/completions", json=chat(max_tokens=4))
    assert r.headers["content-type"] == "application/json" and r.content.endswith(b"}\n")
    body = r.json()
    assert list(body) == [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "choices",
        "usage",
    ]
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "".join(tokens_for("hello", 4))},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5}


async def test_an_error_line_reaches_openai_clients_as_ollamas_writer_passes_it(sim):
    messages = [
        {"role": "user", "content": directive(tokens=["a", "b"], fault="error_line", after=1) + "x"}
    ]
    r = await sim.post("/v1/chat/completions", json=chat(messages=messages, stream=True))
    first, broken = events(r.text)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": "a"}
    assert broken["model"] == "" and broken["choices"][0]["delta"] == {"content": ""}
    assert "[DONE]" not in r.text


async def test_a_completion_stream(sim):
    body = {"model": "qwen3:8b", "prompt": "hello", "max_tokens": 2, "stream": True}
    r = await sim.post("/v1/completions", json=body)
    first, second, last, done = events(r.text)
    assert list(first) == ["id", "object", "created", "choices", "model", "system_fingerprint"]
    assert first["id"].startswith("cmpl-") and first["object"] == "text_completion"
    assert [c["choices"][0]["text"] for c in (first, second)] == tokens_for("hello", 2)
    assert first["choices"][0]["finish_reason"] is None
    assert (
        last["choices"] == [{"text": "", "index": 0, "finish_reason": "stop"}] and done == "[DONE]"
    )


async def test_a_completion_stream_with_usage_has_it_everywhere(sim):
    body = {"model": "qwen3:8b", "prompt": "hello", "max_tokens": 1, "stream": True}
    body["stream_options"] = {"include_usage": True}
    token, last, usage, done = events((await sim.post("/v1/completions", json=body)).text)
    assert done == "[DONE]"
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert token["usage"] == zero and last["usage"] == zero, "Ollama's zero usage on every chunk"
    assert usage["choices"] == [] and usage["usage"] == {
        "prompt_tokens": 1,
        "completion_tokens": 1,
        "total_tokens": 2,
    }


async def test_a_whole_completion(sim):
    body = (
        await sim.post(
            "/v1/completions", json={"model": "qwen3:8b", "prompt": "hello", "max_tokens": 3}
        )
    ).json()
    assert list(body) == [
        "id",
        "object",
        "created",
        "model",
        "system_fingerprint",
        "choices",
        "usage",
    ]
    assert body["choices"] == [
        {"text": "".join(tokens_for("hello", 3)), "index": 0, "finish_reason": "stop"}
    ]
    assert body["usage"]["completion_tokens"] == 3
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["options"] == {
        "num_predict": 3,
        "temperature": 1.0,
        "frequency_penalty": 0,
        "presence_penalty": 0,
        "top_p": 1.0,
    }


async def test_an_empty_completion_prompt_loads_the_model(sim):
    body = (await sim.post("/v1/completions", json={"model": "qwen3:8b"})).json()
    assert body["choices"] == [{"text": "", "index": 0, "finish_reason": "load"}]
