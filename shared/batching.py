"""Group commit: one batch operation for everything submitted while the previous one ran.

At low load a batch holds one item and adds no wait; under load, items that arrive during a
round trip share the next one. The stream publisher, job submission and claims, and the record
writers use it: on this machine each separate write to a socket costs tens of microseconds of
CPU, so one pipeline per flush instead of one awaited command per token or per request is the
difference between the targets and several times them.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)

# What a flush returns: nothing, or one result per item, in order (an exception is that
# item's failure).
Flush = Callable[[list[T]], Awaitable[Sequence[Any] | None]]


class GroupCommit(Generic[T]):
    """`min_interval`: start a flush no sooner than this after the previous one began, so that
    under load each flush carries more (an idle stream still flushes at once). An item added
    with `urgent=True` cuts that wait short: the first text of a stream, whose latency is what
    a user measures, never waits for the interval."""

    def __init__(self, flush: Flush[T], *, name: str, min_interval: float = 0.0) -> None:
        self._flush = flush
        self._name = name
        self._min_interval = min_interval
        self._items: list[T] = []
        self._futures: list[tuple[int, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"group-commit:{self._name}")

    def add(self, item: T, *, urgent: bool = False) -> None:
        """Queue an item without waiting for its flush."""
        self._items.append(item)
        self._wake.set()
        if urgent:
            self._urgent.set()

    def commit(self, item: T, *, urgent: bool = False) -> "asyncio.Future[Any]":
        """Queue an item; the future resolves with its result once its flush has run."""
        future = asyncio.get_running_loop().create_future()
        self._futures.append((len(self._items), future))
        self._items.append(item)
        self._wake.set()
        if urgent:
            self._urgent.set()
        return future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._min_interval and not self._closing:
                wait = last + self._min_interval - loop.time()
                if wait > 0 and not self._urgent.is_set():
                    try:
                        async with asyncio.timeout(wait):
                            await self._urgent.wait()
                    except TimeoutError:
                        pass
            self._urgent.clear()
            last = loop.time()
            await self._flush_pending()
            if self._closing and not self._items:
                return

    async def _flush_pending(self) -> None:
        items, self._items = self._items, []
        futures, self._futures = self._futures, []
        if not items:
            return
        try:
            results = await self._flush(items)
        except Exception as e:
            log.warning("%s: a flush of %d items failed: %r", self._name, len(items), e)
            for _, future in futures:
                if not future.done():
                    future.set_exception(e)
            return
        for index, future in futures:
            if future.done():
                continue
            result = results[index] if results is not None else None
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def aclose(self) -> None:
        """Flush what is pending, then stop."""
        self._closing = True
        self._wake.set()
        self._urgent.set()
        if self._task is not None:
            await self._task
            self._task = None
