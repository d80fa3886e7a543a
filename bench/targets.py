"""The targets ("As cheap as a direct hop"), in one table, and how a run is checked against them.

Each target is a limit on one figure of `us`, mostly its difference from `direct` in the same run;
where a scenario ran in several dialects (or several scenarios measure the same thing), the worst
of them is what is checked.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]  # a Measured.as_dict()
Figure = Callable[[Row, Row | None], float | None]  # (us, direct) -> the figure


def _added(name: str) -> Figure:
    def figure(us: Row, direct: Row | None) -> float | None:
        if direct is None or us[name] is None or direct[name] is None:
            return None
        return float(us[name] - direct[name]) * 1000

    return figure


def _cpu_per_request(us: Row, _: Row | None) -> float | None:
    return us["own_cpu"] / us["done"] * 1000 if us["done"] else None


def _cpu_per_token(us: Row, _: Row | None) -> float | None:
    tokens = us["done"] * us["tokens_each"]
    return us["own_cpu"] / tokens * 1e6 if tokens else None


def _per_second(us: Row, _: Row | None) -> float | None:
    return float(us["per_second"]) if us["requests"] else None


def _memory(us: Row, _: Row | None) -> float | None:
    value = us["memory_per_stream_kb"]
    return None if value is None else float(value)


def _broken(us: Row, _: Row | None) -> float | None:
    return float(us["failures"] + us["duplicated"] + us["reordered"])


@dataclass(frozen=True)
class Target:
    name: str
    limit: float
    unit: str
    how: str  # how it is measured
    scenarios: tuple[str, ...]  # () = every scenario
    figure: Figure
    at_most: bool = True  # the limit is a maximum (else a minimum)
    summed: bool = False  # the figure is the sum over the scenarios, not the worst

    def check(self, rows: list[Row]) -> tuple[float | None, bool | None]:
        """The worst (or summed) figure over the scenarios and dialects run, and whether it
        meets the limit (None, None: not run)."""
        direct = {(r["scenario"], r["dialect"]): r for r in rows if r["path"] == "direct"}
        values = [
            value
            for r in rows
            if r["path"] == "us" and (not self.scenarios or r["scenario"] in self.scenarios)
            for value in [self.figure(r, direct.get((r["scenario"], r["dialect"])))]
            if value is not None
        ]
        if not values:
            return None, None
        worst = sum(values) if self.summed else max(values) if self.at_most else min(values)
        return worst, worst <= self.limit if self.at_most else worst >= self.limit


TTFT_1 = ("ttft-1", "ttft-1-native")
TARGETS = (
    Target(
        "added time to first token p50, 1 stream",
        3.0,
        "ms",
        "us − direct, TTFT p50, one stream at a time (ttft-1, ttft-1-native)",
        TTFT_1,
        _added("ttft_p50"),
    ),
    Target(
        "added time to first token p50, 50 streams",
        3.0,
        "ms",
        "us − direct, TTFT p50, 50 clients looping, warm-up discarded (ttft-50)",
        ("ttft-50",),
        _added("ttft_p50"),
    ),
    Target(
        "added time to first token p99, 50 streams",
        15.0,
        "ms",
        "us − direct, TTFT p99, as above (ttft-50)",
        ("ttft-50",),
        _added("ttft_p99"),
    ),
    Target(
        "added p50, short non-streaming generation, one at a time",
        3.0,
        "ms",
        "us − direct, whole-answer time p50, in every dialect (short)",
        ("short",),
        _added("total_p50"),
    ),
    Target(
        "short non-streaming generations per second",
        1000.0,
        "/s",
        "wrk, 64 connections, correct answers per second, native and OpenAI (throughput)",
        ("throughput",),
        _per_second,
        at_most=False,
    ),
    Target(
        "CPU per short non-streaming generation",
        1.0,
        "ms",
        "API + worker user + system CPU (psutil) / generations, under wrk (throughput)",
        ("throughput",),
        _cpu_per_request,
    ),
    Target(
        "CPU per relayed token under load",
        100.0,
        "µs",
        "API + worker CPU / tokens delivered, 200 concurrent streams (streams-200)",
        ("streams-200",),
        _cpu_per_token,
    ),
    Target(
        "API memory per open stream at 1,000 streams",
        30.0,
        "KB",
        "(API peak RSS − RSS before) / 1,000 streams, KB of 1,000 bytes (streams-1000)",
        ("streams-1000",),
        _memory,
    ),
    Target(
        "lost, duplicated or reordered chunks",
        0.0,
        "",
        "failed (wrong text, error) + duplicated + reordered events of ours, every scenario",
        (),
        _broken,
        summed=True,
    ),
)
