"""Submit a generation: listen for it, queue it, record it; the client hears about it only then.

1. Send SUBSCRIBE for the generation's channel (on the process's shared connection).
2. One atomic Redis script admits the job (or refuses: queue full, nothing queued or recorded),
   queues it for arq, wakes the workers, and tells whether the subscription was already active.
   It nearly always is: a worker needs several round trips before it can publish anything; if
   not, the relay reads the replay log once after the confirmation, so nothing is missed.
3. Insert the record. The worker's writes are upserts, so it does not matter which lands first;
   awaiting the insert here means the record exists before the client gets any answer.

`answer` is what every generating route calls: the dialect's request in, its Reply out.
"""

import uuid
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from shared import logs
from shared.errors import AppError, InvalidRequest, QueueFull, RateLimited
from shared.jobs import GenerationJob, Limits, Submitted, owner_of, request_cancel
from shared.models import GenerationStatus
from shared.records import GenerationRow
from web.auth import Principal
from web.dialects import GenerationRequest, OllamaCall
from web.state import AppState
from web.streaming.relay import Relay

# Retry-After for a full queue. A guess until the queue reports its own throughput: long enough
# not to hammer a saturated server, short enough for an interactive client.
FULL_QUEUE_RETRY_AFTER_SECONDS = 5


async def answer(
    state: AppState, request: Request, principal: Principal, body: GenerationRequest
) -> Response:
    """Run one generation for a dialect's request and answer it in that dialect."""
    call = body.to_ollama(state.settings)
    relay = await submit_generation(state, principal, call=call, stream=body.stream)
    reply = body.reply(relay.generation_id)
    return await state.responder.respond(relay, request, reply, stream=body.stream)


async def submit_generation(
    state: AppState, principal: Principal, *, call: OllamaCall, stream: bool
) -> Relay:
    """Start a generation for `principal` and return its relay, open and listening."""
    settings = state.settings
    generation_id = str(uuid.uuid4())
    logs.generation_id.set(generation_id)
    job = GenerationJob(
        generation_id=generation_id,
        kind=call.kind,
        request=call.request,
        stream=stream,
        queued_at=datetime.now(UTC).timestamp(),
        api_key_id=str(principal.key_id) if principal.key_id else None,
        store_content=settings.STORE_CONTENT,
        request_id=logs.request_id.get(),
    )
    if len(job.prompt) > settings.MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt: longer than MAX_PROMPT_CHARS ({settings.MAX_PROMPT_CHARS})")
    limits = Limits(
        owner=owner_of(job.api_key_id),
        rate_limit_rpm=principal.rate_limit_rpm,
        concurrency_limit=principal.concurrency_limit,
    )
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
        submitted = await state.submitter.submit(
            job,
            max_depth=settings.MAX_QUEUE_DEPTH,
            expires_s=settings.QUEUE_TIMEOUT_SECONDS,
            clients_ttl_s=state.presence.clients_ttl,
            limits=limits,
            longest_s=settings.QUEUE_TIMEOUT_SECONDS + settings.GENERATION_TIMEOUT_SECONDS,
        )
    except BaseException:
        relay.close()
        raise
    if not submitted.queued:
        relay.close()
        raise _refusal(submitted, principal)
    try:
        await state.records.insert(GenerationRow.of(job, GenerationStatus.QUEUED))
        if not submitted.listening:
            await relay.confirmed(replay=True)
    except BaseException:
        relay.close()
        ttl = state.presence.clients_ttl
        await request_cancel(state.redis, state.keys, generation_id, ttl_s=ttl)
        raise
    return relay


def _refusal(submitted: Submitted, principal: Principal) -> AppError:
    if submitted.rate_limited:
        return RateLimited(
            f"this key may start {principal.rate_limit_rpm} generations per minute",
            retry_after=max(1, submitted.depth),
        )
    if submitted.busy:
        return RateLimited(
            f"this key may run {principal.concurrency_limit} generations at once",
            retry_after=1,
        )
    if submitted.full:
        return QueueFull(
            f"the queue is full ({submitted.depth} generations waiting); try again later",
            retry_after=FULL_QUEUE_RETRY_AFTER_SECONDS,
        )
    return AppError("a generation with this id exists already")
