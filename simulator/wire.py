"""Ollama's wire format as Go writes and reads it: JSON text, floats, times, base64, durations.

Ollama is a Go program, and its answers carry the marks of Go's standard library: HTML-safe JSON
escapes, the shortest float32 text, RFC 3339 times with trimmed nanoseconds, base64 errors by
byte offset, `time.ParseDuration`. A faithful peer reproduces them rather than Python's habits.
"""

import re
import struct
import time
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

JSON_TYPE = "application/json; charset=utf-8"  # gin's c.JSON
NDJSON_TYPE = "application/x-ndjson"

# Ollama's Go encoder escapes these inside strings; a faithful peer sends what Ollama sends.
GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


class OllamaError(Exception):
    """An answer Ollama gives as `{"error": message}` with an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def go_json(obj: Any) -> bytes:
    """JSON as Go's encoding/json writes it (HTML-safe escapes; other text raw UTF-8)."""
    data = orjson.dumps(obj)
    for raw, escaped in GO_ESCAPES:
        if raw in data:
            data = data.replace(raw, escaped)
    return data


def go_json_with(obj: dict[str, Any], raw: dict[str, bytes]) -> bytes:
    """`go_json(obj)` with the values of the keys in `raw` spliced in as ready JSON text."""
    placeholders = {key: f"\x00raw:{key}\x00" for key in raw}
    data = go_json({**obj, **placeholders})
    for key, text in raw.items():
        data = data.replace(orjson.dumps(placeholders[key]), text)
    return data


def error_response(status: int, message: str) -> web.Response:
    """Ollama's error answer: `{"error": message}` (gin's c.JSON, no trailing newline)."""
    return web.Response(
        status=status, body=go_json({"error": message}), headers={"Content-Type": JSON_TYPE}
    )


def json_response(obj: Any, status: int = 200) -> web.Response:
    """A whole JSON answer as gin's c.JSON writes it."""
    return web.Response(status=status, body=go_json(obj), headers={"Content-Type": JSON_TYPE})


def go_time(ns: int | None = None) -> str:
    """A UTC time as Go's time.Time marshals it (RFC 3339, nanoseconds without trailing zeros)."""
    ns = time.time_ns() if ns is None else ns
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def go_quote(text: str) -> str:
    """Go's %q of a string (close enough: JSON's quoting, which Go's matches for common text)."""
    return orjson.dumps(text).decode()


def go_float(value: float, bits: int = 64) -> str:
    """A float as Go's encoding/json writes a float32 (`bits=32`) or float64."""
    if bits == 32:
        value = _FLOAT32.unpack(_FLOAT32.pack(value))[0]
    if value == 0:
        return "-0" if str(value).startswith("-") else "0"
    digits, point = _shortest(abs(value), bits)  # value = 0.<digits> * 10**point
    sign = "-" if value < 0 else ""
    small, large = _LIMITS[bits]  # Go compares a float32 with float32 constants
    if abs(value) < small or abs(value) >= large:
        power = point - 1
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        # Go writes e+21 and e-07, then encoding/json shortens e-07 to e-7.
        return f"{sign}{mantissa}e{'-' if power < 0 else '+'}{abs(power):0{1 if power < 0 else 2}d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


_FLOAT32 = struct.Struct("<f")
_LIMITS = {
    32: tuple(_FLOAT32.unpack(_FLOAT32.pack(limit))[0] for limit in (1e-6, 1e21)),
    64: (1e-6, 1e21),
}


def _shortest(value: float, bits: int) -> tuple[str, int]:
    """The fewest significant digits that read back as the same float32 or float64, and where
    the decimal point goes."""
    if bits == 64:
        parts = Decimal(repr(value)).as_tuple()
        text = "".join(map(str, parts.digits))
        return text.rstrip("0") or "0", int(parts.exponent) + len(text)
    best = f"{value:.8e}"  # nine digits always read back as the same float32
    for precision in range(7, -1, -1):  # most float32 need 7 to 9 digits: count down
        text = f"{value:.{precision}e}"
        if _FLOAT32.unpack(_FLOAT32.pack(float(text)))[0] != value:
            break
        best = text
    mantissa, exponent = best.split("e")
    return mantissa.replace(".", "").rstrip("0") or "0", int(exponent) + 1


