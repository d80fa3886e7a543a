"""Group commit: one batch operation for everything submitted while the previous one ran.

At low load a batch holds one item and adds no wait; under load, items that arrive during a
round trip share the next one. The stream publisher and the database writers use it: one Redis
pipeline per flush instead of one awaited command per token (measured here: ~210 us of CPU per
awaited PUBLISH, 8 us per pipelined one), and one multi-row statement instead of a transaction
per generation.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class GroupCommit(Generic[T]):
    def __init__(self, flush: Callable[[list[T]], Awaitable[None]], *, name: str) -> None:
        self._flush = flush
        self._name = name
        self._items: list[T] = []
        self._futures: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"group-commit:{self._name}")

    def add(self, item: T) -> None:
        """Queue an item without waiting for its flush."""
        self._items.append(item)
        self._wake.set()

    def commit(self, item: T) -> asyncio.Future[None]:
        """Queue an item; the future resolves when the flush that holds it has succeeded."""
        future = asyncio.get_running_loop().create_future()
        self._items.append(item)
        self._futures.append(future)
        self._wake.set()
        return future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_pending()
            if self._closing and not self._items:
                return

    async def _flush_pending(self) -> None:
        items, self._items = self._items, []
        futures, self._futures = self._futures, []
        if not items:
            return
        try:
            await self._flush(items)
        except Exception as e:
            log.warning("%s: a flush of %d items failed: %r", self._name, len(items), e)
            for future in futures:
                if not future.done():
                    future.set_exception(e)
        else:
            for future in futures:
                if not future.done():
                    future.set_result(None)

    async def aclose(self) -> None:
        """Flush what is pending, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
