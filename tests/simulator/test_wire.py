"""Go's marks on Ollama's wire: JSON escapes, float text, times, base64 errors, durations."""

import base64
import re

import pytest

from simulator.wire import (
    FOREVER,
    go_b64decode,
    go_duration,
    go_float,
    go_json,
    go_json_with,
    go_time,
    keep_alive_seconds,
)


def test_json_escapes_what_go_escapes_and_nothing_else():
    assert go_json({"t": "<a>&\u2028\u2029"}) == b'{"t":"\\u003ca\\u003e\\u0026\\u2028\\u2029"}'
    assert go_json({"t": "\u0085é😀"}) == '{"t":"\u0085é😀"}'.encode()


def test_raw_values_are_spliced_into_the_json_text():
    assert go_json_with({"a": 1, "v": None}, {"v": b"[0.5,1]"}) == b'{"a":1,"v":[0.5,1]}'


@pytest.mark.parametrize(
    ("value", "bits", "text"),
    [
        (0.010071029, 32, "0.010071029"),
        (-0.0017594862, 32, "-0.0017594862"),
        (0.5670403838157654, 32, "0.5670404"),
        (0.5670403838157654, 64, "0.5670403838157654"),
        (1.0, 32, "1"),
        (0.0, 64, "0"),
        (3e-6, 64, "0.000003"),
        (1.5e-7, 32, "1.5e-7"),  # Go: 'e' below 1e-6, and e-07 shortened to e-7
        (1e21, 64, "1e+21"),
        (123.45, 64, "123.45"),
    ],
)
def test_floats_are_written_as_go_writes_them(value, bits, text):
    assert go_float(value, bits) == text


def test_times_are_rfc3339_utc_with_trimmed_nanoseconds():
    assert go_time(1_767_225_600_000_000_000) == "2026-01-01T00:00:00Z"
    assert go_time(1_767_225_600_120_000_000) == "2026-01-01T00:00:00.12Z"
    assert go_time(1_767_225_600_000_000_001) == "2026-01-01T00:00:00.000000001Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z", go_time())


@pytest.mark.parametrize("data", [b"", b"h", b"hi", b"hello", bytes(range(256))])
def test_valid_base64_decodes_like_python(data):
    text = base64.b64encode(data).decode()
    assert go_b64decode(text) == data
    assert go_b64decode(text[:4] + "\r\n" + text[4:]) == data, "Go skips CR and LF"


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("aGVsbG8", 4),  # unpadded: Go's StdEncoding wants the padding
        ("a", 0),
        ("aGV sbG8=", 3),
        ("aGVsbA=", 7),
        ("aGVsbA==x", 8),  # trailing garbage after the padding
        ("!!!!", 0),
        ("aGVsbG8h" * 3 + "*", 24),
        ("aGVsbG8=aGVsbG8=", 8),  # Go stops at the first padding
    ],
)
def test_bad_base64_fails_with_gos_error_and_offset(text, offset):
    with pytest.raises(ValueError, match=rf"^illegal base64 data at input byte {offset}$"):
        go_b64decode(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m", 300), ("1h30m", 5400), ("0", 0), ("-1m", -60), ("300ms", 0.3), (".5s", 0.5)],
)
def test_durations_parse_as_go_parses_them(text, seconds):
    assert go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("5", 'time: missing unit in duration "5"'),
        ("5q", 'time: unknown unit "q" in duration "5q"'),
        ("abc", 'time: invalid duration "abc"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_bad_durations_fail_with_gos_errors(text, error):
    with pytest.raises(ValueError) as raised:
        go_duration(text)
    assert str(raised.value) == error


def test_keep_alive_takes_seconds_or_go_durations_and_negative_is_forever():
    assert keep_alive_seconds(30) == 30 and keep_alive_seconds("2m") == 120
    assert keep_alive_seconds(-1) == FOREVER and keep_alive_seconds("-5m") == FOREVER
    with pytest.raises(ValueError, match=r"^Unsupported type: 'bool'$"):
        keep_alive_seconds(True)
