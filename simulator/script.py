"""What the simulator says and how it misbehaves: deterministic text, per-request directives.

A prompt whose first line is `SIM: {json}` steers that one request (the rest of the prompt is the
prompt). On /api/chat the directive is read from the last user message; on /api/embed from the
first input (only `ttft` and the "status" fault apply there). Keys, all optional:

    tokens      list of strings sent exactly as given, one per chunk
    n           number of tokens to generate (else options.num_predict, else the server default)
    rate        tokens per second (0: as fast as possible)
    ttft        seconds before the first chunk (a model load, or a wait in Ollama's queue)
    think       number of thinking chunks, when thinking is on (see below)
    thinking    list of strings sent exactly as given as the thinking chunks, when thinking is on
    tool_calls  list of {"name": ..., "arguments": {...}}: the calls the model answers, when the
                request offers `tools` and the last message is not a tool result; [] makes the
                model answer text instead of calling the first tool
    fault       "status" | "stall" | "error_line" | "drop"
    after       tokens sent before the fault (default 0; thinking chunks do not count)
    status      HTTP status for fault "status" (default 500)
    message     error text for "status" and "error_line"
    times       apply the fault to the first `times` requests with the same `key`, then behave
    key         groups requests for `times`

Without a directive the text is a function of the prompt alone (`tokens_for`), so a client can
check an answer without asking the simulator; so is the thinking (`thinking_for`). Thinking is
on when the request's `think` is true or a level, or leaves `think` out for a thinking model (as
Ollama does); its length is the directive's, else the server's (`--think-tokens` scaled by the
level, `--implicit-think-tokens` when `think` was left out).
"""

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

DIRECTIVE_PREFIX = "SIM:"
FAULTS = frozenset({"status", "stall", "error_line", "drop"})

VOCABULARY = tuple(
    (
        "the sky is blue because air scatters short wavelengths of sunlight more than long ones "
        "so blue light reaches our eyes from every direction while red and yellow pass straight "
        "through a robot named Ada wrote a story about tides and the moon and a quiet harbour"
    ).split(" ")
)
THINKING_VOCABULARY = tuple(
    (
        "first I should work out what the question asks then recall what I know check each "
        "step against the facts weigh another reading of it and settle on a short clear answer"
    ).split(" ")
)


@dataclass(slots=True)
class Script:
    tokens: list[str]
    rate: float
    ttft: float
    explicit_tokens: bool = False  # `tokens` was given: the text is exactly that
    think: int | None = None
    thinking: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    fault: str | None = None
    after: int = 0
    status: int = 500
    message: str = "simulated failure"
    key: str | None = None
    times: int | None = None
    text: str = ""  # the prompt without its directive line
    extra: dict[str, Any] = field(default_factory=dict)


def _words(seed_text: str, n: int, vocabulary: tuple[str, ...]) -> list[str]:
    seed = int.from_bytes(hashlib.blake2b(seed_text.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    words = [rng.choice(vocabulary) for _ in range(n)]
    return [word + " " for word in words[:-1]] + [words[-1] + "."] if words else []


def tokens_for(prompt: str, n: int) -> list[str]:
    """The default answer to `prompt`: `n` words, the same in every process and run."""
    return _words(prompt, n, VOCABULARY)


def thinking_for(prompt: str, n: int) -> list[str]:
    """The default thinking about `prompt`: `n` words, the same in every process and run."""
    return _words("think\x00" + prompt, n, THINKING_VOCABULARY)


def parse_directive(prompt: str) -> tuple[dict[str, Any], str]:
    """Split `SIM: {...}` off the first line; an unparsable directive is an error for the caller."""
    if not prompt.startswith(DIRECTIVE_PREFIX):
        return {}, prompt
    first, _, rest = prompt.partition("\n")
    directive = orjson.loads(first[len(DIRECTIVE_PREFIX) :].strip() or "{}")
    if not isinstance(directive, dict):
        raise ValueError("a SIM: directive must be a JSON object")
    if directive.get("fault") not in (None, *FAULTS):
        raise ValueError(f"unknown fault {directive['fault']!r}")
    return directive, rest


def _tool_calls(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    calls: list[dict[str, Any]] = []
    for call in value if isinstance(value, list) else [None]:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError('tool_calls must be a list of {"name": ..., "arguments": {...}}')
        if not isinstance(call.get("arguments", {}), dict):
            raise ValueError("a tool call's arguments must be a JSON object")
        calls.append({"name": call["name"], "arguments": call.get("arguments", {})})
    return calls


def build_script(
    prompt: str,
    options: dict[str, Any],
    *,
    default_tokens: int,
    default_rate: float,
    default_ttft: float,
) -> Script:
    directive, text = parse_directive(prompt)
    if "tokens" in directive:
        tokens = [str(t) for t in directive["tokens"]]
    else:
        n = int(directive.get("n", options.get("num_predict") or default_tokens))
        tokens = tokens_for(text, max(n, 0))
    thinking = directive.get("thinking")
    return Script(
        tokens=tokens,
        rate=float(directive.get("rate", default_rate)),
        ttft=float(directive.get("ttft", default_ttft)),
        explicit_tokens="tokens" in directive,
        think=int(directive["think"]) if "think" in directive else None,
        thinking=[str(t) for t in thinking] if thinking is not None else None,
        tool_calls=_tool_calls(directive.get("tool_calls")),
        fault=directive.get("fault"),
        after=int(directive.get("after", 0)),
        status=int(directive.get("status", 500)),
        message=str(directive.get("message", "simulated failure")),
        key=directive.get("key"),
        times=directive.get("times"),
        text=text,
    )
