"""The Responses API (/v1/responses) on the wire: its request translation, its event sequence,
background mode, exact resume, cancellation, stored conversations, refusals."""

import asyncio
import uuid

import orjson
import pytest

from shared.keys import Keys
from simulator.script import thinking_for, tokens_for
from simulator.tools import call_id
from tests import sse
from tests.conftest import MAIN, MODEL, key_client, namespace
from tests.helpers import (
    OpenStream,
    directive,
    eventually,
    final_record,
    sim_outcome,
    sim_records,
    unique,
)

pytestmark = pytest.mark.e2e

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
    },
}


def generation_of(response_id: str) -> str:
    assert response_id.startswith("resp_")
    return str(uuid.UUID(hex=response_id.removeprefix("resp_")))


def events_of(raw: str) -> list[dict]:
    """The stream's events, checking that each SSE frame's `event:` is its data's type."""
    events = []
    for frame in sse.parse(raw).events:
        event = frame.json()
        assert frame.event == event["type"] and frame.id is None
        events.append(event)
    return events


def output_text(response: dict) -> str:
    return "".join(
        part["text"]
        for item in response["output"]
        if item["type"] == "message"
        for part in item["content"]
    )


async def test_text_input_answers_one_message_with_usage_and_a_record(client, sim, sessions):
    prompt = unique("sky")
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": prompt, "max_output_tokens": 7, "temperature": 0.5},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["model"] == MODEL and body["temperature"] == 0.5 and body["error"] is None
    (item,) = body["output"]
    assert item["type"] == "message" and item["role"] == "assistant"
    assert item["status"] == "completed" and output_text(body) == "".join(tokens_for(prompt, 7))
    assert body["usage"]["output_tokens"] == 7
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + 7
    gid = generation_of(body["id"])
    assert r.headers["x-generation-id"] == gid
    (asked,) = await sim_records(sim, prompt)
    assert asked["path"] == "/api/chat"
    assert asked["options"] == {"temperature": 0.5, "num_predict": 7}
    row = await final_record(sessions, gid)
    assert row.kind == "chat" and row.status == "succeeded"
    assert row.response == output_text(body)
    assert orjson.loads(row.prompt) == [{"role": "user", "content": prompt}]


async def test_instructions_and_message_items_become_chat_messages(client, sim):
    prompt = unique("items")
    r = await client.post(
        "/v1/responses",
        json={
            "model": MODEL,
            "instructions": "be brief",
            "input": [
                {"role": "developer", "content": "in English"},
                {"role": "user", "content": "earlier question"},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "earlier answer"}],
                },
                {"role": "user", "content": [{"type": "input_text", "text": prompt}]},
            ],
        },
    )
    assert r.status_code == 200, r.text
    assert output_text(r.json()) == "".join(tokens_for(prompt, 12))
    (asked,) = await sim_records(sim, prompt)
    assert asked["extras"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "system", "content": "in English"},
        {"role": "user", "content": "earlier question"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": prompt},
    ]


REASONING_THEN_TEXT = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.output_item.done",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def shape(events: list[dict]) -> list[str]:
    """The event types, a run of deltas as one (the worker joins text that comes faster than it
    flushes, so how many deltas carry it varies)."""
    kinds = [e["type"] for e in events]
    return [k for i, k in enumerate(kinds) if not (k.endswith(".delta") and kinds[i - 1] == k)]


def of_type(events: list[dict], kind: str) -> list[dict]:
    return [e for e in events if e["type"] == kind]


