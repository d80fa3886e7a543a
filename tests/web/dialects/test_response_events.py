"""The Responses API's events and response object, built from a generation's events: pure logic,
for what the simulator cannot make happen (Ollama's `done_reason: "length"`, text after a tool
call) and for the numbering a resumed stream depends on."""

import uuid

from shared.stream import CHUNK, DONE, ERROR, START, THINKING, TOOL_CALLS, Event
from web.dialects.response_events import ResponseBuilder
from web.dialects.responses import ResponseReply, generation_of, response_id

GID = str(uuid.UUID(int=7))
CALL = {"id": "call_1", "function": {"name": "f", "arguments": {"x": 1}}}
LOG = [
    Event(1, START, {"worker": "w"}),
    Event(2, THINKING, "hm"),
    Event(3, CHUNK, "a"),
    Event(4, TOOL_CALLS, [CALL]),
    Event(5, CHUNK, "b"),
    Event(6, DONE, {"done_reason": "length", "prompt_eval_count": 3, "eval_count": 4}),
]


def build(events: list[Event], **kwargs) -> tuple[ResponseBuilder, list[dict]]:
    builder = ResponseBuilder(GID, {"id": response_id(GID)}, **kwargs)
    return builder, builder.feed(events)


def test_ids_name_their_generation_and_nothing_else():
    assert generation_of(response_id(GID)) == GID
    assert generation_of("msg_" + uuid.UUID(GID).hex + "_1", ("msg",)) == GID
    digits = uuid.UUID(GID).hex
    for other in (
        "resp_xyz",
        "chatcmpl-" + GID,
        "resp_" + GID,
        f"resp_{digits}_1",
        "msg_" + digits,
    ):
        assert generation_of(other, ("resp", "msg")) is None


def test_length_is_incomplete_and_each_kind_of_output_its_own_item():
    builder, events = build(LOG)
    assert events[-1]["type"] == "response.incomplete"
    response = builder.snapshot()
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert [i["type"] for i in response["output"]] == [
        "reasoning",
        "message",
        "function_call",
        "message",
    ]
    assert [i["id"].split("_")[-1] for i in response["output"]] == ["0", "1", "2", "3"]
    assert response["output"][2]["arguments"] == '{"x":1}'
    assert response["usage"]["total_tokens"] == 7
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_feeding_in_any_batches_numbers_the_events_the_same():
    _, whole = build(LOG)
    builder, _ = build([])
    assert [e for event in LOG for e in builder.feed([event])] == whole


def test_a_reply_resumed_after_n_sends_exactly_the_events_after_it():
    full = ResponseReply(ResponseBuilder(GID, {})).encode(LOG)
    frames = full.split(b"\n\n")[:-1]
    rest = ResponseReply(ResponseBuilder(GID, {}), after=5).encode(LOG)
    assert rest == b"\n\n".join(frames[6:]) + b"\n\n"


def test_a_cancelled_generation_fails_as_cancelled_and_unstored_content_is_not_shown():
    events = [
        Event(1, START, {}),
        Event(2, CHUNK, "secret"),
        Event(3, ERROR, {"type": "cancelled"}),
    ]
    builder, out = build(events, content=False)
    assert out[-1]["type"] == "response.failed"
    response = builder.snapshot()
    assert response["status"] == "cancelled" and response["output"] == []
    assert response["error"]["code"] == "cancelled"
    queued, _ = build([])
    assert queued.snapshot()["status"] == "queued"
