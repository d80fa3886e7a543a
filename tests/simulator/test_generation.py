"""/api/generate and /api/chat as Ollama reads them: fields, checks, thinking, images, load."""

import base64
import hashlib

import pytest

from simulator.script import thinking_for, tokens_for
from tests.simulator.parse import directive, lines

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(60))
B64 = base64.b64encode(PNG).decode()
USER = [{"role": "user", "content": "hi"}]
UNMARSHAL, INTO = "json: cannot unmarshal", "into Go struct field GenerateRequest"


async def test_generate_streams_ndjson_with_final_statistics(sim):
    r = await sim.post(
        "/api/generate",
        json={"model": "qwen3:8b", "prompt": "p", "options": {"num_predict": 4}, "think": False},
    )
    assert r.headers["content-type"].startswith("application/x-ndjson")
    parts = lines(r.text)
    assert all(p["model"] == "qwen3:8b" and "created_at" in p for p in parts)
    assert [p["done"] for p in parts] == [False] * 4 + [True]
    assert "".join(p["response"] for p in parts) == "".join(tokens_for("p", 4))
    final = parts[-1]
    assert final["done_reason"] == "stop" and final["eval_count"] == 4
    for name in ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration"):
        assert isinstance(final[name], int) and final[name] > 0
    assert isinstance(final["context"], list) and len(final["context"]) == 1 + 4


async def test_generate_without_stream_answers_one_object(sim):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p", "stream": False})
    body = r.json()
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert body["done"] is True and body["response"] == "".join(tokens_for("p", 12))
    assert "thinking" not in body, "qwen3 thinks nothing by default (--implicit-think-tokens 0)"


async def test_chat_uses_the_last_user_message(sim):
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "x"}]
    messages.append({"role": "USER", "content": "hi"})  # Ollama lowercases roles
    parts = lines(
        (await sim.post("/api/chat", json={"model": "qwen3:8b", "messages": messages})).text
    )
    assert all(p["message"]["role"] == "assistant" for p in parts)
    assert "".join(p["message"]["content"] for p in parts) == "".join(tokens_for("hi", 12))
    assert parts[-1]["message"] == {"role": "assistant", "content": ""}


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize(("think", "count"), [(True, 4), ("low", 2), ("medium", 4), ("high", 8)])
async def test_thinking_comes_first_and_scales_with_the_level(sim, chat, think, count):
    body = {"model": "qwen3:8b", "think": think, "options": {"num_predict": 3}}
    body |= {"messages": [{"role": "user", "content": "q"}]} if chat else {"prompt": "q"}
    parts = lines((await sim.post("/api/chat" if chat else "/api/generate", json=body)).text)
    field = [p["message"].get("thinking") if chat else p.get("thinking") for p in parts]
    text = [p["message"]["content"] if chat else p["response"] for p in parts]
    assert field[:count] == thinking_for("q", count) and all(t == "" for t in text[:count])
    assert field[count:] == [None] * 4 and text[count:-1] == tokens_for("q", 3)
    assert parts[-1]["eval_count"] == count + 3, "Ollama counts the thinking tokens"
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["think"] == think and record["thinking"] == "".join(thinking_for("q", count))


async def test_a_whole_answer_carries_the_whole_thinking(sim):
    body = {"model": "qwen3:8b", "prompt": "q", "think": True, "stream": False}
    answer = (await sim.post("/api/generate", json=body)).json()
    assert answer["thinking"] == "".join(thinking_for("q", 4))
    chat = {"model": "qwen3:8b", "messages": [{"role": "user", "content": "q"}], "think": "max"}
    message = (await sim.post("/api/chat", json={**chat, "stream": False})).json()["message"]
    assert message["thinking"] == "".join(thinking_for("q", 16)) and message["content"]


async def test_thinking_is_on_when_think_is_absent_and_off_when_false(start):
    sim = await start(implicit_think_tokens=2)
    absent = lines(
        (await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "q"})).text
    )
    assert [p.get("thinking") for p in absent[:2]] == thinking_for("q", 2)
    off = {"model": "qwen3:8b", "prompt": "q", "think": False}
    assert not any("thinking" in p for p in lines((await sim.post("/api/generate", json=off)).text))
    think = [r["think"] for r in (await sim.get("/sim/requests")).json()]
    assert think == [True, False]


async def test_the_think_directive_sets_the_count_and_the_text(sim):
    prompt = directive(think=3) + "q"
    parts = lines(
        (await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})).text
    )
    assert [p.get("thinking") for p in parts[:3]] == thinking_for("q", 3)
    prompt = directive(thinking=["a", "b"], tokens=["x"]) + "q"
    body = {"model": "qwen3:8b", "prompt": prompt, "think": True}
    parts = lines((await sim.post("/api/generate", json=body)).text)
    assert [(p.get("thinking"), p["response"]) for p in parts[:-1]] == [
        ("a", ""),
        ("b", ""),
        (None, "x"),
    ]