def go_floats(values: list[float], bits: int = 64) -> bytes:
    """A JSON array of floats as Go writes a []float32 or []float64."""
    return ("[" + ",".join(go_float(v, bits) for v in values) + "]").encode()


_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64 = {c: i for i, c in enumerate(_ALPHABET)}
_NEWLINES = (ord("\n"), ord("\r"))
_PAD = ord("=")


def go_b64decode(text: str) -> bytes:
    """Decode as Go's base64.StdEncoding does; a bad input fails with Go's error and offset."""
    src, out, si = text.encode(), bytearray(), 0
    while si < len(src):
        si, chunk, bad = _quantum(src, si)
        out += chunk
        if bad is not None:
            raise ValueError(f"illegal base64 data at input byte {bad}")
    return bytes(out)


def _quantum(src: bytes, si: int) -> tuple[int, bytes, int | None]:
    """Go's decodeQuantum: up to four symbols from `si`; (next index, bytes, bad offset)."""
    sextets, count, bad = [0, 0, 0, 0], 0, None
    while count < 4:
        if si == len(src):
            return si, b"", None if count == 0 else si - count
        c = src[si]
        si += 1
        if c in _BASE64:
            sextets[count] = _BASE64[c]
            count += 1
            continue
        if c in _NEWLINES:
            continue
        if c != _PAD or count < 2:
            return si, b"", si - 1
        if count == 2:  # "==" expected; the first "=" is consumed
            while si < len(src) and src[si] in _NEWLINES:
                si += 1
            if si == len(src):
                return si, b"", len(src)
            if src[si] != _PAD:
                return si, b"", si - 1
            si += 1
        while si < len(src) and src[si] in _NEWLINES:
            si += 1
        bad = si if si < len(src) else None  # trailing garbage after the padding
        break
    value = sextets[0] << 18 | sextets[1] << 12 | sextets[2] << 6 | sextets[3]
    return si, value.to_bytes(3, "big")[: count - 1], bad


_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_NUMBER = re.compile(r"\d*(\.\d*)?")
_UNIT = re.compile(r"[^\d.]*")
FOREVER = float("inf")


def go_duration(text: str) -> float:
    """Seconds in a Go duration string ("5m", "1h30m", "0"), or Go's time.ParseDuration error."""
    quoted, rest, negative = go_quote(text), text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0.0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0.0
    while rest:
        number = _NUMBER.match(rest).group(0)  # type: ignore[union-attr]
        if number in ("", "."):
            raise ValueError(f"time: invalid duration {quoted}")
        rest = rest[len(number) :]
        unit = _UNIT.match(rest).group(0)  # type: ignore[union-attr]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        total += float(number) * _UNITS[unit]
        rest = rest[len(unit) :]
    return -total if negative else total


def keep_alive_seconds(value: Any) -> float:
    """Ollama's api.Duration: seconds for a number, Go syntax for a string; negative is forever."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        go_type = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}
        raise ValueError(f"Unsupported type: '{go_type.get(type(value), 'float64')}'")
    seconds = go_duration(value) if isinstance(value, str) else float(value)
    return FOREVER if seconds < 0 else seconds


GO_TYPES = {
    str: "string",
    bool: "bool",
    int: "number",
    float: "number",
    list: "array",
    dict: "object",
}


def json_kind(value: Any) -> str:
    """The JSON kind Go names in an UnmarshalTypeError ("string", "number", "array", ...)."""
    return GO_TYPES.get(type(value), "null")


async def read_body(request: web.Request, go_type: str) -> dict[str, Any]:
    """The JSON object of a request body, or the 400 Ollama's Go decoder would answer."""
    raw = await request.read()
    if not raw.strip():
        raise OllamaError(400, "missing request body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise OllamaError(400, _syntax_error(raw, e.pos)) from None
    if not isinstance(body, dict):
        kind = json_kind(body)
        raise OllamaError(400, f"json: cannot unmarshal {kind} into Go value of type {go_type}")
    return body


def _syntax_error(raw: bytes, pos: int) -> str:
    """Go's json.SyntaxError text, approximately: Go names the context more precisely."""
    text = raw.decode(errors="replace")
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    return f"invalid character {text[pos]!r} looking for beginning of value"
