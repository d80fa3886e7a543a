"""The benchmark's Markdown table and chart."""

from pathlib import Path
from typing import Any


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.1f}"


def _pairs(results: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    direct = {r["scenario"]: r for r in results if r["mode"] == "direct"}
    return [
        (direct[r["scenario"]], r)
        for r in results
        if r["mode"] == "gateway" and r["scenario"] in direct
    ]


def _added(direct: float | None, gateway: float | None) -> str:
    if direct is None or gateway is None:
        return "–"
    return f"+{(gateway - direct) * 1000:.1f}"


def render(data: dict[str, Any], chart: Path) -> str:
    machine = data["machine"]
    lines = [
        f"Run {data['when']} on {machine['cpu']}, {machine['cores']} cores, "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, {machine['system']}; "
        "simulator, API, worker, Redis, PostgreSQL and the load process on the same machine.",
        "",
        "| scenario | requests | failed / dup / reordered "
        "| TTFT p50 / p99 ms, direct → gateway (added) "
        "| total p50 / p99 ms, direct → gateway | tokens/s direct → gateway "
        "| gateway CPU per request | gateway CPU per token | API memory per stream |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d, g in _pairs(data["results"]):
        per_request = g["gateway_cpu"] / g["requests"] * 1000 if g["requests"] else 0
        per_token = g["gateway_cpu"] / g["tokens"] * 1e6 if g["tokens"] else 0
        memory = "–" if g["rss_per_stream_kib"] is None else f"{g['rss_per_stream_kib']:.1f} KiB"
        lines.append(
            f"| {g['scenario']}: {g['about']} | {g['requests']} "
            f"| {g['failures'] + d['failures']} / {g['duplicated']} / {g['reordered']} "
            f"| {_ms(d['ttft_p50'])} / {_ms(d['ttft_p99'])} → {_ms(g['ttft_p50'])} / "
            f"{_ms(g['ttft_p99'])} ({_added(d['ttft_p50'], g['ttft_p50'])} / "
            f"{_added(d['ttft_p99'], g['ttft_p99'])}) "
            f"| {_ms(d['total_p50'])} / {_ms(d['total_p99'])} → {_ms(g['total_p50'])} / "
            f"{_ms(g['total_p99'])} "
            f"| {d['tokens'] / d['wall']:.0f} → {g['tokens'] / g['wall']:.0f} "
            f"| {per_request:.2f} ms | {per_token:.0f} µs | {memory} |"
        )
    for d, g in _pairs(data["results"]):
        if g["scenario"] == "throughput":
            lines += [
                "",
                f"Throughput (wrk, 64 connections): direct {d['requests'] / d['wall']:.0f} req/s, "
                f"gateway {g['requests'] / g['wall']:.0f} req/s "
                f"({g['failures']} failed); gateway CPU (API + worker) "
                f"{g['gateway_cpu'] / max(g['requests'], 1) * 1000:.2f} ms per generation.",
            ]
    _chart(data["results"], chart)
    lines += ["", f"![TTFT and throughput against concurrency]({chart.name})", ""]
    return "\n".join(lines)


def _chart(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("ttft-1", 1), ("ttft-50", 50), ("streams-200", 200), ("streams-1000", 1000)]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, style in (("direct", "o--"), ("gateway", "s-")):
        rows = {r["scenario"]: r for r in results if r["mode"] == mode}
        xs = [c for name, c in series if name in rows and rows[name]["ttft_p50"] is not None]
        p50 = [rows[n]["ttft_p50"] * 1000 for n, c in series if n in rows and rows[n]["ttft_p50"]]
        p99 = [rows[n]["ttft_p99"] * 1000 for n, c in series if n in rows and rows[n]["ttft_p99"]]
        tps = [rows[n]["tokens"] / rows[n]["wall"] for n, c in series if n in rows]
        left.plot(xs, p50, style, label=f"{mode} p50")
        left.plot(xs, p99, style, alpha=0.5, label=f"{mode} p99")
        right.plot([c for n, c in series if n in rows], tps, style, label=mode)
    for axis, title, unit in (
        (left, "time to first token", "ms"),
        (right, "tokens delivered", "tokens/s"),
    ):
        axis.set_xscale("log")
        axis.set_xlabel("concurrent streams")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.legend()
        axis.grid(alpha=0.3)
    left.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