async def test_a_model_without_thinking_refuses_think(start):
    sim = await start(models=["llama3.2:3b"])
    for think in (True, "high"):
        r = await sim.post(
            "/api/generate", json={"model": "llama3.2:3b", "prompt": "q", "think": think}
        )
        assert r.status_code == 400 and r.json() == {
            "error": '"llama3.2:3b" does not support thinking'
        }
    r = await sim.post(
        "/api/generate", json={"model": "llama3.2:3b", "prompt": "q", "think": False}
    )
    assert r.status_code == 200 and not any("thinking" in p for p in lines(r.text))


async def test_an_unknown_think_value_is_ollamas_400(sim):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "q", "think": "hot"})
    assert r.status_code == 400
    levels = '"high", "medium", "low", "max", true, or false'
    assert r.json() == {"error": f'invalid think value: "hot" (must be {levels})'}
    r = await sim.post("/api/chat", json={"model": "qwen3:8b", "messages": USER, "think": 1})
    assert r.json()["error"].startswith("think must be a boolean or string")


async def test_images_are_counted_measured_and_mentioned(sim):
    body = {"model": "qwen3:8b", "prompt": "what is it", "images": [B64, B64[:8]], "stream": False}
    answer = (await sim.post("/api/generate", json=body)).json()["response"]
    first = f"[image 1: {len(PNG)} bytes, sha256 {hashlib.sha256(PNG).hexdigest()[:12]}] "
    second = f"[image 2: 6 bytes, sha256 {hashlib.sha256(PNG[:6]).hexdigest()[:12]}] "
    assert answer == first + second + "".join(tokens_for("what is it", 12))
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["images"] == {"count": 2, "bytes": [len(PNG), 6]}
    assert B64 not in str(record), "records never keep image data"


async def test_chat_images_are_recorded_by_size_in_their_message(sim):
    messages = [{"role": "user", "content": "look", "images": [B64]}]
    r = await sim.post(
        "/api/chat", json={"model": "qwen3:8b", "messages": messages, "stream": False}
    )
    assert r.json()["message"]["content"].startswith(f"[image 1: {len(PNG)} bytes")
    record = (await sim.get("/sim/requests")).json()[-1]
    assert record["extras"]["messages"] == [
        {"role": "user", "content": "look", "image_bytes": [68]}
    ]
    assert record["images"] == {"count": 1, "bytes": [68]}


@pytest.mark.parametrize(
    ("images", "error"),
    [
        (["aGVsbG8"], "illegal base64 data at input byte 4"),
        (["not base64!"], "illegal base64 data at input byte 3"),
        ([1], f"{UNMARSHAL} number {INTO}.images of type api.ImageData"),
        ("aGk=", f"{UNMARSHAL} string {INTO}.images of type []api.ImageData"),
    ],
)
async def test_bad_images_are_ollamas_400(sim, images, error):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "q", "images": images})
    assert r.status_code == 400 and r.json() == {"error": error}
    record = (await sim.get("/sim/requests")).json()[-1]
    assert (record["outcome"], record["status"], record["error"]) == ("rejected", 400, error)


async def test_bad_images_in_a_chat_message(sim):
    messages = [{"role": "user", "content": "q", "images": ["a"]}]
    r = await sim.post("/api/chat", json={"model": "qwen3:8b", "messages": messages})
    assert r.status_code == 400 and r.json() == {"error": "illegal base64 data at input byte 0"}


async def test_an_empty_prompt_loads_the_model(sim):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b"})
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body = r.json()
    assert list(body) == ["model", "created_at", "response", "done", "done_reason"]
    assert (body["response"], body["done"], body["done_reason"]) == ("", True, "load")
    assert [m["name"] for m in (await sim.get("/api/ps")).json()["models"]] == ["qwen3:8b"]


@pytest.mark.parametrize("keep_alive", [0, "0", "0s"])
async def test_an_empty_prompt_with_keep_alive_0_unloads_it(sim, keep_alive):
    await sim.post("/api/generate", json={"model": "qwen3:8b"})
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "keep_alive": keep_alive})
    assert r.json()["done_reason"] == "unload" and r.json()["response"] == ""
    assert (await sim.get("/api/ps")).json() == {"models": []}


