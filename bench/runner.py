"""Runs one scenario over every path of each of its dialects, interleaved, into results.

"request" scenarios are one load process that calls every endpoint in turn, so the paths share
each moment's noise; their CPU is split among the endpoints that ran on the same processes, by
their share of the requests. "phase" scenarios run one load per path (each path needs the whole
concurrency to itself), the paths in turn, `rounds` times, starting each round one path further
on.
"""

from collections.abc import Callable
from typing import Any

from bench.measure import OWN, RSS_OF, Measured, run_load, run_wrk
from bench.scenarios import Spec
from bench.stack import DIALECTS, PATHS, BenchStack


def _paths(dialect: str, rotation: int = 0) -> list[str]:
    paths = [p for p in PATHS if p in DIALECTS[dialect]]
    rotation %= len(paths)
    return paths[rotation:] + paths[:rotation]


def _blank(spec: Spec, dialect: str, path: str) -> Measured:
    return Measured(spec.name, dialect, path, spec.about, spec.stream, spec.tokens)


def run_interleaved(
    stack: BenchStack, spec: Spec, settle: float, idle: dict[str, float]
) -> list[Measured]:
    """Every endpoint of the scenario from one load process, in turn (one client)."""
    endpoints = [stack.endpoint(d, p) for d in spec.dialects for p in _paths(d)]
    data, meter = run_load(stack, spec, endpoints, settle)
    results = []
    for endpoint in endpoints:
        dialect, path = endpoint["label"].split("/")
        measured = _blank(spec, dialect, path)
        measured.add_samples(data["samples"][endpoint["label"]], spec, data["wall"])
        results.append(measured)
    # A process's CPU belongs to the paths it serves, shared by their requests, less what it
    # spends idle (`idle`, measured at the start) while the other paths are served.
    for measured in results:
        own = OWN[measured.path]
        peers = [e["label"] for e in endpoints if OWN[e["label"].split("/")[1]] == own]
        busy = sum(s["total"] for label in peers for s in data["samples"][label])
        spare = sum(idle.get(name, 0.0) for name in own) * max(data["wall"] - busy, 0.0)
        share = measured.done / max(sum(m.done for m in results if OWN[m.path] == own), 1)
        measured.add_cpu({**meter.used, "load": data["load_cpu"]}, share, spare)
    return [m.finish() for m in results]


def run_phases(
    stack: BenchStack, spec: Spec, settle: float, report: Callable[[str], None]
) -> list[Measured]:
    """One load per path and round, the paths in turn."""
    results: dict[tuple[str, str], Measured] = {}
    latency: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for round_ in range(spec.rounds):
        for dialect in spec.dialects:
            for path in _paths(dialect, round_):
                key = (dialect, path)
                measured = results.setdefault(key, _blank(spec, dialect, path))
                endpoint = stack.endpoint(dialect, path)
                if spec.wrk:
                    stats, meter = run_wrk(stack, spec, endpoint, settle)
                    _add_wrk(measured, stats)
                    latency.setdefault(key, []).append(
                        (float(stats["wrk_p50_us"]) / 1e6, float(stats["wrk_p99_us"]) / 1e6)
                    )
                    measured.add_cpu(meter.used)
                else:
                    data, meter = run_load(stack, spec, [endpoint], settle)
                    measured.add_samples(data["samples"][endpoint["label"]], spec, data["wall"])
                    measured.add_cpu({**meter.used, "load": data["load_cpu"]})
                if spec.memory and path in RSS_OF:
                    per_stream = meter.growth(RSS_OF[path]) / spec.clients / 1000
                    measured.memory_per_stream_kb = max(
                        measured.memory_per_stream_kb or 0.0, per_stream
                    )
                report(f"  round {round_ + 1}/{spec.rounds} {dialect}/{path} done")
    for key, pairs in latency.items():
        # wrk gives percentiles per run, not its samples: the rounds' mean.
        results[key].total_p50 = sum(p for p, _ in pairs) / len(pairs)
        results[key].total_p99 = sum(p for _, p in pairs) / len(pairs)
    return [m.finish() for m in results.values()]


def _add_wrk(measured: Measured, stats: dict[str, Any]) -> None:
    requests, bad = int(stats["wrk_requests"]), int(stats["wrk_bad"])
    measured.requests += requests
    measured.ok += requests - bad
    measured.failures += bad
    measured.done += requests - bad
    measured.window += float(stats["wrk_seconds"])


def run(
    stack: BenchStack,
    spec: Spec,
    settle: float,
    idle: dict[str, float],
    report: Callable[[str], None],
) -> list[Measured]:
    """The scenario's results, one per dialect and path."""
    if spec.interleave == "request":
        return run_interleaved(stack, spec, settle, idle)
    return run_phases(stack, spec, settle, report)
