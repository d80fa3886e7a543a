"""A Responses API response built from its generation's events (shared/stream.py): the stream
events OpenAI documents, numbered, and the response object as it stands after any of them.

It is a pure function of the generation's events: the same log gives the same stream events with
the same `sequence_number`s, which is what makes `GET /v1/responses/{id}?stream=true&
starting_after=N` exact (the log is encoded again from its start and what the client had is
skipped), and what `GET /v1/responses/{id}` reads while the generation runs.

    response.created                                  the first event of the generation
    response.in_progress                              a worker picked it up
    response.output_item.added (reasoning)            thinking: one reasoning item, its text as
      response.reasoning_summary_part.added           a summary part (the field the AI SDK and
      response.reasoning_summary_text.delta ...       openai-python read; Ollama does the same)
      response.reasoning_summary_text.done
      response.reasoning_summary_part.done
    response.output_item.done
    response.output_item.added (message)              text
      response.content_part.added
      response.output_text.delta ...
      response.output_text.done
      response.content_part.done
    response.output_item.done
    response.output_item.added (function_call)        each tool call, whole
      response.function_call_arguments.delta
      response.function_call_arguments.done
    response.output_item.done
    response.completed | response.incomplete          the end (incomplete: max_output_tokens)
    response.failed                                   or a failure or cancellation

An item is closed when another kind of output begins. Ids are made from the generation id and
the item's place in the output, so a replay, a retrieval and the record name them the same.
"""

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.errors import Cancelled
from shared.stream import CHUNK, CONTENT, DONE, ERROR, START, THINKING, TOOL_CALLS, Event
from web.dialects.openai_messages import openai_tool_calls

ItemKind = Literal["reasoning", "message", "function_call"]
ITEM_PREFIXES: dict[str, ItemKind] = {"rs": "reasoning", "msg": "message", "fc": "function_call"}
PREFIX_OF = {kind: prefix for prefix, kind in ITEM_PREFIXES.items()}


def item_id(kind: ItemKind, generation_id: str, index: int) -> str:
    return f"{PREFIX_OF[kind]}_{uuid.UUID(generation_id).hex}_{index}"


@dataclass(slots=True)
class Item:
    """One output item: its text so far (reasoning, message) or its call (function_call)."""

    kind: ItemKind
    id: str
    index: int
    parts: list[str] = field(default_factory=list)
    call: dict[str, Any] = field(default_factory=dict)
    done: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def render(self, *, added: bool = False) -> dict[str, Any]:
        """The item as OpenAI shows it; `added`: as announced, before any of its content."""
        status = "completed" if self.done else "in_progress"
        if self.kind == "reasoning":
            summary = [] if added else [{"type": "summary_text", "text": self.text}]
            return {"id": self.id, "type": "reasoning", "summary": summary}
        if self.kind == "message":
            content = [] if added else [_text_part(self.text)]
            return {
                "id": self.id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": content,
            }
        function = self.call["function"]
        return {
            "id": self.id,
            "type": "function_call",
            "status": status,
            "call_id": self.call["id"],
            "name": function["name"],
            "arguments": "" if added else function["arguments"],
        }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def usage(stats: dict[str, Any]) -> dict[str, Any]:
    prompt, completion = int(stats.get("prompt_eval_count") or 0), int(stats.get("eval_count") or 0)
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


