"""The wake-up listener: a worker hears `job` and `abort` notices at once, instead of at its poll.

The web process publishes `job <id>` after each enqueue and `abort <id>` after each cancel on
the wake-up channel (shared/keys.py, shared/notices.py). This hands each to the worker
(GatewayWorker.job_waiting / abort, worker/arq_worker.py), and reconnects when Redis goes away
(the poll covers the gap). It listens on a client without a read timeout
(shared/redis.subscriber): it waits for notices as long as there are none.
"""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.keys import Keys
from shared.notices import ABORT, JOB, Notice

log = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


class WakeUps:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        on_job: Callable[[], None],
        on_abort: Callable[[str], Awaitable[None]],
    ) -> None:
        self._pubsub = redis.pubsub()
        self._channel = keys.wake_channel
        self._on_job = on_job
        self._on_abort = on_abort
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._pubsub.subscribe(self._channel)
        self._task = asyncio.create_task(self._listen(), name="wake-ups")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()

    async def _listen(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=None
                )
            except (RedisError, OSError) as e:
                log.warning("wake-up listener lost Redis (%r); polling until it is back", e)
                await asyncio.sleep(RECONNECT_SECONDS)
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.connect()  # resubscribes
                continue
            if message is not None:
                await self._handle(Notice.decode(message["data"]))

    async def _handle(self, notice: Notice) -> None:
        if notice.kind == JOB:
            self._on_job()
        elif notice.kind == ABORT:
            try:
                await self._on_abort(notice.argument)
            except (RedisError, OSError) as e:
                log.warning("abort of %s failed (%r); the poll will retry it", notice.argument, e)
