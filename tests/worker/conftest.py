"""The lab: the lab stack's API with workers each test starts, kills or stops itself."""

import signal
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from redis.asyncio import Redis

from shared.keys import Keys
from tests import processes
from tests.conftest import AUTH


@dataclass
class Lab:
    http: httpx.AsyncClient
    redis: Redis
    redis_url: str
    keys: Keys
    start_worker: Callable[..., processes.Process]


@pytest.fixture
async def lab(lab_stack, redis_of, log_dir):
    """The lab stack's API, its Redis (flushed), and workers that are stopped after the test."""
    redis = await redis_of(lab_stack)
    started: list[processes.Process] = []

    def start_worker(*, plain_arq: bool = False, **env: object) -> processes.Process:
        proc = processes.ready_worker(
            {**lab_stack.env, **{k: str(v) for k, v in env.items()}},
            log_dir,
            f"lab-worker-{uuid.uuid4().hex[:6]}",
            plain_arq=plain_arq,
        )
        started.append(proc)
        return proc

    async with httpx.AsyncClient(base_url=lab_stack.url, headers=AUTH, timeout=30) as http:
        yield Lab(http, redis, lab_stack.redis_url, lab_stack.keys, start_worker)
    for proc in started:
        proc.signal(signal.SIGKILL)
        proc.stop(timeout=5)
