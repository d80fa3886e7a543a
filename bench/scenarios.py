"""The workloads, and how one run of one workload is measured."""

import dataclasses
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.stack import AUTH, BenchStack

WRK_SCENARIO = "throughput"
WRK_SCRIPT = Path(__file__).resolve().parent / "post.lua"


@dataclass(frozen=True)
class Spec:
    name: str
    clients: int
    requests: int  # per client, back to back
    tokens: int
    rate: float  # tokens/s per stream
    stream: bool = True
    about: str = ""

    def quick(self) -> "Spec":
        return dataclasses.replace(
            self,
            clients=max(1, self.clients // 10),
            requests=max(1, self.requests // 5),
            tokens=max(5, self.tokens // 4),
        )


SCENARIOS = [
    Spec("ttft-1", 1, 100, 10, 50, about="1 client, 100 streams of 10 tokens at 50 tok/s, in turn"),
    Spec("ttft-50", 50, 6, 10, 50, about="50 clients, 6 streams each of 10 tokens at 50 tok/s"),
    Spec("streams-50", 50, 1, 200, 50, about="50 concurrent streams, 200 tokens at 50 tok/s"),
    Spec("streams-200", 200, 1, 200, 50, about="200 concurrent streams, 200 tokens at 50 tok/s"),
    Spec("streams-1000", 1000, 1, 40, 5, about="1,000 concurrent streams, 40 tokens at 5 tok/s"),
    Spec("long-1", 1, 1, 5000, 1000, about="one stream of 5,000 tokens at 1,000 tok/s"),
]


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


@dataclass
class Measured:
    scenario: str
    mode: str
    about: str
    requests: int = 0
    failures: int = 0
    duplicated: int = 0
    reordered: int = 0
    tokens: int = 0
    wall: float = 0.0
    ttft_p50: float | None = None
    ttft_p99: float | None = None
    total_p50: float | None = None
    total_p99: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)
    rss_per_stream_kib: float | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def gateway_cpu(self) -> float:
        return self.cpu.get("api", 0.0) + self.cpu.get("worker", 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "gateway_cpu": self.gateway_cpu}

    def line(self) -> str:
        ms = lambda v: "-" if v is None else f"{v * 1000:.1f}"  # noqa: E731
        return (
            f"{self.scenario:13s} {self.mode:8s} req={self.requests} fail={self.failures} "
            f"dup={self.duplicated} reord={self.reordered} ttft p50/p99={ms(self.ttft_p50)}/"
            f"{ms(self.ttft_p99)} ms total p50/p99={ms(self.total_p50)}/{ms(self.total_p99)} ms "
            f"tok/s={self.tokens / self.wall if self.wall else 0:.0f} cpu={self.cpu}"
        )


class CpuMeter:
    """User + system CPU seconds of the measured processes over a block, and the API's RSS."""

    def __init__(self, stack: BenchStack) -> None:
        self.procs = {name: stack.ps(name) for name in ("api", "worker", "sim")}
        self.peak_rss = 0
        self._stop = threading.Event()

    def _cpu(self) -> dict[str, float]:
        return {n: sum(p.cpu_times()[:2]) for n, p in self.procs.items()}

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_rss = max(self.peak_rss, self.procs["api"].memory_info().rss)

    def __enter__(self) -> "CpuMeter":
        self.base_rss = self.procs["api"].memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._start = self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._cpu()
        self._stop.set()
        self._thread.join()
        self.used = {n: round(end[n] - self._start[n], 4) for n in end}


def run_scenario(stack: BenchStack, spec: Spec, mode: str) -> Measured:
    target = stack.sim_url if mode == "direct" else stack.api_url
    scenario = {
        "target": target,
        "mode": mode,
        "stream": spec.stream,
        "clients": spec.clients,
        "requests": spec.requests,
        "tokens": spec.tokens,
        "rate": spec.rate,
        "tag": f"{spec.name}-{mode}-{time.time_ns()}",
        "headers": AUTH if mode == "gateway" else {},
    }
    time.sleep(1.0)  # let the previous run's tail settle
    with CpuMeter(stack) as meter:
        out = subprocess.run(
            [sys.executable, "-m", "bench.load", orjson.dumps(scenario).decode()],
            capture_output=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    data = orjson.loads(out.stdout)
    samples = data["samples"]
    good = [s for s in samples if s["ok"]]
    ttfts = [s["ttft"] for s in good if s["ttft"] is not None]
    totals = [s["total"] for s in good]
    measured = Measured(
        spec.name,
        mode,
        spec.about,
        requests=len(samples),
        failures=len(samples) - len(good),
        duplicated=sum(s["duplicated"] for s in samples),
        reordered=sum(s["reordered"] for s in samples),
        tokens=spec.tokens * len(good),
        wall=data["wall"],
        ttft_p50=pct(ttfts, 50),
        ttft_p99=pct(ttfts, 99),
        total_p50=pct(totals, 50),
        total_p99=pct(totals, 99),
        cpu={**meter.used, "load": round(data["load_cpu"], 4)},
        errors=sorted({s["error"] for s in samples if s["error"]})[:5],
    )
    if mode == "gateway" and spec.clients >= 100:
        measured.rss_per_stream_kib = (meter.peak_rss - meter.base_rss) / spec.clients / 1024
    return measured


def run_wrk(stack: BenchStack, mode: str, *, seconds: int) -> Measured:
    """Short non-streaming generations as fast as wrk can send them (64 connections)."""
    url = (
        stack.sim_url + "/api/generate" if mode == "direct" else stack.api_url + "/api/v1/generate"
    )
    time.sleep(1.0)
    with CpuMeter(stack) as meter:
        out = subprocess.run(
            ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency", "-s", str(WRK_SCRIPT), url],
            capture_output=True,
            text=True,
            check=True,
            env={"WRK_MODE": mode, "WRK_AUTH": AUTH["Authorization"], "PATH": "/usr/bin:/bin"},
        )
    stats = dict(line.split("=", 1) for line in out.stdout.splitlines() if line.startswith("wrk_"))
    requests, bad = int(stats["wrk_requests"]), int(stats["wrk_bad"])
    return Measured(
        WRK_SCENARIO,
        mode,
        "short non-streaming generations (5 tokens), wrk, 64 connections",
        requests=requests,
        failures=bad,
        tokens=5 * (requests - bad),
        wall=float(stats["wrk_seconds"]),
        total_p50=float(stats["wrk_p50_us"]) / 1e6,
        total_p99=float(stats["wrk_p99_us"]) / 1e6,
        cpu=meter.used,
    )
