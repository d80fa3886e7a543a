"""`make bench-fairness` (and the end of `make bench`): how long a quiet key, and a quiet end
user, wait behind another's flood.

One worker with two slots (WORKER_CONCURRENCY=2), generations of 12 tokens at 50 tokens/s
(0.24 s). A loud client sends 40 requests at once; 0.1 s later a quiet one sends 4. Each pair
is measured three ways: two keys, two end users of one key (`X-End-User`), and a `batch` key's
flood against an `interactive` key. The wait is a request's time in the queue, from its record
(`started_at - queued_at`); the latency is the client's, from sending to the whole answer.
Writes bench/results/fairness.md.

Run on an older checkout of this repository (copy this file in), it measures the queue that was
there before: first come, first served.
"""

import asyncio
import statistics
import sys
import time
from pathlib import Path

import asyncpg
import httpx

from bench.stack import (
    AUTH,
    DATABASE_URL,
    MASTER_KEY,
    REDIS_URL,
    SIM_MODEL,
    drop_database,
    drop_namespace,
    fresh_namespace,
    prepare_database,
)
from tests import processes

RESULTS = Path(__file__).resolve().parent / "results"
TOKENS, RATE = 12, 50
LOUD, QUIET, QUIET_AFTER_S = 40, 4, 0.1
ROUNDS = 3


def env_for(namespace: str, sim_port: int) -> dict[str, str]:
    return {
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,
        "OLLAMA_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "OLLAMA_MODEL": SIM_MODEL,
        "WORKER_CONCURRENCY": "2",
        "WORKER_METRICS_PORT": "0",
        "MAX_QUEUE_DEPTH": "1000",
        "DEFAULT_CONCURRENCY_LIMIT": "0",
        "DEFAULT_RATE_LIMIT_RPM": "0",
        "MASTER_API_KEY": MASTER_KEY,
    }


async def new_key(http: httpx.AsyncClient, name: str, **settings: object) -> str:
    body = {"name": name, "rate_limit_rpm": 0, "concurrency_limit": 0, **settings}
    r = await http.post("/api/v1/keys", json=body)
    if r.status_code == 422 and settings:  # an older server without these settings
        r = await http.post("/api/v1/keys", json={"name": name})
    r.raise_for_status()
    return str(r.json()["key"])


async def burst(
    http: httpx.AsyncClient, key: str, n: int, user: str | None, tag: str
) -> list[tuple[str, float]]:
    """n requests at once; each one's generation id and latency."""
    headers = {"Authorization": f"Bearer {key}", **({"X-End-User": user} if user else {})}
    prompt = f'SIM: {{"n": {TOKENS}, "rate": {RATE}}}\n'

    async def one(i: int) -> tuple[str, float]:
        t0 = time.perf_counter()
        r = await http.post(
            "/api/v1/generate", json={"prompt": f"{prompt}{tag} {i}"}, headers=headers
        )
        r.raise_for_status()
        return r.headers["x-generation-id"], time.perf_counter() - t0

    return list(await asyncio.gather(*(one(i) for i in range(n))))


async def waits(ids: list[str]) -> list[float]:
    connection = await asyncpg.connect(DATABASE_URL.replace("+asyncpg", ""))
    try:
        rows = await connection.fetch(
            "SELECT extract(epoch FROM started_at - queued_at) AS wait FROM generations "
            "WHERE id = ANY($1::uuid[])",
            ids,
        )
    finally:
        await connection.close()
    return [float(r["wait"]) for r in rows]


async def pair(base_url: str, case: str, round_: int) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=120) as http:
        if case == "keys":
            loud = quiet = None
            loud_key = await new_key(http, f"loud {round_}")
            quiet_key = await new_key(http, f"quiet {round_}")
        elif case == "end users":
            loud, quiet = "alice", "bob"
            loud_key = quiet_key = await new_key(http, f"shared {round_}")
        else:
            loud = quiet = None
            loud_key = await new_key(http, f"batch {round_}", priority="batch")
            quiet_key = await new_key(http, f"interactive {round_}", priority="interactive")
        tag = f"{case} {round_} {time.time_ns()}"
        flood = asyncio.create_task(burst(http, loud_key, LOUD, loud, f"loud {tag}"))
        await asyncio.sleep(QUIET_AFTER_S)
        few = await burst(http, quiet_key, QUIET, quiet, f"quiet {tag}")
        many = await flood
    out = {}
    for name, done in (("loud", many), ("quiet", few)):
        queued = await waits([gid for gid, _ in done])
        out[name] = {
            "wait_min": min(queued),
            "wait_p50": statistics.median(queued),
            "wait_max": max(queued),
            "latency_p50": statistics.median(latency for _, latency in done),
        }
    return out


def measure(log_dir: Path) -> dict[str, list[dict[str, dict[str, float]]]]:
    sim_port, api_port = processes.free_port(), processes.free_port()
    namespace = fresh_namespace()
    env = env_for(namespace, sim_port)
    procs = [processes.simulator(sim_port, log_dir, "--parallel", "2")]
    try:
        procs.append(processes.ready_worker(env, log_dir, "fairness-worker"))
        procs.append(processes.api(api_port, env, log_dir))
        base = f"http://127.0.0.1:{api_port}"
        return {
            case: [asyncio.run(pair(base, case, r)) for r in range(ROUNDS)]
            for case in ("keys", "end users", "priorities")
        }
    finally:
        for proc in reversed(procs):
            proc.stop()
        drop_namespace(REDIS_URL, namespace)


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    prepare_database(env_for(fresh_namespace(), 0))
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    try:
        found = measure(log_dir)
    finally:
        drop_database()
    generation = TOKENS / RATE
    lines = [
        f"One worker with 2 slots; generations of {TOKENS} tokens at {RATE} tokens/s "
        f"({generation:.2f} s); {LOUD} requests at once from the loud side, {QUIET} from the "
        f"quiet side {QUIET_AFTER_S} s later; median of {ROUNDS} rounds. Wait: time in the "
        "queue (record); latency: the client's, to the whole answer.",
        "",
        "| flood vs. quiet | loud wait p50 | quiet: first wait | wait p50 | wait max "
        "| latency p50 |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "keys": "two keys",
        "end users": "two end users of one key",
        "priorities": ("`batch` key vs. `interactive` key"),
    }
    for case, rounds in found.items():

        def med(side: str, figure: str, rounds=rounds) -> float:
            return statistics.median(r[side][figure] for r in rounds)

        lines.append(
            f"| {names[case]} | {med('loud', 'wait_p50'):.2f} s | {med('quiet', 'wait_min'):.2f} s"
            f" | {med('quiet', 'wait_p50'):.2f} s"
            f" | {med('quiet', 'wait_max'):.2f} s | {med('quiet', 'latency_p50'):.2f} s |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / "fairness.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
