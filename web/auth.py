"""Who is asking: the API key of a request, checked against the keyed hashes in PostgreSQL.

Clients send `Authorization: Bearer <key>` (OpenAI's convention) or `X-API-Key: <key>`. The
master key (MASTER_API_KEY) manages keys and is accepted as a key without limits. Lookups are
cached for a short while, so that a request costs no database round trip; a revocation reaches
every web process at once through the stream hub's control channel (and the cache's expiry
bounds a missed notice). When a key was last used is written at its first use, then at most
once a minute.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import security
from shared.config import Settings
from shared.db import transaction
from shared.errors import AppError, RateLimited, Unauthorized
from shared.keys import Keys
from shared.models import ApiKey
from shared.notices import KEY_CHANGED, Notice
from shared.services import api_keys
from web.errors import error_response
from web.routes import route_for

log = logging.getLogger(__name__)

CACHE_SECONDS = 30.0
UNKNOWN_CACHE_SECONDS = 2.0
TOUCH_EVERY_SECONDS = 60.0
# Lookups kept (known and unknown keys alike); beyond it the least recently used go, so a flood
# of made-up keys costs bounded memory.
CACHE_ENTRIES = 10_000
# Client addresses whose failed authentications are counted (least recently seen go first).
FAILURE_ADDRESSES = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: uuid.UUID | None  # None: the master key
    name: str
    rate_limit_rpm: int  # 0: unlimited
    concurrency_limit: int  # 0: unlimited
    # May set what changes Ollama for everyone (keep_alive, num_ctx, num_gpu, ...).
    is_admin: bool = False
    # How it is scheduled (shared/fair_queue.py) and what its budgets and end users may use.
    priority: str = "standard"
    weight: int = 1
    tokens_per_day: int = 0
    tokens_per_month: int = 0
    end_user_rate_limit_rpm: int = 0
    end_user_concurrency_limit: int = 0

    @property
    def is_master(self) -> bool:
        return self.key_id is None

    @property
    def may_configure_ollama(self) -> bool:
        return self.is_master or self.is_admin


MASTER = Principal(None, "master", 0, 0, is_admin=True)


class Authenticator:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        cache_entries: int = CACHE_ENTRIES,
    ) -> None:
        self._cache_entries = cache_entries
        self._sessions = sessions
        self._settings = settings
        self._secret = settings.API_KEY_HASH_SECRET.get_secret_value()
        master = settings.MASTER_API_KEY
        self._master = master.get_secret_value() if master else None
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._used: dict[uuid.UUID, datetime] = {}
        self._touched: dict[uuid.UUID, float] = {}
        self._touch_wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._touch_loop(), name="api-keys.touch")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._touch()

    async def authenticate(self, key: str | None) -> Principal:
        if not key:
            raise Unauthorized("an API key is required: send Authorization: Bearer <key>")
        if self._master is not None and security.same(key, self._master):
            return MASTER
        if not security.looks_like_key(key):
            raise Unauthorized("invalid API key")
        key_hash = security.hash_key(self._secret, key)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            principal = cached[1]
            self._cache.move_to_end(key_hash)
        else:
            async with self._sessions() as session:
                row = await api_keys.find_by_hash(session, key_hash=key_hash)
            principal = (
                self._principal(row) if row and security.same(row.key_hash, key_hash) else None
            )
            ttl = CACHE_SECONDS if principal is not None else UNKNOWN_CACHE_SECONDS
            self._cache[key_hash] = (now + ttl, principal)
            self._cache.move_to_end(key_hash)
            while len(self._cache) > self._cache_entries:
                self._cache.popitem(last=False)
        if principal is None:
            raise Unauthorized("invalid or revoked API key")
        assert principal.key_id is not None
        if now - self._touched.get(principal.key_id, -TOUCH_EVERY_SECONDS) >= TOUCH_EVERY_SECONDS:
            self._touched[principal.key_id] = now
            self._used[principal.key_id] = datetime.now(UTC)
            self._touch_wake.set()
        return principal

    @property
    def cached(self) -> int:
        """How many lookups are cached."""
        return len(self._cache)

    def _principal(self, row: ApiKey) -> Principal | None:
        if row.revoked_at is not None:
            return None
        s = self._settings
        rpm = row.rate_limit_rpm if row.rate_limit_rpm is not None else s.DEFAULT_RATE_LIMIT_RPM
        concurrency = (
            row.concurrency_limit
            if row.concurrency_limit is not None
            else s.DEFAULT_CONCURRENCY_LIMIT
        )
        return Principal(
            row.id,
            row.name,
            rpm,
            concurrency,
            is_admin=row.is_admin,
            priority=row.priority,
            weight=row.weight,
            tokens_per_day=row.tokens_per_day or 0,
            tokens_per_month=row.tokens_per_month or 0,
            end_user_rate_limit_rpm=row.end_user_rate_limit_rpm or 0,
            end_user_concurrency_limit=row.end_user_concurrency_limit or 0,
        )

    def forget(self, key_id: str) -> None:
        """A key was revoked (or changed): drop what is cached of it."""
        self._cache = OrderedDict(
            (h, entry)
            for h, entry in self._cache.items()
            if entry[1] is None or str(entry[1].key_id) != key_id
        )

    async def _touch_loop(self) -> None:
        while True:
            await self._touch_wake.wait()
            self._touch_wake.clear()
            await self._touch()

    async def _touch(self) -> None:
        used, self._used = self._used, {}
        if not used:
            return
        try:
            async with transaction(self._sessions) as session:
                await api_keys.touch_keys(session, used=used)
        except Exception as e:  # when a key was used is worth a retry, not a failed request
            log.warning("could not record key use: %r", e)
            for key_id, when in used.items():
                self._used.setdefault(key_id, when)


async def announce_key_change(redis: Redis, keys: Keys, key_id: uuid.UUID) -> None:
    """Tell every web process to forget what it cached of the key (the stream hub hears the
    control channel and calls Authenticator.forget)."""
    await redis.publish(keys.control_channel, Notice(KEY_CHANGED, str(key_id)).encode())


class FailedAuthentications:
    """Failed authentications per client address over the last minute, for a bounded number of
    addresses (the least recently seen are forgotten first)."""

    def __init__(self, per_minute: int, *, addresses: int = FAILURE_ADDRESSES) -> None:
        self._per_minute = per_minute
        self._addresses = addresses
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._seen.get(address)
        if times is None:
            times = self._seen[address] = deque()
        self._seen.move_to_end(address)
        while times and times[0] <= now - 60:
            times.popleft()
        return times

    def refused(self, address: str) -> float | None:
        """Seconds until this address may try again, or None if it may now."""
        now = time.monotonic()
        times = self._recent(address, now)
        return times[0] + 60 - now if len(times) >= self._per_minute else None

    def failed(self, address: str) -> None:
        self._recent(address, time.monotonic()).append(time.monotonic())
        while len(self._seen) > self._addresses:
            self._seen.popitem(last=False)


def key_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The API key a request sends: `Authorization: Bearer <key>`, or `X-API-Key: <key>`."""
    bearer = api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                bearer = credentials.strip()
        elif name == b"x-api-key":
            api_key = value.decode("latin-1").strip() or None
    return bearer or api_key


class AuthGate:
    """Checks the API key from the headers before anything reads the body (pure ASGI).

    A request for a route that needs a key (`app.state.keyed_routes`, web/main.py) with no
    valid key is answered 401 at once, in the route's dialect, whatever body it announces; an
    address with AUTH_FAILURES_PER_MINUTE failures in the last minute is answered 429 without a
    check. The principal found is handed to the route's dependency (web/deps.py) through the
    request's state, so a request is authenticated once.
    """

    def __init__(self, app: ASGIApp, *, failures_per_minute: int) -> None:
        self.app = app
        self.failures = FailedAuthentications(failures_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"  # a CORS preflight never carries a key
            or id(route_for(scope)) not in scope["app"].state.keyed_routes
        ):
            await self.app(scope, receive, send)
            return
        address = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.failures.refused(address)
        if wait is not None:
            error: AppError = RateLimited(
                "too many failed authentications from this address", retry_after=wait
            )
            await error_response(error, scope)(scope, receive, send)
            return
        auth: Authenticator = scope["app"].state.app.auth
        try:
            principal = await auth.authenticate(key_of(scope["headers"]))
        except Unauthorized as e:
            self.failures.failed(address)
            await error_response(e, scope)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
