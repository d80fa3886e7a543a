"""`make bench` / `python -m bench`: the gateway against calling the Ollama simulator directly.

Starts the simulator, the API and one worker (or uses running ones, `--api`/`--sim`), runs each
scenario twice in one run, direct and through the gateway, from a separate load process, and
writes bench/results/latest.{json,md,png}. Counts CPU as user + system seconds of the web and
worker processes (psutil), divided by the work done.
"""

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import orjson

from bench.report import render
from bench.scenarios import SCENARIOS, WRK_SCENARIO, Measured, run_scenario, run_wrk
from bench.stack import BenchStack

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="*", help="run only these scenarios (names)")
    parser.add_argument("--quick", action="store_true", help="smaller scenarios, for a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only or [])
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    measured: list[Measured] = []
    with BenchStack(args.out / "logs") as stack:
        for scenario in scenarios:
            if args.quick:
                scenario = scenario.quick()
            for mode in ("direct", "gateway"):
                result = run_scenario(stack, scenario, mode)
                measured.append(result)
                print(result.line(), flush=True)
        if (not wanted or WRK_SCENARIO in wanted) and shutil.which("wrk"):
            for mode in ("direct", "gateway"):
                result = run_wrk(stack, mode, seconds=3 if args.quick else 10)
                measured.append(result)
                print(result.line(), flush=True)
        elif not shutil.which("wrk"):
            print("wrk is not installed: the throughput scenario was skipped", file=sys.stderr)
        machine = stack.machine()
    data = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
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