async def test_empty_messages_load_and_unload_on_chat(sim):
    load = (await sim.post("/api/chat", json={"model": "qwen3:8b", "messages": []})).json()
    assert list(load) == ["model", "created_at", "message", "done", "done_reason"]
    assert load["message"] == {"role": "assistant", "content": ""} and load["done_reason"] == "load"
    unload = await sim.post("/api/chat", json={"model": "QWEN3:8b", "keep_alive": 0})
    assert unload.json()["done_reason"] == "unload", "names match regardless of case"
    assert unload.json()["model"] == "QWEN3:8b", "answers echo the name as the request gave it"
    r = await sim.post("/api/chat", json={"model": "qwen3", "messages": []})
    assert r.status_code == 404 and r.json() == {"error": "model 'qwen3' not found"}, "qwen3:latest"
    records = (await sim.get("/sim/requests")).json()
    assert [r["done_reason"] for r in records] == ["load", "unload", None]


async def test_unknown_and_missing_models_are_ollamas_errors(sim):
    r = await sim.post("/api/generate", json={"model": "nope", "prompt": "p"})
    assert r.status_code == 404 and r.json() == {"error": "model 'nope' not found"}
    r = await sim.post("/api/chat", json={"model": "nope", "messages": USER})
    assert r.status_code == 404 and r.json() == {"error": "model 'nope' not found"}
    r = await sim.post("/api/generate", json={"prompt": "p"})
    assert r.status_code == 404 and r.json() == {"error": "model '' not found"}
    r = await sim.post("/api/chat", json={"messages": USER})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}


async def test_an_embedding_model_does_not_generate(sim):
    r = await sim.post("/api/generate", json={"model": "all-minilm", "prompt": "p"})
    assert r.status_code == 400 and r.json() == {"error": '"all-minilm" does not support generate'}
    r = await sim.post("/api/chat", json={"model": "all-minilm", "messages": USER})
    assert r.status_code == 400 and r.json() == {"error": '"all-minilm" does not support chat'}


async def test_missing_capabilities_name_the_model_in_full(start):
    sim = await start(models=["qwen3:8b", "gemma3:4b"])
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p", "suffix": "end"})
    assert r.json() == {"error": "registry.ollama.ai/library/qwen3:8b does not support insert"}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    r = await sim.post("/api/chat", json={"model": "gemma3:4b", "messages": USER, "tools": tools})
    assert r.status_code == 400
    assert r.json() == {"error": "registry.ollama.ai/library/gemma3:4b does not support tools"}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"prompt": 42}, f"{UNMARSHAL} number {INTO}.prompt of type string"),
        ({"stream": "yes"}, f"{UNMARSHAL} string {INTO}.stream of type bool"),
        ({"options": []}, f"{UNMARSHAL} array {INTO}.options of type map[string]interface {{}}"),
        ({"keep_alive": "soon"}, 'time: invalid duration "soon"'),
        ({"top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ({"raw": True, "system": "s"}, "raw mode does not support template, system, or context"),
    ],
)
async def test_malformed_fields_are_ollamas_400(sim, body, error):
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p", **body})
    assert r.status_code == 400 and r.json() == {"error": error}


async def test_malformed_bodies_are_ollamas_400(sim):
    r = await sim.post("/api/generate", content=b"")
    assert r.status_code == 400 and r.json() == {"error": "missing request body"}
    r = await sim.post("/api/generate", content=b"[]")
    assert r.json() == {
        "error": "json: cannot unmarshal array into Go value of type api.GenerateRequest"
    }
    r = await sim.post("/api/chat", content=b"{")
    assert r.status_code == 400 and r.json() == {"error": "unexpected EOF"}
    r = await sim.post("/api/chat", json={"model": "qwen3:8b", "messages": ["hi"]})
    assert r.json()["error"].startswith(
        "json: cannot unmarshal string into Go struct field ChatRequest.messages"
    )


async def test_a_bad_directive_is_a_400(sim):
    r = await sim.post(
        "/api/generate", json={"model": "qwen3:8b", "prompt": 'SIM: {"fault": "x"}\nq'}
    )
    assert r.status_code == 400 and r.json()["error"].startswith(
        "simulator directive: unknown fault"
    )


async def test_gpt_oss_thinks_at_a_level_whatever_the_boolean(start):
    sim = await start(models=["gpt-oss:20b"])
    for think in (False, None):
        body = {"model": "gpt-oss:20b", "prompt": "q", "stream": False, "think": think}
        answer = (await sim.post("/api/generate", json=body)).json()
        assert answer["thinking"] == "".join(thinking_for("q", 4)), "true/false cannot turn it off"
    body = {"model": "gpt-oss:20b", "prompt": "q", "stream": False, "think": "low"}
    assert (await sim.post("/api/generate", json=body)).json()["thinking"] == "".join(
        thinking_for("q", 2)
    )
    assert [r["think"] for r in (await sim.get("/sim/requests")).json()] == ["medium"] * 2 + ["low"]


async def test_thinking_is_refused_before_the_missing_completion(sim):
    body = {"model": "all-minilm", "prompt": "q", "think": True}
    r = await sim.post("/api/generate", json=body)
    assert r.json() == {"error": '"all-minilm" does not support thinking'}, "Ollama's order"
