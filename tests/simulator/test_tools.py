"""Tool calls on /api/chat: which tool, which arguments, Ollama's shapes, and the round trip."""

import ollama
import pytest

from simulator.script import tokens_for
from simulator.tools import arguments_for, call_id, value_for
from tests.simulator.parse import directive, lines

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather in a given city",
        "parameters": {
            "type": "object",
            "properties": {
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "note": {"type": "string"},
            },
            "required": ["city", "unit", "days"],
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "now", "parameters": {"type": "object"}}}
QUESTION = [{"role": "user", "content": "weather in Tokyo?"}]
EXPECTED_CALL = {
    "id": call_id("weather in Tokyo?", 0, "get_weather"),
    "function": {
        "index": 0,
        "name": "get_weather",
        "arguments": {"unit": "celsius", "city": "sim", "days": 1},
    },
}


def chat(**fields: object) -> dict:
    return {"model": "qwen3:8b", "messages": QUESTION, "tools": [WEATHER, CLOCK], **fields}


def test_arguments_follow_the_schema_rule():
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "b": {"type": "boolean"},
            "e": {"enum": [3, 4]},
            "c": {"const": "x"},
            "o": {"type": ["null", "boolean"]},
            "a": {"type": "array", "items": {"type": "integer"}},
            "u": {"anyOf": [{"type": "number"}, {"type": "string"}]},
            "obj": {"type": "object", "properties": {"k": {}}, "required": ["k"]},
            "optional": {"type": "string"},
        },
        "required": ["obj", "u", "a", "o", "c", "e", "b", "n", "i", "s", "extra"],
    }
    assert arguments_for(schema) == {
        "s": "sim",
        "i": 1,
        "n": 1,
        "b": True,
        "e": 3,
        "c": "x",
        "o": True,
        "a": [1],
        "u": 1,
        "obj": {"k": "sim"},
        "extra": "sim",
    }
    assert arguments_for({"type": "object"}) == {} and value_for({"type": "array"}) == []


def test_call_ids_look_like_ollamas_and_are_deterministic():
    first = call_id("q", 0, "f")
    assert first.startswith("call_") and len(first) == 13 and first[5:].isalnum()
    assert first == call_id("q", 0, "f") and first != call_id("q", 1, "f")


async def test_streamed_the_call_has_a_line_of_its_own_before_the_final_line(sim):
    parts = lines((await sim.post("/api/chat", json=chat())).text)
    assert [p["done"] for p in parts] == [False, True]
    assert parts[0]["message"] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [EXPECTED_CALL],
    }
    assert parts[1]["message"] == {"role": "assistant", "content": ""}
    assert parts[1]["done_reason"] == "stop" and parts[1]["eval_count"] > 0


async def test_whole_the_message_carries_the_calls(sim):
    answer = (await sim.post("/api/chat", json=chat(stream=False))).json()
    assert answer["message"] == {"role": "assistant", "content": "", "tool_calls": [EXPECTED_CALL]}
    assert answer["done"] is True and answer["done_reason"] == "stop"


async def test_a_directive_chooses_the_calls(sim):
    calls = [
        {"name": "now", "arguments": {}},
        {"name": "get_weather", "arguments": {"city": "Oslo"}},
    ]
    messages = [{"role": "user", "content": directive(tool_calls=calls) + "two calls"}]
    parts = lines((await sim.post("/api/chat", json=chat(messages=messages))).text)
    got = [p["message"]["tool_calls"] for p in parts[:-1]]
    assert got == [
        [
            {
                "id": call_id("two calls", 0, "now"),
                "function": {"index": 0, "name": "now", "arguments": {}},
            }
        ],
        [
            {
                "id": call_id("two calls", 1, "get_weather"),
                "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Oslo"}},
            }
        ],
    ]
    record = (await sim.get("/sim/requests")).json()[-1]
    assert [c["function"]["name"] for c in record["tool_calls"]] == ["now", "get_weather"]
    assert record["tools"] == [WEATHER, CLOCK]


async def test_an_empty_directive_list_answers_text(sim):
    messages = [{"role": "user", "content": directive(tool_calls=[]) + "just talk"}]
    answer = (await sim.post("/api/chat", json=chat(messages=messages, stream=False))).json()
    assert answer["message"] == {
        "role": "assistant",
        "content": "".join(tokens_for("just talk", 12)),
    }


async def test_tokens_and_thinking_come_before_the_calls(sim):
    messages = [{"role": "user", "content": directive(tokens=["let me check"], think=1) + "q"}]
    parts = lines((await sim.post("/api/chat", json=chat(messages=messages, think=True))).text)
    kinds = [
        next(k for k in ("thinking", "tool_calls", "content") if p["message"].get(k))
        for p in parts[:-1]
    ]
    assert kinds == ["thinking", "content", "tool_calls"]


async def test_after_a_tool_result_the_model_quotes_it(sim):
    messages = [
        *QUESTION,
        {"role": "assistant", "content": "", "tool_calls": [EXPECTED_CALL]},
        {"role": "tool", "content": "11 degrees celsius", "tool_name": "get_weather"},
    ]
    parts = lines((await sim.post("/api/chat", json=chat(messages=messages))).text)
    assert (
        "".join(p["message"]["content"] for p in parts)
        == "get_weather returned: 11 degrees celsius"
    )
    assert not any("tool_calls" in p["message"] for p in parts)


async def test_several_results_are_quoted_in_order_and_named_by_call_id(sim):
    messages = [
        *QUESTION,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_a", "function": {"name": "now", "arguments": {}}}],
        },
        {"role": "tool", "content": "noon", "tool_call_id": "call_a"},
        {"role": "tool", "content": "rain"},
    ]
    answer = (await sim.post("/api/chat", json=chat(messages=messages, stream=False))).json()
    assert answer["message"]["content"] == "now returned: noon\ntool returned: rain"


async def test_without_tools_there_are_no_calls(sim):
    messages = [{"role": "user", "content": directive(tool_calls=[{"name": "f"}]) + "q"}]
    body = {"model": "qwen3:8b", "messages": messages, "stream": False}
    answer = (await sim.post("/api/chat", json=body)).json()
    assert "tool_calls" not in answer["message"] and answer["message"]["content"]


async def test_an_agent_loop_with_the_official_client(sim):
    client = ollama.AsyncClient(host=str(sim.base_url))
    messages = list(QUESTION)
    first = await client.chat(model="qwen3:8b", messages=messages, tools=[WEATHER])
    (call,) = first.message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments["city"] == "sim"
    messages += [
        first.message,
        {"role": "tool", "content": "sunny", "tool_name": call.function.name},
    ]
    second = await client.chat(model="qwen3:8b", messages=messages, tools=[WEATHER])
    assert second.message.content == "get_weather returned: sunny" and not second.message.tool_calls
    await client._client.aclose()


@pytest.mark.parametrize("stream", [False, True])
async def test_the_call_is_recorded(sim, stream):
    await sim.post("/api/chat", json=chat(stream=stream))
    (record,) = (await sim.get("/sim/requests")).json()
    assert record["tool_calls"] == [EXPECTED_CALL] and record["outcome"] == "completed"