async def test_a_stream_follows_the_documented_event_sequence(client, sim):
    text = unique("stream")
    tokens = ["one\n", 'two "', "data: three", "\u2028four"]
    body = {
        "model": MODEL,
        "input": directive(tokens=tokens) + text,
        "reasoning": {"effort": "low"},
        "stream": True,
    }
    r = await client.post("/v1/responses", json=body)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = events_of(r.text)
    assert shape(events) == REASONING_THEN_TEXT
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    added, done = of_type(events, "response.output_item.added"), of_type(
        events, "response.output_item.done"
    )
    reasoning, message = (e["item"] for e in added)
    assert reasoning["type"] == "reasoning" and message["type"] == "message"
    assert [e["output_index"] for e in added + done] == [0, 1, 0, 1]
    thinking = "".join(thinking_for(text, 2))
    deltas = of_type(events, "response.reasoning_summary_text.delta")
    assert "".join(e["delta"] for e in deltas) == thinking
    assert {e["item_id"] for e in deltas} == {reasoning["id"]}
    deltas = of_type(events, "response.output_text.delta")
    assert "".join(e["delta"] for e in deltas) == "".join(tokens)
    assert {(e["item_id"], e["output_index"]) for e in deltas} == {(message["id"], 1)}
    assert of_type(events, "response.output_text.done")[0]["text"] == "".join(tokens)
    final = events[-1]["response"]
    assert final["status"] == "completed" and final["id"] == events[0]["response"]["id"]
    assert final["output"][0]["summary"] == [{"type": "summary_text", "text": thinking}]
    assert final["output"][1]["content"][0]["text"] == "".join(tokens)
    assert final["output"] == [e["item"] for e in done]
    assert final["reasoning"]["effort"] == "low"
    (asked,) = await sim_records(sim, body["input"])
    assert asked["extras"]["think"] == "low"


async def test_tool_calls_stream_as_function_call_items_and_the_loop_goes_on(client, sim):
    prompt = unique("weather")
    body = {"model": MODEL, "input": prompt, "tools": [WEATHER], "stream": True}
    events = events_of((await client.post("/v1/responses", json=body)).text)
    assert shape(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    call = events[-1]["response"]["output"][0]
    assert call == events[5]["item"]
    assert call["type"] == "function_call" and call["status"] == "completed"
    assert call["call_id"] == call_id(prompt, 0, "get_weather") and call["name"] == "get_weather"
    assert orjson.loads(call["arguments"]) == {"city": "sim", "unit": "c"}
    assert events[2]["item"]["arguments"] == "" and events[3]["delta"] == call["arguments"]
    (asked,) = await sim_records(sim, prompt)
    assert asked["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": WEATHER["parameters"],
                "description": WEATHER["description"],
            },
        }
    ]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21"}
    loop = {"model": MODEL, "tools": [WEATHER], "input": [{"role": "user", "content": prompt}]}
    loop["input"] += [call, output]
    r = await client.post("/v1/responses", json=loop)
    assert output_text(r.json()) == "get_weather returned: sunny, 21"
    asked = (await sim_records(sim, prompt))[-1]
    assert asked["extras"]["messages"][1:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": call["call_id"],
                    "function": {"name": "get_weather", "arguments": {"city": "sim", "unit": "c"}},
                }
            ],
        },
        {
            "role": "tool",
            "content": "sunny, 21",
            "tool_call_id": call["call_id"],
            "tool_name": "get_weather",
        },
    ]


async def test_tool_choice_none_offers_no_tools_and_a_named_one_only_that(client, sim):
    prompt = unique("choice")
    other = {**WEATHER, "name": "other"}
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": prompt, "tools": [WEATHER], "tool_choice": "none"},
    )
    assert output_text(r.json()) == "".join(tokens_for(prompt, 12))
    choice = {"type": "function", "name": "other"}
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": prompt, "tools": [WEATHER, other], "tool_choice": choice},
    )
    assert [i["name"] for i in r.json()["output"]] == ["other"]
    assert r.json()["tool_choice"] == choice
    first, second = await sim_records(sim, prompt)
    assert first["tools"] == []
    assert [t["function"]["name"] for t in second["tools"]] == ["other"]


