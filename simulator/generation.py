"""One decoded generation request, answered as Ollama answers it: checks, load, unload, plan.

The checks run in Ollama's order (server/routes.go, GenerateHandler and ChatHandler), after the
body's decoding (simulator/decode.py): the model's name and presence, unload (empty prompt or
messages, and keep_alive 0), thinking and capabilities (completion, `insert` for a suffix,
`tools`), load (empty prompt or messages), and only then the generation, planned from the
prompt's directive, the conversation, the images and the thinking settings.
"""

import hashlib
from typing import Any, Protocol

from aiohttp import web

from simulator.catalog import Model, Name
from simulator.config import SimConfig
from simulator.decode import Ask
from simulator.families import COMPLETION, INSERT, THINKING, TOOLS
from simulator.images import image_tokens, summary
from simulator.records import Record
from simulator.script import Script, build_script, thinking_for
from simulator.state import Simulator
from simulator.tools import planned_calls, result_tokens, tool_results
from simulator.turn import Emitter, Plan, Turn
from simulator.wire import OllamaError, go_quote

LEVEL_SCALE = {"low": 0.5, "medium": 1.0, "high": 2.0, "max": 4.0}
RECORDED = (
    *("format", "think", "system", "keep_alive", "suffix", "raw", "template", "context"),
    *("truncate", "shift", "logprobs", "top_logprobs"),
)
VOCABULARY_SIZE = 151_936


def describe(record: Record, ask: Ask) -> None:
    """What the record keeps of a decoded request (images as sizes, never data)."""
    record.model = Name.parse(ask.name).display if ask.name.strip() else ""
    record.prompt, record.stream, record.options = ask.prompt, ask.stream, ask.options
    record.extras = {k: ask.body[k] for k in RECORDED if k in ask.body}
    if ask.chat:
        record.extras["messages"] = list(map(_recorded, ask.messages, ask.message_images))
    record.tools = ask.tools
    record.images = summary(ask.images)


def _recorded(message: dict[str, Any], images: list[bytes]) -> dict[str, Any]:
    kept = {k: v for k, v in message.items() if k != "images"}
    if message.get("images") is not None:
        kept["image_bytes"] = [len(b) for b in images]
    return kept


def admit(sim: Simulator, ask: Ask) -> tuple[Model, str | None]:
    """The model, and "load" or "unload" when the request is only that; else Ollama's error."""
    if not ask.name.strip():
        if ask.chat:
            raise OllamaError(400, "model is required")
        raise OllamaError(404, f"model '{ask.name}' not found")
    if not Name.parse(ask.name).valid:
        raise OllamaError(400, "invalid model name")
    model = sim.catalog.get(ask.name)
    if model is None:
        raise OllamaError(404, f"model '{ask.name}' not found")
    empty = not ask.messages if ask.chat else ask.prompt == ""
    if empty and ask.keep_alive == 0:
        sim.catalog.unload(model)
        return model, "unload"
    check_capabilities(model, ask)
    sim.catalog.load(model, ask.keep_alive, ask.options.get("num_ctx"))
    return model, "load" if empty else None


def check_capabilities(model: Model, ask: Ask) -> None:
    """Ollama's refusals of what a model cannot do, in Ollama's order and words."""
    body = ask.body
    templated = body.get("template") or body.get("system") or body.get("context")
    if not ask.chat and body.get("raw") and templated:
        raise OllamaError(400, "raw mode does not support template, system, or context")
    if not model.can(THINKING) and (ask.think is True or isinstance(ask.think, str)):
        raise OllamaError(400, f"{go_quote(ask.name)} does not support thinking")
    wanted = [COMPLETION, INSERT if body.get("suffix") else "", TOOLS if ask.tools else ""]
    missing = [c for c in wanted if c and not model.can(c)]
    if COMPLETION in missing:
        action = "chat" if ask.chat else "generate"
        raise OllamaError(400, f"{go_quote(ask.name)} does not support {action}")
    if missing:  # Ollama's errors.Join: one capability per line
        raise OllamaError(400, f"{model.name.full} does not support " + "\n".join(missing))


