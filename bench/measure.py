"""How one run of a workload is measured: the load (bench/load.py, or wrk), the CPU and memory of
the processes behind each path, and the tally of a path's runs into one result.

CPU is user + system seconds (psutil) of the path's own processes: the API and the worker for
`us`, the peer's process for `peer`, none for `direct` (the simulator stands for the model).
Memory is the peak RSS over the RSS before the run, divided by the open streams.
"""

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

from bench.scenarios import Spec
from bench.stack import BenchStack

WRK_SCRIPT = Path(__file__).resolve().parent / "post.lua"
OWN = {"us": ("api", "worker"), "peer": ("peer",), "direct": ()}
RSS_OF = {"us": "api", "peer": "peer"}


def pct(values: list[float], q: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


class CpuMeter:
    """User + system CPU seconds of the measured processes over a block, and their peak RSS."""

    NAMES = ("api", "worker", "sim", "peer")

    def __init__(self, stack: BenchStack) -> None:
        self.procs = {name: stack.ps(name) for name in self.NAMES}
        self.peak = {"api": 0, "peer": 0}
        self._stop = threading.Event()

    def _cpu(self) -> dict[str, float]:
        return {n: sum(p.cpu_times()[:2]) for n, p in self.procs.items()}

    def _rss(self) -> dict[str, int]:
        return {n: self.procs[n].memory_info().rss for n in self.peak}

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            for name, rss in self._rss().items():
                self.peak[name] = max(self.peak[name], rss)

    def __enter__(self) -> "CpuMeter":
        self.base = self._rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self._start = self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._cpu()
        self._stop.set()
        self._thread.join()
        self.used = {n: round(end[n] - self._start[n], 4) for n in end}

    def growth(self, name: str) -> int:
        return max(self.peak[name] - self.base[name], 0)


@dataclass
class Measured:
    """One path's result in one scenario and dialect (all its rounds together)."""

    scenario: str
    dialect: str
    path: str
    about: str
    stream: bool
    tokens_each: int
    requests: int = 0  # counted (the steady state, after the warm-up)
    ok: int = 0  # counted and correct
    failures: int = 0  # requests with an error or a wrong text, counted or not
    duplicated: int = 0
    reordered: int = 0
    done: int = 0  # every request that completed correctly, the warm-up's too (for CPU)
    window: float = 0.0  # the seconds the counted requests fit in (for rates)
    ttft_p50: float | None = None
    ttft_p99: float | None = None
    total_p50: float | None = None
    total_p99: float | None = None
    own_cpu: float = 0.0  # seconds of the path's own processes (see OWN)
    cpu: dict[str, float] = field(default_factory=dict)  # every process, over its runs
    memory_per_stream_kb: float | None = None
    errors: list[str] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list, repr=False)
    totals: list[float] = field(default_factory=list, repr=False)

    @property
    def per_second(self) -> float:
        return self.ok / self.window if self.window else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["ttfts"], data["totals"]
        return {**data, "per_second": self.per_second}

    def add_samples(self, samples: list[dict[str, Any]], spec: Spec, wall: float) -> None:
        """A load run's samples: the counted ones are those of the steady state, if any."""
        if spec.seconds:
            # The steady state: started after the warm-up, ended before the clients stopped.
            end = spec.seconds
            counted = [s for s in samples if spec.warmup <= s["start"] <= end - s["total"]]
        else:
            counted = [s for s in samples if s["round"] >= spec.discard]
        good = [s for s in counted if s["ok"]]
        self.requests += len(counted)
        self.ok += len(good)
        # Failures count wherever they happen: a stream lost in the warm-up is lost all the same.
        self.failures += sum(1 for s in samples if not s["ok"])
        self.duplicated += sum(s["duplicated"] for s in samples)
        self.reordered += sum(s["reordered"] for s in samples)
        self.done += sum(1 for s in samples if s["ok"])
        self.window += spec.seconds - spec.warmup if spec.seconds else wall
        self.ttfts += [s["ttft"] for s in good if s["ttft"] is not None]
        self.totals += [s["total"] for s in good]
        self.errors = sorted({*self.errors, *(s["error"] for s in samples if s["error"])})[:5]

    def add_cpu(self, used: dict[str, float], share: float = 1.0, idle: float = 0.0) -> None:
        """A run's CPU; `share` of it is this path's when several paths ran in turn, after
        `idle` seconds (what its processes spent idle while other paths were served)."""
        for name, seconds in used.items():
            self.cpu[name] = round(self.cpu.get(name, 0.0) + seconds * share, 4)
        own = sum(used.get(name, 0.0) for name in OWN[self.path])
        self.own_cpu += max(own - idle, 0.0) * share

    def finish(self) -> "Measured":
        if self.ttfts:
            self.ttft_p50, self.ttft_p99 = pct(self.ttfts, 50), pct(self.ttfts, 99)
        if self.totals:
            self.total_p50, self.total_p99 = pct(self.totals, 50), pct(self.totals, 99)
        return self

    def line(self) -> str:
        ms = lambda v: "-" if v is None else f"{v * 1000:.1f}"  # noqa: E731
        return (
            f"{self.scenario:19s} {self.dialect:15s} {self.path:6s} req={self.requests} "
            f"fail={self.failures} dup={self.duplicated} reord={self.reordered} "
            f"ttft p50/p99={ms(self.ttft_p50)}/{ms(self.ttft_p99)} ms "
            f"total p50/p99={ms(self.total_p50)}/{ms(self.total_p99)} ms "
            f"own cpu={self.own_cpu:.2f}s {self.errors[:1] or ''}"
        )


def idle_rates(stack: BenchStack, seconds: float) -> dict[str, float]:
    """CPU seconds per second each process spends with nothing to do (heartbeats, polls)."""
    with CpuMeter(stack) as meter:
        time.sleep(seconds)
    return {name: used / seconds for name, used in meter.used.items()}


def run_load(
    stack: BenchStack, spec: Spec, endpoints: list[dict[str, Any]], settle: float
) -> tuple[dict[str, Any], CpuMeter]:
    """One bench/load.py run against `endpoints`, with the processes' CPU and memory over it."""
    scenario = {
        "endpoints": endpoints,
        "stream": spec.stream,
        "clients": spec.clients,
        "requests": spec.requests,
        "tokens": spec.tokens,
        "rate": spec.rate,
        "ttft": spec.ttft,
        "seconds": spec.seconds,
        "tag": f"{spec.name}-{time.time_ns()}",
    }
    time.sleep(settle)  # let the previous run's tail settle
    with CpuMeter(stack) as meter:
        out = subprocess.run(
            [sys.executable, "-m", "bench.load", orjson.dumps(scenario).decode()],
            capture_output=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    return orjson.loads(out.stdout), meter


def run_wrk(
    stack: BenchStack, spec: Spec, endpoint: dict[str, Any], settle: float
) -> tuple[dict[str, str], CpuMeter]:
    """wrk with bench/post.lua against one endpoint: short generations, each answer checked."""
    time.sleep(settle)
    env = {
        "WRK_SHAPE": endpoint["shape"],
        "WRK_MODEL": endpoint["model"],
        "WRK_AUTH": endpoint["headers"].get("Authorization", ""),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    args = ["wrk", "-t1", f"-c{spec.clients}", f"-d{spec.seconds:g}s", "--latency"]
    with CpuMeter(stack) as meter:
        out = subprocess.run(
            [*args, "-s", str(WRK_SCRIPT), endpoint["url"]],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
    lines = out.stdout.splitlines()
    return dict(line.split("=", 1) for line in lines if line.startswith("wrk_")), meter