async def wait_status(client, response_id: str, *statuses: str, timeout: float = 15) -> dict:
    async def check() -> dict | None:
        body = (await client.get(f"/v1/responses/{response_id}")).json()
        return body if body["status"] in statuses else None

    body = await eventually(check, timeout)
    assert body, f"{response_id} never became {statuses}"
    return body


async def test_background_returns_at_once_and_runs_with_no_client(client, sessions):
    # 40 tokens at 20 a second: well past DISCONNECT_GRACE_SECONDS (1 s here), which cancels a
    # generation nobody watches; a background one is watched by the server.
    text = unique("background")
    body = {"model": MODEL, "input": directive(n=40, rate=20) + text, "background": True}
    r = await client.post("/v1/responses", json=body)
    assert r.status_code == 200, r.text
    queued = r.json()
    assert queued["status"] in ("queued", "in_progress") and queued["background"] is True
    assert queued["output"] == [] or queued["status"] == "in_progress"
    polled = (await client.get(f"/v1/responses/{queued['id']}")).json()
    assert polled["status"] in ("queued", "in_progress")
    done = await wait_status(client, queued["id"], "completed", "cancelled", "failed")
    assert done["status"] == "completed" and done["background"] is True
    assert output_text(done) == "".join(tokens_for(text, 40))
    assert done["usage"]["output_tokens"] == 40 and done["created_at"] == queued["created_at"]
    row = await final_record(sessions, generation_of(queued["id"]))
    assert row.status == "succeeded" and row.response == output_text(done)


async def test_a_dropped_background_stream_runs_on_and_resumes_exactly(client, sessions):
    body = {
        "model": MODEL,
        "input": directive(tokens=[f"w{i} " for i in range(30)], rate=15) + unique(),
        "background": True,
        "stream": True,
    }
    async with OpenStream(client, "POST", "/v1/responses", json=body) as first:
        seen = [e.json() for e in await first.events(6)]
        gid = first.generation_id
    resp = seen[0]["response"]["id"]
    assert generation_of(resp) == gid
    await asyncio.sleep(1.5)  # past the disconnect grace: it must still run
    last = seen[-1]["sequence_number"]
    r = await client.get(f"/v1/responses/{resp}", params={"stream": "true", "starting_after": last})
    rest = events_of(r.text)
    assert rest[0]["sequence_number"] == last + 1 and rest[-1]["type"] == "response.completed"
    whole = events_of((await client.get(f"/v1/responses/{resp}?stream=true")).text)
    assert seen + rest == whole, "the same events, with the same numbers, once each"
    text = "".join(e["delta"] for e in whole if e["type"] == "response.output_text.delta")
    assert text == "".join(f"w{i} " for i in range(30))
    assert (await final_record(sessions, gid)).status == "succeeded"


