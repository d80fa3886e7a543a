"""Redis connections: arq's pool for the queue and everything occasional, and a direct link per
hot path (publishing stream events, submitting jobs, claiming them).

Measured here (uvloop, redis-py 5.3 + hiredis), CPU per call: a GET through redis-py's pool
140 us, through the same pool without its pre-use probe 78 us, on a held connection 31 us; a
pipeline of three commands 249 / 143 / 70 us. The probe (`can_read_destructive`, a zero-timeout
read before every use) guards against a connection given back with an unread reply; redis-py
already disconnects a connection whose read was interrupted (also by cancellation), so the lean
pool keeps only the connect. The hot paths batch their commands (group commit) and send each
batch down one connection they hold.

Every call has a bound: a reply within REDIS_TIMEOUT_SECONDS, a connection within
REDIS_CONNECT_TIMEOUT_SECONDS. A connection idle for HEALTH_CHECK_SECONDS is pinged before its
next use (free under load), and one found dead (Redis restarted) is replaced once at once, so
the first requests after Redis comes back succeed. Pub/sub readers wait for messages without a
read timeout: they have their own liveness checks (web/streaming/hub.py, worker/pickup.py).
"""

import asyncio
from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from shared.arq_layout import deserialize_job, serialize_job
from shared.config import Settings

HEALTH_CHECK_SECONDS = 5


def redis_settings(settings: Settings) -> RedisSettings:
    return RedisSettings.from_dsn(settings.redis_url)


def bounded(settings: Settings) -> dict[str, Any]:
    """The connection options of every client that sends commands."""
    return {
        "socket_timeout": settings.REDIS_TIMEOUT_SECONDS,
        "socket_connect_timeout": settings.REDIS_CONNECT_TIMEOUT_SECONDS,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        # A connection found dead is replaced and the command sent again, once. Only on a
        # connection error: a command that timed out may have run.
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [RedisConnectionError],
    }


def closed_underneath(connection: AbstractConnection) -> bool:
    """Whether the peer closed this connection while it sat idle (Redis restarted, a proxy let
    it go): a look at the transport, no system call. Writing to it would fail (with uvloop, as
    a RuntimeError that redis-py does not retry)."""
    writer = getattr(connection, "_writer", None)
    return writer is not None and writer.transport.is_closing()


class LeanConnectionPool(ConnectionPool):
    async def ensure_connection(self, connection: AbstractConnection) -> None:
        if closed_underneath(connection):
            await connection.disconnect()
        await connection.connect()


def arq_redis(settings: Settings) -> ArqRedis:
    """arq's client (queue, abort, health) on the lean pool, with JSON job payloads.

    Makes no connection until first used: a process starts while Redis is away, and a worker's
    settings can hold one.
    """
    return ArqRedis(
        connection_pool=LeanConnectionPool.from_url(settings.redis_url, **bounded(settings)),
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
    )


def subscriber(settings: Settings) -> Redis:
    """A client for pub/sub readers: bounded connects, no read timeout (they wait for messages
    as long as there are none), TCP keep-alive."""
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.REDIS_CONNECT_TIMEOUT_SECONDS,
        socket_keepalive=True,
    )


def pack(commands: Sequence[Sequence[Any]]) -> bytes:
    """Commands in Redis's wire format (RESP). A third of the CPU of redis-py's packer, which
    this path would otherwise spend per flush; arguments are bytes, str, int or float."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            data = (
                arg
                if isinstance(arg, bytes)
                else (arg if isinstance(arg, str) else repr(arg)).encode()
            )
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RedisLink:
    """One connection held for one hot path; `execute` sends a batch of commands in one write.

    Replies are Redis's raw replies (no per-command parsing); a command's error is returned in
    its place, not raised. Batches from concurrent callers go one after the other.
    """

    def __init__(self, settings: Settings) -> None:
        pool = ConnectionPool.from_url(settings.redis_url, **bounded(settings))
        self._connection = pool.make_connection()
        self._lock = asyncio.Lock()

    async def execute(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        connection = self._connection
        async with self._lock:
            if closed_underneath(connection):
                await connection.disconnect()
            try:
                await connection.send_packed_command(pack(commands), check_health=True)
                replies: list[Any] = []
                for _ in commands:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as e:
                        replies.append(e)
                return replies
            except BaseException:
                await connection.disconnect(nowait=True)
                raise

    async def aclose(self) -> None:
        await self._connection.disconnect()
