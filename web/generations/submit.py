"""Submit a generation: check it, listen for it, record it, queue it; the client hears about it
only then.

0. The request as Ollama will get it is checked (text every part of the path can hold, within
   MAX_PROMPT_CHARS) and stripped of what this key may not ask of Ollama (options.py).
1. Send SUBSCRIBE for the generation's channel (on the process's shared connection).
2. Insert the record. It comes first, so that a client told 503 (PostgreSQL away) never has its
   generation run anyway; a refusal in step 3 deletes it again.
3. One atomic Redis script admits the job (or refuses: limits, queue full; nothing queued),
   queues it for arq, wakes the workers, and tells whether the subscription was already active.
   It nearly always is: a worker needs several round trips before it can publish anything; if
   not, the relay reads the replay log once after the confirmation, so nothing is missed.

`answer` is what every generating route calls: the dialect's request in, its Reply out. It
also finds the end user the request is for, and, with an Idempotency-Key, answers a retry with
the generation the first attempt made (idempotency.py).
"""

import calendar
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shared import logs
from shared.config import Settings
from shared.db import transaction
from shared.errors import (
    AppError,
    BodyTooLarge,
    BudgetExceeded,
    InvalidRequest,
    QueueFull,
    RateLimited,
)
from shared.jobs import GenerationJob, Limits, Submitted, owner_of
from shared.models import GenerationStatus
from shared.records import GenerationRow
from shared.services import generations
from shared.text import request_problem, text_problem
from web.auth import Principal
from web.body_limit import BODY_BYTES
from web.dialects import GenerationRequest, OllamaCall
from web.generations import idempotency, options
from web.state import AppState
from web.streaming.relay import Relay

log = logging.getLogger(__name__)

# Retry-After for a full queue. A guess until the queue reports its own throughput: long enough
# not to hammer a saturated server, short enough for an interactive client.
FULL_QUEUE_RETRY_AFTER_SECONDS = 5


async def answer(
    state: AppState, request: Request, principal: Principal, body: GenerationRequest
) -> Response:
    """Run one generation for a dialect's request and answer it in that dialect."""
    started = await start(state, request, principal, body)
    reply = body.reply(started.relay.generation_id)
    response = await state.responder.respond(started.relay, request, reply, stream=body.stream)
    return started.annotate(response)


@dataclass(slots=True)
class Started:
    """A generation submitted (or, for an idempotent retry, found again), its relay open."""

    relay: Relay
    # What was dropped from the request (options.py).
    ignored: list[str]
    # When it was queued (epoch seconds, as recorded); None for a generation found again.
    queued_at: float | None = None

    def annotate(self, response: Response) -> Response:
        if self.ignored:
            response.headers[options.HEADER] = ", ".join(self.ignored)
        return response


async def start(
    state: AppState,
    request: Request,
    principal: Principal,
    body: GenerationRequest,
    *,
    store_content: bool = True,
) -> Started:
    """Check, record and queue a dialect's request, or attach to the generation an earlier
    attempt with its Idempotency-Key made. `store_content` False: the record keeps no content
    (as STORE_CONTENT=false does for every generation)."""
    call = body.to_ollama(state.settings)
    ignored = options.restrict(call.request, principal, state.settings)
    check(call, state.settings, body_bytes=request.scope.get("state", {}).get(BODY_BYTES, 0))
    end_user = end_user_of(request, body, state.settings)
    generation_id = str(uuid.uuid4())
    promise = await idempotency.reserve(state, request, principal, body, generation_id)
    queued_at = None
    if promise.existing is not None:  # a retry: the first attempt's generation, once more
        relay = await idempotency.attach(state, promise.existing)
    else:
        queued_at = time.time()
        try:
            relay = await submit_generation(
                state,
                principal,
                call=call,
                stream=body.stream,
                end_user=end_user,
                generation_id=generation_id,
                store_content=store_content,
                queued_at=queued_at,
            )
        except BaseException:
            await promise.release()  # nothing ran: a retry may try again
            raise
    return Started(relay, ignored, queued_at)


