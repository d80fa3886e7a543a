"""Tool calls: which tool the simulated model calls, with which arguments, and what it says after.

When a chat request offers `tools` and its last message is not a tool result, the model calls
tools: the directive's `tool_calls` if the prompt has one, else the first tool, with arguments
derived from its JSON-schema `parameters` by this rule:

    only the `required` properties, in the order of `properties` (then any required name that
    `properties` lacks, as a string); a property's value is its `const`, else its first `enum`
    value, else by `type` (the first non-"null" one of a list; the first schema of an `anyOf` or
    `oneOf`): string "sim", integer and number 1, boolean true, null null, array a list of one
    value of its `items` (empty without `items`), object this same rule applied to it. A
    property without a type is a string.

When the last message is a tool result (`role: "tool"`), the model answers text that quotes
every trailing tool result: "<tool name> returned: <content>", one per line. A result's tool is
its `tool_name`, else the tool call its `tool_call_id` names, else "tool".

Calls come in Ollama's shape, `{"id": "call_<8>", "function": {"index": i, "name": ...,
"arguments": {...}}}`, with ids derived from the prompt and the call's place (Ollama draws them at
random; a test can compute these with `call_id`).
"""

import hashlib
from typing import Any

from simulator.wire import go_json

FIXED_STRING = "sim"
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def value_for(schema: Any) -> Any:
    """A value that fits the JSON schema `schema` (the rule in this module's docstring)."""
    if not isinstance(schema, dict):
        return FIXED_STRING
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return value_for(schema[key][0])
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind in ("integer", "number"):
        return 1
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        return [value_for(schema["items"])] if isinstance(schema.get("items"), dict) else []
    if kind == "object":
        return arguments_for(schema)
    return FIXED_STRING


def arguments_for(parameters: Any) -> dict[str, Any]:
    """Arguments for a tool whose `parameters` schema is `parameters`."""
    if not isinstance(parameters, dict):
        return {}
    properties = parameters.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = [r for r in parameters.get("required") or [] if isinstance(r, str)]
    names = [p for p in properties if p in required] + [r for r in required if r not in properties]
    return {name: value_for(properties.get(name, {"type": "string"})) for name in names}


def call_id(prompt: str, index: int, name: str) -> str:
    """The id of the `index`-th call (to `name`) the model makes for `prompt`."""
    digest = hashlib.blake2b(f"{prompt}\x00{index}\x00{name}".encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "big")
    letters = []
    for _ in range(8):
        number, rest = divmod(number, len(_ID_ALPHABET))
        letters.append(_ID_ALPHABET[rest])
    return "call_" + "".join(letters)


def tool_name(tool: Any) -> str:
    function = tool.get("function") if isinstance(tool, dict) else None
    return str(function.get("name", "")) if isinstance(function, dict) else ""


def planned_calls(
    tools: list[Any], directed: list[dict[str, Any]] | None, prompt: str
) -> list[dict[str, Any]]:
    """The tool calls the model answers: the directive's, else the first tool's."""
    if directed is None:
        first = tools[0].get("function", {}) if isinstance(tools[0], dict) else {}
        directed = [
            {"name": tool_name(tools[0]), "arguments": arguments_for(first.get("parameters"))}
        ]
    return [
        {
            "id": call_id(prompt, i, call["name"]),
            "function": {"index": i, "name": call["name"], "arguments": call["arguments"]},
        }
        for i, call in enumerate(directed)
    ]


def tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The trailing tool results of a conversation: (tool name, content), in order."""
    results: list[tuple[str, str]] = []
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") != "tool":
            break
        message = messages[i]
        name = message.get("tool_name") or _called(messages[:i], message.get("tool_call_id"))
        results.insert(0, (str(name or "tool"), str(message.get("content") or "")))
    return results


def _called(messages: list[dict[str, Any]], wanted: Any) -> str:
    """The name of the tool call whose id is `wanted` (the latest such call wins)."""
    for message in reversed(messages):
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and wanted and call.get("id") == wanted:
                return str((call.get("function") or {}).get("name") or "")
    return ""


def result_tokens(results: list[tuple[str, str]]) -> list[str]:
    """The answer after tool results: each result quoted whole, one per line."""
    tokens: list[str] = []
    for i, (name, content) in enumerate(results):
        tokens += [f"{name} returned: ", content + ("\n" if i < len(results) - 1 else "")]
    return tokens


def call_tokens(call: dict[str, Any]) -> int:
    """How many tokens a tool call costs (eval_count and pacing): one per 4 bytes of its JSON."""
    return max(1, len(go_json(call["function"])) // 4)


def openai_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls as Ollama's OpenAI layer writes them (arguments as a JSON string)."""
    return [
        {
            "id": call["id"],
            "index": call["function"]["index"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": go_json(call["function"]["arguments"]).decode(),
            },
        }
        for call in calls
    ]
