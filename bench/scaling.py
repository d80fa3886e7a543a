"""`make bench-scaling`: throughput with 1, 2, 4 and 8 workers (one slot each) in front of an
Ollama (the simulator) that runs 4 generations at once, like OLLAMA_NUM_PARALLEL=4.

It shows the rule in the README: throughput grows with worker slots until they equal Ollama's
parallelism, and not past it (the extra requests then wait in Ollama's invisible queue instead of
this server's). Writes bench/results/scaling.md.
"""

import subprocess
import sys
import time
from pathlib import Path

import orjson

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
OLLAMA_PARALLEL = 4
TOKENS, RATE = 12, 50  # 0.24 s per generation
CLIENTS, REQUESTS = 16, 3


def env_for(namespace: str, sim_port: int) -> dict[str, str]:
    return {
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": namespace,  # the shared Redis: keys of this run's own only
        "OLLAMA_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "OLLAMA_MODEL": SIM_MODEL,
        "WORKER_CONCURRENCY": "1",
        "WORKER_METRICS_PORT": "0",
        "MAX_QUEUE_DEPTH": "1000",
        "DEFAULT_CONCURRENCY_LIMIT": "0",
        "DEFAULT_RATE_LIMIT_RPM": "0",
        "MASTER_API_KEY": MASTER_KEY,
    }


def run(workers: int, log_dir: Path) -> dict[str, float]:
    sim_port, api_port = processes.free_port(), processes.free_port()
    namespace = fresh_namespace()
    env = env_for(namespace, sim_port)
    procs = [processes.simulator(sim_port, log_dir, "--parallel", str(OLLAMA_PARALLEL))]
    try:
        procs += [
            processes.ready_worker(env, log_dir, f"scale-{workers}-{i}") for i in range(workers)
        ]
        api = processes.api(api_port, env, log_dir)
        procs.append(api)
        endpoint = {
            "label": "native/us",
            "url": f"http://127.0.0.1:{api_port}/api/v1/generate",
            "shape": "native",
            "model": SIM_MODEL,
            "headers": AUTH,
        }
        scenario = {
            "endpoints": [endpoint],
            "stream": False,
            "clients": CLIENTS,
            "requests": REQUESTS,
            "tokens": TOKENS,
            "rate": RATE,
            "tag": f"scale-{workers}-{time.time_ns()}",
        }
        out = subprocess.run(
            [sys.executable, "-m", "bench.load", orjson.dumps(scenario).decode()],
            capture_output=True,
            check=True,
            cwd=processes.ROOT,
        )
    finally:
        for proc in reversed(procs):
            proc.stop()
        drop_namespace(REDIS_URL, namespace)
    data = orjson.loads(out.stdout)
    samples = data["samples"]["native/us"]
    ok = sum(1 for s in samples if s["ok"])
    return {
        "workers": workers,
        "ok": ok,
        "failed": len(samples) - ok,
        "per_second": ok / data["wall"],
    }


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    prepare_database(env_for(fresh_namespace(), 0))
    log_dir = RESULTS / "logs"
    log_dir.mkdir(exist_ok=True)
    try:
        rows = [run(n, log_dir) for n in (1, 2, 4, 8)]
    finally:
        drop_database()
    ideal = OLLAMA_PARALLEL * RATE / TOKENS
    lines = [
        f"Ollama simulator with --parallel {OLLAMA_PARALLEL} (like OLLAMA_NUM_PARALLEL="
        f"{OLLAMA_PARALLEL}), {TOKENS} tokens at {RATE} tok/s per generation "
        f"({TOKENS / RATE:.2f} s); {CLIENTS} clients x {REQUESTS} non-streaming requests; "
        "workers with WORKER_CONCURRENCY=1; one API process; all on one machine. "
        f"Ollama's ceiling: {ideal:.1f} generations/s.",
        "",
        "| workers (slots) | generations/s | failed |",
        "|---|---|---|",
        *[f"| {r['workers']} | {r['per_second']:.1f} | {r['failed']} |" for r in rows],
        "",
    ]
    text = "\n".join(lines)
    (RESULTS / "scaling.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