def end_user_of(request: Request, body: GenerationRequest, settings: Settings) -> str | None:
    """Who behind the key asked: the END_USER_HEADER the operator trusts, else OpenAI's
    `user`. Checked like any text (it becomes a name in Redis and a column)."""
    named = request.headers.get(settings.END_USER_HEADER) or getattr(body, "user", None)
    if not named:
        return None
    named = str(named)
    problem = text_problem(named)
    if problem is not None or len(named) > MAX_END_USER_CHARS:
        raise InvalidRequest(f"user: {problem or f'longer than {MAX_END_USER_CHARS} characters'}")
    return named


MAX_END_USER_CHARS = 200
# Checked and carried, but not text the model reads as its prompt.
NOT_PROMPT = frozenset({"model", "images"})


def image_bytes(request: dict[str, Any]) -> int:
    """The images' size, base64 as sent: the request's own and its messages'."""
    holders = [request, *(m for m in request.get("messages") or [] if isinstance(m, dict))]
    return sum(
        len(image) if isinstance(image, str) else 0
        for holder in holders
        for image in holder.get("images") or []
    )


def check(call: OllamaCall, settings: Settings, *, body_bytes: int = 0) -> None:
    """Refuse, before anything is queued, what cannot travel or is longer than allowed.
    `body_bytes`: the size of a body that may carry images (web/body_limit.py lets it be
    MAX_BODY_BYTES + MAX_IMAGE_BYTES); all but its images must fit MAX_BODY_BYTES."""
    inputs = call.request.get("input")
    if (
        call.kind == "embed"
        and isinstance(inputs, list)
        and len(inputs) > settings.MAX_EMBED_INPUTS
    ):
        raise InvalidRequest(
            f"input: {len(inputs)} texts, more than MAX_EMBED_INPUTS ({settings.MAX_EMBED_INPUTS})",
            details=[{"loc": ["input"]}],
        )
    images = image_bytes(call.request)
    if images > settings.MAX_IMAGE_BYTES:
        raise BodyTooLarge(
            f"images: {images} bytes of base64, more than MAX_IMAGE_BYTES "
            f"({settings.MAX_IMAGE_BYTES})"
        )
    if body_bytes - images > settings.MAX_BODY_BYTES:
        raise BodyTooLarge(
            f"the request body without its images is larger than {settings.MAX_BODY_BYTES} "
            "bytes (MAX_BODY_BYTES)"
        )
    found = request_problem(call.request, skip=NOT_PROMPT)
    if found.problem is not None:
        where, why = found.problem
        raise InvalidRequest(f"{where}: {why}", details=[{"loc": where.split(".")}])
    if found.chars > settings.MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"prompt: the text the model reads is {found.chars} characters, longer than "
            f"MAX_PROMPT_CHARS ({settings.MAX_PROMPT_CHARS})"
        )


async def submit_generation(
    state: AppState,
    principal: Principal,
    *,
    call: OllamaCall,
    stream: bool,
    end_user: str | None = None,
    generation_id: str | None = None,
    store_content: bool = True,
    queued_at: float | None = None,
) -> Relay:
    """Start a generation for `principal` and return its relay, open and listening."""
    settings = state.settings
    generation_id = generation_id or str(uuid.uuid4())
    logs.generation_id.set(generation_id)
    job = GenerationJob(
        generation_id=generation_id,
        kind=call.kind,
        request=call.request,
        stream=stream,
        queued_at=queued_at or datetime.now(UTC).timestamp(),
        api_key_id=str(principal.key_id) if principal.key_id else None,
        key_name=principal.name,
        end_user=end_user,
        store_content=settings.STORE_CONTENT and store_content,
        request_id=logs.request_id.get(),
    )
    limits = limits_of(principal, end_user)
    relay = Relay(
        state.hub,
        state.redis,
        state.keys,
        generation_id,
        bounds=state.wait_bounds,
        keepalive=settings.STREAM_KEEPALIVE_SECONDS,
        first_tick=min(1.0, settings.STREAM_KEEPALIVE_SECONDS),
    )
    await relay.open(wait=False)
    try:
        await state.records.insert(GenerationRow.of(job, GenerationStatus.QUEUED))
        submitted = await _submit(state, job, limits)
        if not submitted.listening:
            await relay.confirmed(replay=True)
    except BaseException:
        relay.close()
        raise
    return relay