class ResponseBuilder:
    """Feed it a generation's events in order; it returns the stream events they make and
    keeps the response object (`snapshot`). `head`: the fields that never change (id, model,
    created_at and what the request asked, which the response echoes). `content` False: the
    response's content is not to be shown (it was not stored), only how it went."""

    def __init__(self, generation_id: str, head: dict[str, Any], *, content: bool = True) -> None:
        self.generation_id = generation_id
        self.head = head
        self.content = content
        self.seq = 0  # the next event's sequence_number
        self.status = "queued"
        self.items: list[Item] = []
        self.usage: dict[str, Any] | None = None
        self.error: dict[str, Any] | None = None
        self.incomplete: dict[str, Any] | None = None
        self._created = False
        self._started = False

    def snapshot(self) -> dict[str, Any]:
        """The response object now."""
        return {
            **self.head,
            "status": self.status,
            "error": self.error,
            "incomplete_details": self.incomplete,
            "output": [item.render() for item in self.items],
            "usage": self.usage,
        }

    def feed(self, events: list[Event]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for event in events:
            if not self._created:
                self._created = True
                out.append(self._event("response.created", response=self.snapshot()))
            if event.type == START and not self._started:
                self._started = True
                self.status = "in_progress"
                out.append(self._event("response.in_progress", response=self.snapshot()))
            elif event.type in CONTENT and not self.content:
                continue
            elif event.type == THINKING:
                out += self._text("reasoning", event.payload)
            elif event.type == CHUNK:
                out += self._text("message", event.payload)
            elif event.type == TOOL_CALLS:
                out += self._close()
                out += self._calls(event.payload)
            elif event.type == DONE:
                out += self._done(event.payload)
            elif event.type == ERROR:
                out += self._failed(event.payload)
        return out

    def _event(self, kind: str, **data: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.seq, **data}
        self.seq += 1
        return event

    @property
    def _open(self) -> Item | None:
        last = self.items[-1] if self.items else None
        return last if last is not None and not last.done else None

    def _add(self, kind: ItemKind) -> Item:
        index = len(self.items)
        item = Item(kind, item_id(kind, self.generation_id, index), index)
        self.items.append(item)
        return item

    def _text(self, kind: ItemKind, text: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        item = self._open
        if item is None or item.kind != kind:
            out += self._close()
            item = self._add(kind)
            out += self._opened(item)
        item.parts.append(text)
        where = {"item_id": item.id, "output_index": item.index}
        if kind == "reasoning":
            out.append(
                self._event(
                    "response.reasoning_summary_text.delta", **where, summary_index=0, delta=text
                )
            )
        else:
            out.append(
                self._event(
                    "response.output_text.delta", **where, content_index=0, delta=text, logprobs=[]
                )
            )
        return out

    def _opened(self, item: Item) -> list[dict[str, Any]]:
        where = {"item_id": item.id, "output_index": item.index}
        out = [
            self._event(
                "response.output_item.added", output_index=item.index, item=item.render(added=True)
            )
        ]
        if item.kind == "reasoning":
            part = {"type": "summary_text", "text": ""}
            out.append(
                self._event(
                    "response.reasoning_summary_part.added", **where, summary_index=0, part=part
                )
            )
        else:
            out.append(
                self._event(
                    "response.content_part.added", **where, content_index=0, part=_text_part("")
                )
            )
        return out

    def _close(self) -> list[dict[str, Any]]:
        """Close the item being streamed, if there is one."""
        item = self._open
        if item is None:
            return []
        item.done = True
        where = {"item_id": item.id, "output_index": item.index}
        text = item.text
        if item.kind == "reasoning":
            out = [
                self._event(
                    "response.reasoning_summary_text.done", **where, summary_index=0, text=text
                ),
                self._event(
                    "response.reasoning_summary_part.done",
                    **where,
                    summary_index=0,
                    part={"type": "summary_text", "text": text},
                ),
            ]
        else:
            out = [
                self._event(
                    "response.output_text.done", **where, content_index=0, text=text, logprobs=[]
                ),
                self._event(
                    "response.content_part.done", **where, content_index=0, part=_text_part(text)
                ),
            ]
        out.append(
            self._event("response.output_item.done", output_index=item.index, item=item.render())
        )
        return out

    def _calls(self, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        first = sum(1 for item in self.items if item.kind == "function_call")
        out: list[dict[str, Any]] = []
        for call in openai_tool_calls(calls, self.generation_id, first):
            item = self._add("function_call")
            item.call = call
            where = {"item_id": item.id, "output_index": item.index}
            arguments = call["function"]["arguments"]
            out.append(
                self._event(
                    "response.output_item.added",
                    output_index=item.index,
                    item=item.render(added=True),
                )
            )
            out.append(
                self._event("response.function_call_arguments.delta", **where, delta=arguments)
            )
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    **where,
                    name=call["function"]["name"],
                    arguments=arguments,
                )
            )
            item.done = True
            out.append(
                self._event(
                    "response.output_item.done", output_index=item.index, item=item.render()
                )
            )
        return out

    def _done(self, stats: dict[str, Any]) -> list[dict[str, Any]]:
        out = self._close()
        if self.content and not any(i.kind in ("message", "function_call") for i in self.items):
            # An answer without text still has its (empty) message, as OpenAI's does.
            item = self._add("message")
            out += self._opened(item)
            out += self._close()
        self.usage = usage(stats)
        if stats.get("done_reason") == "length":
            self.status, self.incomplete = "incomplete", {"reason": "max_output_tokens"}
            out.append(self._event("response.incomplete", response=self.snapshot()))
        else:
            self.status = "completed"
            out.append(self._event("response.completed", response=self.snapshot()))
        return out

    def _failed(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        cancelled = error.get("type") == Cancelled.type
        self.status = "cancelled" if cancelled else "failed"
        self.error = {
            "code": str(error.get("type") or "server_error"),
            "message": str(error.get("message") or "the generation failed"),
        }
        return [self._event("response.failed", response=self.snapshot())]
