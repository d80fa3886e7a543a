"""How a worker is run: `python -m worker` (GatewayWorker), its health check, and the plain-arq
fallback `arq worker.main.WorkerSettings` running the same settings and tasks."""

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import (
    OpenStream,
    directive,
    final_record,
    unique,
)
from tests.processes import ROOT

pytestmark = pytest.mark.e2e


async def test_plain_arq_runs_the_same_generations(lab, sessions):
    # Jobs start on arq's own poll here (WORKER_POLL_SECONDS=0.1 on the lab stack).
    lab.start_worker(plain_arq=True)
    prompt = directive(tokens=["plain ", "arq"]) + unique()
    r = await lab.http.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 200 and r.json()["response"] == "plain arq"
    row = await final_record(sessions, r.json()["id"])
    assert row.status == "succeeded" and row.response == "plain arq"


def _check(env: dict[str, str]) -> int:
    return subprocess.run(
        [sys.executable, "-m", "worker", "--check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    ).returncode


async def test_the_health_check_sees_this_hosts_worker(lab, lab_stack):
    env = {**os.environ, **lab_stack.env}
    other = {**env, "REDIS_NAMESPACE": env["REDIS_NAMESPACE"] + "-none"}
    assert await asyncio.to_thread(_check, other) == 1, "no worker in that namespace"
    lab.start_worker()
    assert await asyncio.to_thread(_check, env) == 0


async def test_sigterm_lets_the_running_generation_finish_and_takes_no_new_one(lab, sim, sessions):
    worker = lab.start_worker(WORKER_CONCURRENCY=2)
    prompt = directive(n=30, rate=15) + unique()  # 2 s
    async with OpenStream(
        lab.http, "POST", "/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as s:
        await s.events(2)
        worker.signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        late = asyncio.create_task(
            lab.http.post("/api/v1/generate", json={"prompt": unique("late")})
        )
        rest = await s.rest()
    assert rest.events[-1].json() == {}, "the running generation finished"
    assert (await final_record(sessions, s.generation_id)).status == "succeeded"
    await asyncio.wait_for(asyncio.to_thread(worker.proc.wait), 10)
    assert not late.done(), "the stopping worker took no new job"
    lab.start_worker()
    assert (await late).status_code == 200
