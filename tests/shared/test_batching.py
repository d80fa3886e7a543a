"""GroupCommit: one flush for what arrives while the previous one runs; results and failures go
to their own items."""

import asyncio

import pytest

from shared.batching import GroupCommit


async def test_items_that_arrive_together_share_one_flush():
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    commit = GroupCommit(flush, name="t")
    commit.start()
    results = await asyncio.gather(*(commit.commit(i) for i in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert batches == [[0, 1, 2, 3, 4]]
    await commit.aclose()


async def test_a_failed_item_fails_alone_and_a_failed_flush_fails_all():
    async def flush(items: list[int]) -> list[object]:
        if 99 in items:
            raise RuntimeError("the whole batch")
        return [ValueError("bad") if i == 2 else i for i in items]

    commit = GroupCommit(flush, name="t")
    commit.start()
    ok, bad = await asyncio.gather(commit.commit(1), commit.commit(2), return_exceptions=True)
    assert ok == 1 and isinstance(bad, ValueError)
    with pytest.raises(RuntimeError):
        await commit.commit(99)
    assert await commit.commit(3) == 3, "it keeps serving after a failed flush"
    await commit.aclose()


async def test_the_interval_holds_later_flushes_but_not_an_urgent_item():
    flushed: list[tuple[float, list[str]]] = []
    loop = asyncio.get_running_loop()

    async def flush(items: list[str]) -> None:
        flushed.append((loop.time(), items))

    commit = GroupCommit(flush, name="t", min_interval=0.5)
    commit.start()
    t0 = loop.time()
    await commit.commit("first")
    commit.add("urgent", urgent=True)
    await asyncio.sleep(0.05)
    assert [items for _, items in flushed] == [["first"], ["urgent"]]
    await commit.commit("held")
    assert flushed[-1][0] - t0 >= 0.45, "held for the interval after the last flush"
    await commit.aclose()


async def test_closing_flushes_what_is_pending():
    seen: list[str] = []

    async def flush(items: list[str]) -> None:
        seen.extend(items)

    commit = GroupCommit(flush, name="t")
    commit.start()
    commit.add("a")
    commit.add("b")
    await commit.aclose()
    assert seen == ["a", "b"]
