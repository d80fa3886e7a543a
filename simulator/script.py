"""What the simulator says and how it misbehaves: deterministic text, per-request directives.

A prompt whose first line is `SIM: {json}` steers that one request (the rest of the prompt is the
prompt). Keys, all optional:

    tokens   list of strings sent exactly as given, one per chunk
    n        number of tokens to generate (else options.num_predict, else the server default)
    rate     tokens per second (0: as fast as possible)
    ttft     seconds before the first chunk (a model load, or a wait in Ollama's queue)
    think    number of `thinking` chunks (empty `response`) before the answer
    fault    "status" | "stall" | "error_line" | "drop"
    after    tokens sent before the fault (default 0)
    status   HTTP status for fault "status" (default 500)
    message  error text for "status" and "error_line"
    times    apply the fault to the first `times` requests with the same `key`, then behave
    key      groups requests for `times`

Without a directive the text is a function of the prompt alone (`tokens_for`), so a client can
check an answer without asking the simulator.
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


@dataclass(slots=True)
class Script:
    tokens: list[str]
    rate: float
    ttft: float
    think: int = 0
    fault: str | None = None
    after: int = 0
    status: int = 500
    message: str = "simulated failure"
    key: str | None = None
    times: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def tokens_for(prompt: str, n: int) -> list[str]:
    """The default answer to `prompt`: `n` words, the same in every process and run."""
    seed = int.from_bytes(hashlib.blake2b(prompt.encode(), digest_size=8).digest(), "big")
    rng = random.Random(seed)
    words = [rng.choice(VOCABULARY) for _ in range(n)]
    return [word + " " for word in words[:-1]] + [words[-1] + "."] if words else []


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
    return Script(
        tokens=tokens,
        rate=float(directive.get("rate", default_rate)),
        ttft=float(directive.get("ttft", default_ttft)),
        think=int(directive.get("think", 0)),
        fault=directive.get("fault"),
        after=int(directive.get("after", 0)),
        status=int(directive.get("status", 500)),
        message=str(directive.get("message", "simulated failure")),
        key=directive.get("key"),
        times=directive.get("times"),
    )
