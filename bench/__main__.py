"""`make bench` / `python -m bench`: this server against a direct hop and against a peer.

Starts the simulator, the peer (TensorZero's gateway in front of the simulator, bench/peer.py),
the API and one worker, then runs each scenario (bench/scenarios.py) on three paths, measured
interleaved in one run: direct (the client calls the simulator), peer, and us. Checks every
answer against the text the simulator made, counts CPU as user + system seconds of each path's
own processes (psutil), checks the targets (bench/targets.py), and writes
bench/results/latest.{json,md,png}.
"""

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import orjson

from bench import runner
from bench.measure import Measured, idle_rates
from bench.report import render
from bench.scenarios import SCENARIOS
from bench.stack import BenchStack

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    names = ", ".join(s.name for s in SCENARIOS)
    parser.add_argument("--only", nargs="*", help=f"run only these scenarios ({names})")
    parser.add_argument("--quick", action="store_true", help="smaller scenarios, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    started = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or [])
    unknown = wanted - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    if not shutil.which("wrk"):
        print("wrk is not installed: the throughput scenario is skipped", file=sys.stderr)
        scenarios = [s for s in scenarios if not s.wrk]
    settle = 0.3 if args.quick else 1.0
    measured: list[Measured] = []
    with BenchStack(args.out / "logs") as stack:
        idle = idle_rates(stack, 2.0 if args.quick else 5.0)
        for scenario in scenarios:
            if args.quick:
                scenario = scenario.quick()
            print(f"{scenario.name}: {scenario.about}", flush=True)
            results = runner.run(stack, scenario, settle, idle, lambda t: print(t, flush=True))
            for result in results:
                print(result.line(), flush=True)
            measured += results
        machine = stack.machine()
    data = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "minutes": (time.monotonic() - started) / 60,
        "quick": args.quick,
        "machine": machine,
        "results": [m.as_dict() for m in measured],
    }
    (args.out / "latest.json").write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2))
    markdown = render(data, args.out / "latest.png")
    (args.out / "latest.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "")
    asyncio.set_event_loop(None)
    sys.exit(main())