async def _submit(state: AppState, job: GenerationJob, limits: Limits) -> Submitted:
    """Queue the recorded job; if it is refused, or Redis fails, its record goes again."""
    settings = state.settings
    try:
        submitted = await state.submitter.submit(
            job,
            max_depth=settings.MAX_QUEUE_DEPTH,
            expires_s=settings.QUEUE_TIMEOUT_SECONDS,
            clients_ttl_s=state.presence.clients_ttl,
            limits=limits,
            longest_s=settings.QUEUE_TIMEOUT_SECONDS + settings.GENERATION_TIMEOUT_SECONDS,
        )
    except BaseException:
        await _forget(state, job.generation_id)
        raise
    if not submitted.queued:
        await _forget(state, job.generation_id)
        raise _refusal(submitted, limits)
    return submitted


async def _forget(state: AppState, generation_id: str) -> None:
    """Delete the record of a generation that was never queued (best effort: the sweep closes
    whatever is left)."""
    try:
        async with transaction(state.sessions) as session:
            await generations.delete_generation(session, generation_id=uuid.UUID(generation_id))
    except Exception as e:
        log.warning("generation %s: its record stays for the sweep: %r", generation_id, e)


def limits_of(principal: Principal, end_user: str | None) -> Limits:
    return Limits(
        owner=owner_of(str(principal.key_id) if principal.key_id else None),
        rate_limit_rpm=principal.rate_limit_rpm,
        concurrency_limit=principal.concurrency_limit,
        end_user=end_user or "",
        end_user_rate_limit_rpm=principal.end_user_rate_limit_rpm,
        end_user_concurrency_limit=principal.end_user_concurrency_limit,
        tokens_per_day=principal.tokens_per_day,
        tokens_per_month=principal.tokens_per_month,
        priority=principal.priority,
        weight=principal.weight,
    )


def _refusal(submitted: Submitted, limits: Limits) -> AppError:
    if submitted.rate_limited == "key":
        return RateLimited(
            f"this key may start {limits.rate_limit_rpm} generations per minute",
            retry_after=max(1, submitted.depth),
        )
    if submitted.rate_limited == "end user":
        return RateLimited(
            f"each end user of this key may start {limits.end_user_rate_limit_rpm} "
            "generations per minute",
            retry_after=max(1, submitted.depth),
        )
    if submitted.busy == "key":
        return RateLimited(
            f"this key may run {limits.concurrency_limit} generations at once",
            retry_after=1,
        )
    if submitted.busy == "end user":
        return RateLimited(
            f"each end user of this key may run {limits.end_user_concurrency_limit} "
            "generations at once",
            retry_after=1,
        )
    if submitted.budget is not None:
        budget = limits.tokens_per_day if submitted.budget == "day" else limits.tokens_per_month
        return BudgetExceeded(
            f"this key's token budget of {budget} tokens a {submitted.budget} (UTC) is spent",
            retry_after=seconds_to_next(submitted.budget, time.time()),
        )
    if submitted.full:
        return QueueFull(
            f"the queue is full ({submitted.depth} generations waiting); try again later",
            retry_after=FULL_QUEUE_RETRY_AFTER_SECONDS,
        )
    return AppError("a generation with this id exists already")


def seconds_to_next(period: str, now: float) -> float:
    """Seconds from `now` to the start of the next UTC day or month."""
    t = time.gmtime(now)
    if period == "day":
        start = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0))
        return start + 86_400 - now
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0)) - now
