"""The API process: a replica stopped in a rolling deploy loses no generation (its clients resume
on another), and a replica whose Redis goes away, hangs or is not there at start keeps its
streams, answers 503 in seconds, and serves again as soon as Redis is back."""

import asyncio
import signal
import time

import httpx
import pytest

from simulator.script import tokens_for
from tests import processes, sse
from tests.conftest import AUTH
from tests.helpers import OpenStream, directive, eventually, final_record, unique

pytestmark = pytest.mark.e2e


async def test_a_stopped_api_replica_loses_no_generation(stack, sessions, log_dir):
    port = processes.free_port()
    replica = processes.api(port, stack.env, log_dir, "--timeout-graceful-shutdown", "1")
    tokens = [f"t{i} " for i in range(60)]
    prompt = directive(tokens=tokens, rate=20) + unique()  # 3 s
    try:
        async with (
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=AUTH, timeout=30
            ) as doomed,
            OpenStream(
                doomed, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
            ) as s,
        ):
            await s.events(5)
            replica.signal(signal.SIGTERM)  # a rollout stops this replica
            with pytest.raises(httpx.HTTPError):
                await s.rest()
            seen = sse.parse(s.raw).events
        async with httpx.AsyncClient(base_url=stack.url, headers=AUTH, timeout=30) as other:
            r = await other.get(
                f"/api/v1/generations/{s.generation_id}/stream",
                headers={"Last-Event-ID": seen[-1].id},
            )
        rest = sse.parse(r.text)
        joined = "".join(e.json()["response"] for e in seen if "response" in e.json()) + rest.text
        assert joined == "".join(tokens)
        assert rest.events[-1].json() == {}
        assert (await final_record(sessions, s.generation_id)).status == "succeeded"
    finally:
        replica.stop()


async def replica_through(proxy, stack, log_dir) -> tuple[processes.Process, str]:
    """An API replica of the main stack whose Redis is behind `proxy` (the worker's is not)."""
    port = processes.free_port()
    env = {**stack.env, "REDIS_URL": proxy.redis_url}
    replica = await asyncio.to_thread(processes.api, port, env, log_dir)
    return replica, f"http://127.0.0.1:{port}"


async def test_open_streams_outlive_a_redis_cut(stack, redis_proxy, log_dir, sessions):
    replica, url = await replica_through(redis_proxy, stack, log_dir)
    texts = [unique() for _ in range(3)]
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
            streams = [
                OpenStream(
                    http,
                    "POST",
                    "/api/v1/generate",
                    json={"prompt": directive(n=30, rate=10) + text, "stream": True},
                )
                for text in texts
            ]
            for s in streams:
                await s.__aenter__()
                await s.events(2)
            redis_proxy.cut()
            await asyncio.sleep(2)
            await redis_proxy.heal()
            rests = [await s.rest() for s in streams]
            for s in streams:
                await s.close()
    finally:
        replica.stop()
    for text, rest in zip(texts, rests, strict=True):
        assert rest.events[-1].json() == {}, rest.raw[-300:]
        assert rest.text == "".join(tokens_for(text, 30)), "nothing lost, nothing twice"


async def test_a_hung_redis_is_a_503_in_seconds_and_the_next_request_after_works(
    stack, redis_proxy, log_dir
):
    replica, url = await replica_through(redis_proxy, stack, log_dir)
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
            assert (await http.post("/api/v1/generate", json={"prompt": unique()})).is_success
            redis_proxy.hang()  # connections open, nothing answers
            asked = time.monotonic()
            r = await http.post("/api/v1/generate", json={"prompt": unique()})
            took = time.monotonic() - asked
            assert r.status_code == 503 and int(r.headers["Retry-After"]) >= 1, r.text
            assert took < 10, "REDIS_TIMEOUT_SECONDS (3 s) bounds it, not the TCP stack"
            await redis_proxy.heal()
            r = await http.post("/api/v1/generate", json={"prompt": unique()})
            assert r.status_code == 200, r.text
    finally:
        replica.stop()


async def test_the_api_starts_without_redis_and_says_so(stack, redis_proxy, log_dir):
    redis_proxy.cut()
    replica, url = await replica_through(redis_proxy, stack, log_dir)
    try:
        async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=30) as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = await http.get("/readyz")
            assert ready.status_code == 503 and "redis" in ready.json()["failing"]
            await redis_proxy.heal()

            async def ready_now() -> bool:
                return (await http.get("/readyz")).status_code == 200

            assert await eventually(ready_now, timeout=10)
            assert (await http.post("/api/v1/generate", json={"prompt": unique()})).is_success
    finally:
        replica.stop()
