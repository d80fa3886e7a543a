"""The load process: `python -m bench.load '<scenario json>'` prints one JSON result.

aiohttp, not httpx: an httpx client saturates a core before the server does (measured in
../shared/research/performance.md). Every answer is checked against the text the simulator
produces for its prompt (`simulator.script.tokens_for`); a fast wrong answer is a failure.
"""

import asyncio
import itertools
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from simulator.script import tokens_for

MODEL = "qwen3:8b"


@dataclass
class Sample:
    ttft: float | None = None
    total: float = 0.0
    chunks: int = 0
    ok: bool = False
    duplicated: int = 0
    reordered: int = 0
    error: str | None = None


@dataclass
class Scenario:
    target: str  # base URL: the simulator (direct) or the API (gateway)
    mode: str  # "direct" | "gateway"
    stream: bool
    clients: int
    requests: int  # per client, one after the other
    tokens: int
    rate: float
    tag: str = "bench"
    headers: dict[str, str] = field(default_factory=dict)  # the API key, for the gateway


def prompt_for(scenario: Scenario, client: int, n: int) -> tuple[str, str]:
    """The prompt, and the text the simulator answers it with."""
    text = f"{scenario.tag} {os.getpid()} {client} {n}"
    directive = orjson.dumps({"n": scenario.tokens, "rate": scenario.rate}).decode()
    return f"SIM: {directive}\n{text}", "".join(tokens_for(text, scenario.tokens))


async def gateway_stream(
    http: aiohttp.ClientSession, s: Scenario, prompt: str
) -> tuple[Sample, str]:
    sample, parts, last_id, seen = Sample(), [], 0, set()
    t0 = time.perf_counter()
    async with http.post(
        f"{s.target}/api/v1/generate", json={"prompt": prompt, "stream": True}
    ) as r:
        if r.status != 200:
            sample.error = f"status {r.status}"
            return sample, ""
        async for line in r.content:
            if line.startswith(b"id: "):
                event_id = int(line[4:])
                if event_id in seen:
                    sample.duplicated += 1
                elif event_id < last_id:
                    sample.reordered += 1
                seen.add(event_id)
                last_id = max(last_id, event_id)
            elif line.startswith(b"event: error"):
                sample.error = "error event"
            elif line.startswith(b"data: "):
                data = orjson.loads(line[6:])
                if "response" in data:
                    if sample.ttft is None:
                        sample.ttft = time.perf_counter() - t0
                    parts.append(data["response"])
                    sample.chunks += 1
    sample.total = time.perf_counter() - t0
    return sample, "".join(parts)


async def direct_stream(
    http: aiohttp.ClientSession, s: Scenario, prompt: str
) -> tuple[Sample, str]:
    sample, parts = Sample(), []
    t0 = time.perf_counter()
    body = {"model": MODEL, "prompt": prompt, "stream": True}
    async with http.post(f"{s.target}/api/generate", json=body) as r:
        async for line in r.content:
            data = orjson.loads(line)
            if data.get("response"):
                if sample.ttft is None:
                    sample.ttft = time.perf_counter() - t0
                parts.append(data["response"])
                sample.chunks += 1
    sample.total = time.perf_counter() - t0
    return sample, "".join(parts)


async def whole(http: aiohttp.ClientSession, s: Scenario, prompt: str) -> tuple[Sample, str]:
    sample = Sample()
    t0 = time.perf_counter()
    body: dict[str, Any]
    if s.mode == "gateway":
        url, body = f"{s.target}/api/v1/generate", {"prompt": prompt}
    else:
        url, body = f"{s.target}/api/generate", {"model": MODEL, "prompt": prompt, "stream": False}
    async with http.post(url, json=body) as r:
        data = orjson.loads(await r.read())
        if r.status != 200:
            sample.error = f"status {r.status}"
    sample.total = sample.ttft = time.perf_counter() - t0
    return sample, str(data.get("response", ""))


async def client(
    http: aiohttp.ClientSession, s: Scenario, index: int, start: asyncio.Event
) -> list[Sample]:
    await start.wait()
    samples = []
    call = whole if not s.stream else (gateway_stream if s.mode == "gateway" else direct_stream)
    for n in range(s.requests):
        prompt, expected = prompt_for(s, index, n)
        try:
            sample, text = await call(http, s, prompt)
            sample.ok = sample.error is None and text == expected
            if not sample.ok and sample.error is None:
                sample.error = "wrong text"
        except Exception as e:  # a failed request is a result, not a crash of the load process
            sample = Sample(error=f"{type(e).__name__}: {e}")
        samples.append(sample)
    return samples


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(s: Scenario) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600, sock_connect=30)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=s.headers
    ) as http:
        start = asyncio.Event()
        tasks = [asyncio.create_task(client(http, s, i, start)) for i in range(s.clients)]
        await asyncio.sleep(0.05)
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    samples = list(itertools.chain.from_iterable(results))
    return {"wall": wall, "load_cpu": cpu, "samples": [asdict(x) for x in samples]}


def main() -> None:
    scenario = Scenario(**orjson.loads(sys.argv[1]))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.stdout.write(orjson.dumps(asyncio.run(run(scenario))).decode())


if __name__ == "__main__":
    main()
