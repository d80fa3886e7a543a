"""Idempotent submits: a retry with the same `Idempotency-Key` (from the same key, for the same
request) gets the same generation: the same id, the whole answer, or its stream from the start
and then live, with no second run on Ollama, for as long as the replay log is kept. The same
Idempotency-Key with a different request is 409.

The first attempt claims the key in Redis (SET NX, one round trip) before anything is recorded
or queued; if it is refused (a limit, a full queue) or fails, it lets the key go again, so a
retry can run.
"""

import hashlib
from dataclasses import dataclass

import orjson
from starlette.requests import Request

from shared.errors import Conflict, InvalidRequest
from shared.jobs import owner_of
from shared.text import text_problem
from web.auth import Principal
from web.dialects import GenerationRequest
from web.generations.follow import replaying
from web.state import AppState
from web.streaming.relay import Relay

HEADER = "idempotency-key"
MAX_KEY_CHARS = 200


@dataclass
class Promise:
    """What the first attempt claimed (release it if nothing ran), or the generation a retry
    must answer with."""

    state: AppState
    name: str | None = None
    existing: str | None = None

    async def release(self) -> None:
        if self.name is not None:
            await self.state.redis.delete(self.name)


def _fingerprint(request: Request, body: GenerationRequest) -> str:
    dumped = body.model_dump(mode="json") if hasattr(body, "model_dump") else repr(body)
    data = orjson.dumps([request.url.path, dumped], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


async def reserve(
    state: AppState,
    request: Request,
    principal: Principal,
    body: GenerationRequest,
    generation_id: str,
) -> Promise:
    """Claim the request's Idempotency-Key for `generation_id`, or find the generation an
    earlier attempt made with it."""
    key = request.headers.get(HEADER)
    if not key:
        return Promise(state)
    if len(key) > MAX_KEY_CHARS or text_problem(key) is not None:
        raise InvalidRequest(f"Idempotency-Key: at most {MAX_KEY_CHARS} plain characters")
    owner = owner_of(str(principal.key_id) if principal.key_id else None)
    name = state.keys.idempotency(owner, key)
    fingerprint = _fingerprint(request, body)
    earlier = await state.redis.set(
        name, f"{generation_id} {fingerprint}", nx=True, get=True, ex=state.presence.clients_ttl
    )
    if earlier is None:
        return Promise(state, name=name)
    existing, _, their_fingerprint = earlier.decode().partition(" ")
    if their_fingerprint != fingerprint:
        raise Conflict(
            "this Idempotency-Key was used for a different request; use a new key for it"
        )
    return Promise(state, existing=existing)


async def attach(state: AppState, generation_id: str) -> Relay:
    """A relay of an existing generation from its first event (then live), as a new client."""
    relay = replaying(state, generation_id)
    await relay.open()
    try:
        await state.presence.attach(generation_id)
    except BaseException:
        relay.close()
        raise
    return relay
