"""The load process: `python -m bench.load '<scenario json>'` prints one JSON result.

aiohttp, not httpx: an httpx client saturates a core before the server does (measured in
../shared/research/performance.md). Every answer is checked against the text the simulator
produces for its prompt (`simulator.script.tokens_for`); a fast wrong answer is a failure.

With several endpoints each client calls them in turn, one request at a time, starting each
round one endpoint further on, so that machine noise falls on all of them alike and each follows
each. With `seconds`, clients loop until then instead of making `requests` rounds, their starts
spread over one stream's length (a steady state; the caller discards the warm-up and what ended
after it).
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

from bench.shapes import EMBED_SHAPES, Sample, body, fingerprint, read_stream, whole_text
from simulator.embed import embedding_for
from simulator.families import family_of
from simulator.script import tokens_for


@dataclass
class Endpoint:
    label: str  # "<dialect>/<path>"
    url: str
    shape: str  # see bench/shapes.py
    model: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Scenario:
    endpoints: list[Endpoint]
    stream: bool
    clients: int
    requests: int  # rounds per client (each round: one request to every endpoint)
    tokens: int
    rate: float  # tokens/s per stream (0: at once)
    ttft: float = 0.0  # the simulator's wait before the first token
    seconds: float = 0.0  # > 0: loop this long instead of `requests` rounds
    tag: str = "bench"


def prompt_for(s: Scenario, ep: Endpoint, client: int, n: int) -> tuple[str, str]:
    """The prompt, and the text the simulator answers it with (an embedding: its fingerprint)."""
    text = f"{s.tag} {os.getpid()} {client} {n} {ep.label}"
    if ep.shape in EMBED_SHAPES:
        dim = family_of(ep.model, embedding=True).embedding_length
        return text, fingerprint(embedding_for(ep.model, text, dim))
    directive = orjson.dumps({"n": s.tokens, "rate": s.rate, "ttft": s.ttft}).decode()
    return f"SIM: {directive}\n{text}", "".join(tokens_for(text, s.tokens))


async def call(
    http: aiohttp.ClientSession, s: Scenario, ep: Endpoint, prompt: str
) -> tuple[Sample, str]:
    sample, text = Sample(), ""
    t0 = time.perf_counter()
    async with http.post(
        ep.url, json=body(ep.shape, ep.model, prompt, s.stream), headers=ep.headers
    ) as r:
        if r.status != 200:
            sample.error = f"status {r.status}"
            await r.read()
        elif s.stream:
            text = await read_stream(ep.shape, r, sample, t0)
        else:
            text = whole_text(ep.shape, orjson.loads(await r.read()))
    sample.total = time.perf_counter() - t0
    return sample, text


async def client(
    http: aiohttp.ClientSession, s: Scenario, index: int, start: asyncio.Event, t0: list[float]
) -> list[tuple[str, Sample]]:
    await start.wait()
    if s.seconds and s.rate:
        # Spread the clients' starts over one stream's length: looping clients that start
        # together would arrive together every round (waves, not a steady state).
        await asyncio.sleep(index / s.clients * (s.ttft + s.tokens / s.rate))
    samples: list[tuple[str, Sample]] = []
    k = len(s.endpoints)
    for n in itertools.count():
        if (time.perf_counter() - t0[0] >= s.seconds) if s.seconds else n >= s.requests:
            break
        for j in range(k):
            ep = s.endpoints[(n + j) % k]
            prompt, expected = prompt_for(s, ep, index, n)
            began = time.perf_counter()
            try:
                sample, text = await call(http, s, ep, prompt)
                sample.ok = sample.error is None and text == expected
                if not sample.ok and sample.error is None:
                    sample.error = "wrong text"
            except Exception as e:  # a failed request is a result, not a crash of the load
                sample = Sample(error=f"{type(e).__name__}: {e}"[:200])
                sample.total = time.perf_counter() - began
            if not sample.ok:
                await asyncio.sleep(0.05)  # a path that fails at once must not spin the loop
            sample.start, sample.round = began - t0[0], n
            samples.append((ep.label, sample))
    return samples


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(s: Scenario) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=600, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        start, t0 = asyncio.Event(), [0.0]
        tasks = [asyncio.create_task(client(http, s, i, start, t0)) for i in range(s.clients)]
        await asyncio.sleep(0.05)
        cpu0 = cpu_seconds()
        t0[0] = time.perf_counter()
        start.set()
        results = await asyncio.gather(*tasks)
        wall, cpu = time.perf_counter() - t0[0], cpu_seconds() - cpu0
    by_label: dict[str, list[dict[str, Any]]] = {ep.label: [] for ep in s.endpoints}
    for label, sample in itertools.chain.from_iterable(results):
        by_label[label].append(asdict(sample))
    return {"wall": wall, "load_cpu": cpu, "samples": by_label}


def main() -> None:
    raw = orjson.loads(sys.argv[1])
    scenario = Scenario(**{**raw, "endpoints": [Endpoint(**e) for e in raw["endpoints"]]})
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = memoryview(orjson.dumps(asyncio.run(run(scenario))))
    # The event loop may leave stdout non-blocking, and a write to a pipe may take only part of
    # a large result (seen: 128 KiB of 400): written in a loop, on a blocking descriptor.
    out = sys.stdout.fileno()
    os.set_blocking(out, True)
    while result:
        result = result[os.write(out, result) :]


if __name__ == "__main__":
    main()
