"""The benchmark's Markdown (the three-way table and the targets) and its chart."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stack import PATHS
from bench.targets import TARGETS

Row = dict[str, Any]


def _ms(row: Row, name: str) -> float | None:
    return None if row[name] is None else row[name] * 1000


def _cpu_request(row: Row) -> float | None:
    return row["own_cpu"] / row["done"] * 1000 if row["done"] and row["path"] != "direct" else None


def _cpu_token(row: Row) -> float | None:
    tokens = row["done"] * row["tokens_each"]
    return row["own_cpu"] / tokens * 1e6 if tokens and row["path"] != "direct" else None


# (figure, kind, value, which scenarios show it). Kinds: "latency" (differences from direct;
# us ÷ peer compares what each adds), "rate" (differences and ratio of the values), "cost" (the
# path's own processes only: direct has none).
FIGURES: list[tuple[str, str, Callable[[Row], float | None], Callable[[Row], bool]]] = [
    ("TTFT p50, ms", "latency", lambda r: _ms(r, "ttft_p50"), lambda r: r["stream"]),
    ("TTFT p99, ms", "latency", lambda r: _ms(r, "ttft_p99"), lambda r: r["stream"]),
    ("total p50, ms", "latency", lambda r: _ms(r, "total_p50"), lambda r: not r["stream"]),
    ("total p99, ms", "latency", lambda r: _ms(r, "total_p99"), lambda r: not r["stream"]),
    (
        "generations/s",
        "rate",
        lambda r: r["per_second"],
        lambda r: r["scenario"] == "throughput",
    ),
    (
        "tokens/s",
        "rate",
        lambda r: r["per_second"] * r["tokens_each"],
        lambda r: r["stream"] and r["tokens_each"] > 10,
    ),
    ("CPU per request, ms", "cost", _cpu_request, lambda r: True),
    ("CPU per token, µs", "cost", _cpu_token, lambda r: r["stream"]),
    (
        "memory per open stream, KB",
        "cost",
        lambda r: r["memory_per_stream_kb"],
        lambda r: r["memory_per_stream_kb"] is not None,
    ),
]


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    size = abs(round(value, 2))
    digits = 0 if size >= 100 else 1 if size >= 10 else 2
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ratio(us: float | None, peer: float | None, floor: float = 1e-9) -> str:
    if us is None or peer is None or peer < floor:
        return "–"
    return f"{us / peer:.1f}×"


def _groups(rows: list[Row]) -> list[tuple[str, str, dict[str, Row]]]:
    groups: dict[tuple[str, str], dict[str, Row]] = {}
    for row in rows:
        groups.setdefault((row["scenario"], row["dialect"]), {})[row["path"]] = row
    return [(s, d, paths) for (s, d), paths in groups.items()]


def three_way(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | dialect | figure | direct | peer | us | peer − direct | us − direct "
        "| us ÷ peer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario, dialect, paths in _groups(rows):
        checks = [
            (
                f"{paths[p]['requests']} ({paths[p]['failures']} / {paths[p]['duplicated']} / "
                f"{paths[p]['reordered']})"
                if p in paths
                else "–"
            )
            for p in PATHS
        ]
        lines.append(
            f"| {scenario} | {dialect} | requests (failed / dup / reordered) | "
            + " | ".join(checks)
            + " | | | |"
        )
        first = next(iter(paths.values()))
        for label, kind, value, shown in FIGURES:
            if not shown(first):
                continue
            v = {p: value(paths[p]) if p in paths else None for p in PATHS}
            if all(x is None for x in v.values()):
                continue
            d, peer, us = v["direct"], v["peer"], v["us"]
            added: dict[str, float | None] = {"peer": None, "us": None}
            for p in added:
                value_p = v[p]
                if kind != "cost" and d is not None and value_p is not None:
                    added[p] = value_p - d
            if kind == "cost":
                ratio = _ratio(us, peer)
            elif kind == "latency":
                # What the peer adds below half a millisecond is noise: no ratio of it.
                ratio = _ratio(added["us"], added["peer"], floor=0.5)
            else:
                ratio = _ratio(us, peer)
            lines.append(
                f"| | | {label} | {_fmt(d)} | {_fmt(peer)} | {_fmt(us)} "
                f"| {_fmt(added['peer'], True)} | {_fmt(added['us'], True)} | {ratio} |"
            )
    return lines


def targets(rows: list[Row]) -> list[str]:
    lines = ["| target | limit | how measured | measured | |", "|---|---|---|---|---|"]
    for target in TARGETS:
        value, met = target.check(rows)
        sign = "≤" if target.at_most else "≥"
        verdict = "not run" if met is None else "met" if met else "**not met**"
        shown = _fmt(value) if target.unit or value is None else f"{value:.0f}"
        lines.append(
            f"| {target.name} | {sign} {target.limit:g} {target.unit} | {target.how} "
            f"| {shown} {target.unit if value is not None else ''} | {verdict} |"
        )
    return lines


def render(data: dict[str, Any], chart: Path) -> str:
    machine, rows = data["machine"], data["results"]
    abouts = {r["scenario"]: r["about"] for r in rows}
    lines = [
        f"{'Quick run' if data.get('quick') else 'Run'} {data['when']} "
        f"({data['minutes']:.1f} min) on {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['memory_gib']} GiB, Python {machine['python']}, "
        f"{machine['system']}; peer: {machine['peer']}. The simulator, the peer, the API, "
        "the worker, Redis, PostgreSQL and the load process share the machine; the paths are "
        "measured interleaved, so read the differences and ratios, not the absolute times.",
        "",
        "**direct**: the client calls the simulator. **peer**: TensorZero's gateway in front of "
        "the simulator's OpenAI-compatible API. **us**: this server (its dialect, the queue, "
        "the worker, the simulator's native API). Differences are from direct in the same run; "
        "for latencies, us ÷ peer compares what each adds to direct (– where the peer adds under "
        "0.5 ms). CPU is the path's own "
        "processes (us: API + worker; peer: its process), user + system; where paths ran in "
        "turn from one client, each process's idle CPU while the other paths were served is "
        "left out. Memory: peak RSS over the RSS before, per open stream (KB of 1,000 bytes).",
        "",
        *three_way(rows),
        "",
        "Scenarios: " + "; ".join(f"**{name}**: {about}" for name, about in abouts.items()) + ".",
        "",
        "Targets (us, from the same run):",
        "",
        *targets(rows),
    ]
    _chart(rows, chart)
    lines += ["", f"![TTFT against concurrency, and throughput]({chart.name})", ""]
    return "\n".join(lines)


def _chart(rows: list[Row], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("ttft-1", 1), ("ttft-50", 50), ("streams-200", 200), ("streams-1000", 1000)]
    colors = {"direct": "tab:gray", "peer": "tab:green", "us": "tab:purple"}
    openai = {(r["scenario"], r["path"]): r for r in rows if r["dialect"] == "openai"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("peer", "us"):
        for q, alpha in (("ttft_p50", 1.0), ("ttft_p99", 0.35)):
            points = [
                (c, (openai[s, name][q] - openai[s, "direct"][q]) * 1000)
                for s, c in series
                if (s, name) in openai
                and (s, "direct") in openai
                and openai[s, name][q] is not None
                and openai[s, "direct"][q] is not None
            ]
            if points:
                xs, ys = [x for x, _ in points], [y for _, y in points]
                left.plot(xs, ys, "o-", color=colors[name], alpha=alpha, label=f"{name} {q[5:]}")
    bars = [r for r in rows if r["scenario"] == "throughput"]
    right.bar(
        [f"{r['dialect']}\n{r['path']}" for r in bars],
        [r["per_second"] for r in bars],
        color=[colors[r["path"]] for r in bars],
    )
    left.set_xscale("log")
    left.set_yscale("symlog", linthresh=1.0)
    left.set_xlabel("concurrent streams (OpenAI dialect)")
    left.set_ylabel("ms added to direct")
    left.set_title("added time to first token")
    left.legend()
    right.set_ylabel("generations/s")
    right.set_title("short non-streaming generations (wrk, 64 connections)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