async def test_cancel_stops_a_background_response(client, sim, sessions):
    prompt = directive(n=200, rate=20) + unique()
    r = await client.post(
        "/v1/responses", json={"model": MODEL, "input": prompt, "background": True}
    )
    resp = r.json()["id"]
    await wait_status(client, resp, "in_progress")
    cancelled = (await client.post(f"/v1/responses/{resp}/cancel")).json()
    assert cancelled["status"] == "cancelled" and cancelled["error"]["code"] == "cancelled"
    assert (await sim_outcome(sim, prompt))["outcome"] == "client_closed"
    assert (await client.get(f"/v1/responses/{resp}")).json()["status"] == "cancelled"
    events = events_of((await client.get(f"/v1/responses/{resp}?stream=true")).text)
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "cancelled"
    assert (await final_record(sessions, generation_of(resp))).status == "cancelled"
    again = await client.post(f"/v1/responses/{resp}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


async def test_a_response_cancelled_before_any_output_replays_as_events(client, sessions):
    # The model is still loading (ttft 5 s) when it is cancelled: nothing was produced, and
    # its stream asked for again is still the events of a response, ending cancelled.
    prompt = directive(ttft=5, n=5) + unique()
    r = await client.post(
        "/v1/responses", json={"model": MODEL, "input": prompt, "background": True}
    )
    resp = r.json()["id"]
    await wait_status(client, resp, "in_progress")
    assert (await client.post(f"/v1/responses/{resp}/cancel")).json()["status"] == "cancelled"
    r = await client.get(f"/v1/responses/{resp}", params={"stream": "true"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = events_of(r.text)
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "cancelled"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


async def test_another_keys_response_is_not_found(client, stack, new_key):
    r = await client.post("/v1/responses", json={"model": MODEL, "input": unique()})
    resp = r.json()["id"]
    async with key_client(stack, (await new_key("other"))["key"]) as other:
        for method, path in [
            ("GET", f"/v1/responses/{resp}"),
            ("GET", f"/v1/responses/{resp}?stream=true"),
            ("POST", f"/v1/responses/{resp}/cancel"),
            ("GET", "/v1/responses/resp_nothing"),
        ]:
            r = await other.request(method, path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", path
        r = await other.post(
            "/v1/responses",
            json={"model": MODEL, "input": "more", "previous_response_id": resp},
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "previous_response_id"


async def test_previous_response_id_continues_the_stored_conversation(client, sim):
    first, second, third = unique("first"), unique("second"), unique("third")
    r1 = await client.post(
        "/v1/responses", json={"model": MODEL, "input": first, "instructions": "be brief"}
    )
    answer = output_text(r1.json())
    r2 = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": second, "previous_response_id": r1.json()["id"]},
    )
    assert r2.json()["previous_response_id"] == r1.json()["id"]
    assert output_text(r2.json()) == "".join(tokens_for(second, 12))
    (asked,) = await sim_records(sim, second)
    assert asked["extras"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": first},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": second},
    ]
    # New instructions replace those the conversation began with.
    await client.post(
        "/v1/responses",
        json={
            "model": MODEL,
            "input": third,
            "instructions": "be thorough",
            "previous_response_id": r2.json()["id"],
        },
    )
    (asked,) = await sim_records(sim, third)
    messages = asked["extras"]["messages"]
    assert messages[0] == {"role": "system", "content": "be thorough"}
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]


async def test_item_references_name_output_items_of_stored_responses(client, sim):
    first, second = unique("first"), unique("second")
    body = {"model": MODEL, "input": first, "reasoning": {"effort": "medium"}}
    earlier = (await client.post("/v1/responses", json=body)).json()
    reasoning, message = earlier["output"]
    references = [{"type": "item_reference", "id": reasoning["id"]}, {"id": message["id"]}]
    items = [{"role": "user", "content": first}, *references, {"role": "user", "content": second}]
    r = await client.post("/v1/responses", json={"model": MODEL, "input": items})
    assert r.status_code == 200, r.text
    (asked,) = await sim_records(sim, second)
    assert asked["extras"]["messages"][1] == {
        "role": "assistant",
        "content": output_text(earlier),
        "thinking": "".join(thinking_for(first, 4)),
    }
    missing = {"type": "item_reference", "id": message["id"].rsplit("_", 1)[0] + "_7"}
    r = await client.post("/v1/responses", json={"model": MODEL, "input": [missing]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "input"


async def test_store_false_keeps_no_content(client, sessions):
    prompt = unique("private")
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": prompt, "store": False, "instructions": "secret"},
    )
    body = r.json()
    assert output_text(body) == "".join(tokens_for(prompt, 12)) and body["store"] is False
    row = await final_record(sessions, generation_of(body["id"]))
    assert row.status == "succeeded" and row.completion_tokens == 12
    assert (row.prompt, row.response, row.thinking) == (None, None, None)
    kept = (await client.get(f"/v1/responses/{body['id']}")).json()
    assert kept["status"] == "completed" and kept["output"] == [] and kept["instructions"] is None
    assert kept["usage"] == body["usage"]
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": "and then?", "previous_response_id": body["id"]},
    )
    assert r.status_code == 400 and "not stored" in r.json()["error"]["message"]


REMOTE_IMAGE = {"type": "input_image", "image_url": "https://example.com/cat.png"}


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"conversation": "conv_1"}, "conversation"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
        ({"tools": [WEATHER], "tool_choice": "required"}, "tool_choice"),
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"background": True, "store": False}, "background"),
        ({"input": [{"role": "user", "content": [REMOTE_IMAGE]}]}, "input"),
        ({"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, "input"),
        ({"input": [{"type": "web_search_call", "id": "ws_1"}]}, "input"),
        ({"input": []}, "input"),
        ({"previous_response_id": "resp_" + "0" * 32}, "previous_response_id"),
        ({"previous_response_id": "chatcmpl-1"}, "previous_response_id"),
        ({"temperature": 3}, "temperature"),
    ],
)
async def test_what_cannot_be_honoured_is_a_400_naming_the_field(client, redis, extra, param):
    r = await client.post("/v1/responses", json={"model": MODEL, "input": "hi", **extra})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert await redis.zcard(Keys(namespace(MAIN)).arq_queue) == 0


