"""Rolling an API replica loses no generation: its streams are cut, and their clients resume on
another replica by generation id and Last-Event-ID."""

import signal

import httpx
import pytest

from tests import processes, sse
from tests.conftest import AUTH
from tests.helpers import OpenStream, directive, final_record, unique

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
