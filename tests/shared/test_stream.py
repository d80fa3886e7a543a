"""The stream's wire: one encoder for the log and the live channel, and Last-Event-ID parsing."""

import pytest

from shared.keys import Keys
from shared.stream import (
    LIVE_MAX_EVENT_BYTES,
    MAX_SEQ,
    Event,
    decode_event,
    decode_live,
    live_message,
    live_publish,
    log_append,
    parse_seq,
)

TRICKY = ["a\nb", 'quote " and \\', "data: x\n\n", "</script>", "\u2028", "\x00", "😀"]


@pytest.mark.parametrize("payload", [*TRICKY, {"done_reason": "stop"}, None, 0])
def test_an_event_survives_both_copies(payload):
    event = Event(7, "chunk", payload)
    assert decode_event(event.encode()) == event
    assert decode_live(live_message([event.encode(), Event(8, "done", {}).encode()])) == [
        event,
        Event(8, "done", {}),
    ]


def test_the_commands_name_the_namespaced_log_and_channel():
    keys = Keys("ns1")
    assert log_append(keys, "g", 3, b"x") == ("XADD", "ns1:gen:g:log", "0-3", b"e", b"x")
    assert live_publish(keys, "g", [b"1", b"2"]) == ("PUBLISH", "ns1:gen:g:live", b"[1,2]")


def test_an_event_too_big_for_pubsub_goes_to_the_log_only():
    keys, big = Keys("ns1"), b'[2,"result","' + b"x" * LIVE_MAX_EVENT_BYTES + b'"]'
    assert live_publish(keys, "g", [b"1", big, b"3"]) == ("PUBLISH", "ns1:gen:g:live", b"[1,3]")
    assert live_publish(keys, "g", [big]) is None


@pytest.mark.parametrize("text", ["0", "1", "42", str(MAX_SEQ)])
def test_event_ids_we_send_parse(text):
    assert parse_seq(text) == int(text)


@pytest.mark.parametrize(
    "text", ["", "-1", "1.5", "abc", " 3", "0x10", str(MAX_SEQ + 1), "9" * 40, "١٢"]
)
def test_anything_else_is_not_an_event_id(text):
    with pytest.raises(ValueError):
        parse_seq(text)