async def test_fields_sent_as_null_mean_their_default(client):
    nulls = dict.fromkeys(
        ["instructions", "temperature", "top_p", "tools", "tool_choice", "reasoning", "text"]
    )
    nulls |= dict.fromkeys(["stream", "store", "background", "metadata", "max_output_tokens"])
    r = await client.post("/v1/responses", json={"model": MODEL, "input": unique(), **nulls})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed" and r.json()["store"] is True


async def test_a_failure_mid_stream_ends_with_response_failed(client):
    fault = directive(tokens=["a", "b"], fault="error_line", after=1, message="GPU fell off")
    body = {"model": MODEL, "input": fault + unique(), "stream": True}
    events = events_of((await client.post("/v1/responses", json=body)).text)
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "upstream_error"
    assert "GPU fell off" in failed["error"]["message"]
    assert output_text(failed) == "a"
    r = await client.post("/v1/responses", json={**body, "stream": False})
    assert r.status_code == 502 and "GPU fell off" in r.json()["error"]["message"]


async def test_a_dropped_foreground_stream_is_cancelled(client, sim):
    prompt = directive(n=200, rate=20) + unique()
    body = {"model": MODEL, "input": prompt, "stream": True}
    async with OpenStream(client, "POST", "/v1/responses", json=body) as s:
        await s.events(4)
    assert (await sim_outcome(sim, prompt))["outcome"] == "client_closed"


async def test_past_its_retention_a_response_comes_from_its_record(tight):
    # The tight stack keeps streams 2 s after they end.
    body = {"model": MODEL, "input": unique("kept"), "reasoning": {"effort": "low"}}
    made = (await tight.post("/v1/responses", json=body)).json()
    await asyncio.sleep(3)
    r = await tight.get(f"/v1/responses/{made['id']}?stream=true")
    assert r.status_code == 410 and r.json()["error"]["code"] == "gone"
    later = (await tight.get(f"/v1/responses/{made['id']}")).json()
    assert later["output"] == made["output"] and later["usage"] == made["usage"]
    assert later["status"] == "completed" and later["created_at"] == made["created_at"]


async def test_previous_response_id_of_a_generation_that_is_no_response_is_a_400(client, sessions):
    # The same key's native generation (kind generate) has a record, but no conversation.
    r = await client.post("/api/v1/generate", json={"prompt": unique()})
    await final_record(sessions, r.headers["x-generation-id"])
    gid = r.headers["x-generation-id"].replace("-", "")
    r = await client.post(
        "/v1/responses",
        json={"model": MODEL, "input": "more", "previous_response_id": f"resp_{gid}"},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "previous_response_id"
    assert "not a response" in r.json()["error"]["message"]