def effective_think(model: Model, think: bool | str | None) -> bool | str:
    """Whether (and at which level) the model thinks: Ollama turns it on when `think` is absent."""
    if not model.can(THINKING):
        return False
    if model.family.levels_only:  # gpt-oss: true and false are ignored
        return think if isinstance(think, str) else "medium"
    return True if think is None else think


def thinking_of(config: SimConfig, script: Script, ask: Ask, think: bool | str) -> list[str]:
    """The thinking chunks: the directive's, else as many as the level (or its absence) asks."""
    if think is False:
        return []
    if script.thinking is not None:
        return script.thinking
    if script.think is not None:
        count = script.think
    elif ask.think is None and think is True:
        count = config.implicit_think_tokens
    else:
        count = round(config.think_tokens * LEVEL_SCALE["medium" if think is True else str(think)])
    return thinking_for(script.text, max(count, 0))


def answer_of(plan: Plan, script: Script, ask: Ask) -> None:
    """The tool calls and the answer's tokens (see simulator/tools.py and simulator/images.py)."""
    results = tool_results(ask.messages) if ask.chat else []
    if ask.tools and not results and script.tool_calls != []:
        plan.tool_calls = planned_calls(ask.tools, script.tool_calls, script.text)
    if script.explicit_tokens:
        plan.tokens = script.tokens
    elif results:
        plan.tokens = image_tokens(ask.images) + result_tokens(results)
    elif not plan.tool_calls:
        plan.tokens = (image_tokens(ask.images) + script.tokens) if script.tokens else []


def plan_for(sim: Simulator, ask: Ask, model: Model, record: Record) -> Plan:
    """What the model says to this request (see simulator/script.py for the directives)."""
    config = sim.config
    try:
        script = build_script(
            ask.prompt,
            ask.options,
            default_tokens=config.tokens,
            default_rate=config.rate,
            default_ttft=config.ttft,
        )
    except ValueError as e:
        raise OllamaError(400, f"simulator directive: {e}") from None
    if not sim.records.fault_applies(script):
        script.fault = None
    record.think = effective_think(model, ask.think)
    plan = Plan(ask.name, script, prompt_tokens=max(1, len(ask.prompt.split())))
    plan.thinking = thinking_of(config, script, ask, record.think)
    answer_of(plan, script, ask)
    if not ask.chat and not ask.body.get("raw"):
        plan.context = context_for(ask.prompt.split() + plan.tokens)
    return plan


def context_for(pieces: list[str]) -> list[int]:
    """Token ids for /api/generate's deprecated `context`: one per word of prompt and answer."""
    ids = (hashlib.blake2b(p.encode(), digest_size=4).digest() for p in pieces)
    return [int.from_bytes(i, "big") % VOCABULARY_SIZE for i in ids]


class Dialect(Emitter, Protocol):
    """An emitter that also answers loads and unloads."""

    def instant(self, reason: str) -> web.Response: ...


async def serve(
    request: web.Request, sim: Simulator, record: Record, ask: Ask, emitter: Dialect
) -> web.StreamResponse:
    """Answer a decoded (and described) request through `emitter`: an error, a load or an
    unload, or a generation."""
    try:
        model, instant = admit(sim, ask)
        if instant is not None:
            record.done_reason = instant
            record.end("completed")
            return emitter.instant(instant)
        plan = plan_for(sim, ask, model, record)
    except OllamaError as e:
        record.end("rejected", e.status, e.message)
        return emitter.error(e.status, e.message)
    script = plan.script
    if script.fault == "status":
        record.end("fault", script.status, script.message)
        return emitter.error(script.status, script.message)
    return await Turn(plan, record, emitter, ask.stream).run(request, sim.slots)
