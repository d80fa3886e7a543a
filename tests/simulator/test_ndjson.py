"""Ollama's native lines: field order and omissions as its Go structs write them."""

from tests.simulator.parse import directive, lines

GENERATE_LAST = [
    "model",
    "created_at",
    "response",
    "done",
    "done_reason",
    "context",
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
]


async def test_generate_lines_in_ollamas_field_order(sim):
    body = {"model": "qwen3:8b", "prompt": directive(n=1, think=1) + "q", "think": True}
    thinking, token, last = lines((await sim.post("/api/generate", json=body)).text)
    assert list(thinking) == ["model", "created_at", "response", "thinking", "done"]
    assert list(token) == ["model", "created_at", "response", "done"]
    assert list(last) == GENERATE_LAST


async def test_chat_lines_in_ollamas_field_order(sim):
    messages = [{"role": "user", "content": directive(n=1, think=1) + "q"}]
    body = {"model": "qwen3:8b", "messages": messages}
    thinking, token, last = lines((await sim.post("/api/chat", json=body)).text)
    assert list(thinking) == ["model", "created_at", "message", "done"]
    assert list(thinking["message"]) == ["role", "content", "thinking"]
    assert token["message"] == {"role": "assistant", "content": token["message"]["content"]}
    assert list(last) == [
        "model",
        "created_at",
        "message",
        "done",
        "done_reason",
        *GENERATE_LAST[6:],
    ]


async def test_zero_statistics_are_omitted_as_gos_omitempty_does(sim):
    body = {"model": "qwen3:8b", "prompt": directive(n=0) + "q", "stream": False}
    answer = (await sim.post("/api/generate", json=body)).json()
    assert answer["response"] == "" and "eval_count" not in answer and answer["total_duration"] > 0


async def test_raw_generations_have_no_context(sim):
    body = {"model": "qwen3:8b", "prompt": "q", "raw": True, "stream": False}
    assert "context" not in (await sim.post("/api/generate", json=body)).json()


async def test_text_is_escaped_as_ollamas_go_encoder_does(sim):
    prompt = 'SIM: {"tokens": ["</script>&", "\\u2028", "\\u0085"]}\nx'
    raw = (await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": prompt})).content
    assert b"\\u003c/script\\u003e\\u0026" in raw and b"\\u2028" in raw
    assert "\u0085".encode() in raw, "Go leaves U+0085 raw"
    assert raw.endswith(b"}\n") and raw.count(b"\n") == 4, "one object per line, no blank lines"
