"""The worker's heartbeat and the pruning of arq's abort set (arq issue #485)."""

import orjson
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms

from shared.jobs import HEARTBEATS_KEY, heartbeat_key
from worker.housekeeping import Housekeeping


def housekeeping(redis, **overrides) -> Housekeeping:
    options = {"interval_s": 1.0, "slots": 4, "running": lambda: 2, "abort_keep_s": 60.0}
    return Housekeeping(redis, "w-test", **{**options, **overrides})


async def test_stale_abort_entries_are_pruned_and_fresh_ones_kept(redis):
    now = timestamp_ms()
    await redis.zadd(
        abort_jobs_ss, {"old": now - 3_600_000, "older": now - 86_400_000, "fresh": now}
    )
    assert await housekeeping(redis).prune_aborts() == 2
    assert await redis.zrange(abort_jobs_ss, 0, -1) == [b"fresh"]


async def test_heartbeat_names_the_worker_and_expires(redis):
    keeper = housekeeping(redis)
    await keeper.beat()
    beat = orjson.loads(await redis.get(heartbeat_key("w-test")))
    assert beat["running"] == 2 and beat["slots"] == 4
    assert 0 < await redis.pttl(heartbeat_key("w-test")) <= 3000
    assert await redis.zscore(HEARTBEATS_KEY, "w-test") is not None
    await keeper.aclose()
    assert not await redis.exists(heartbeat_key("w-test"))
