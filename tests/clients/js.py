"""Runs the JavaScript clients' scenarios (tests/clients/js/*.mjs) with Node.js.

Each scenario reads BASE_URL, API_KEY, MODEL and INPUT (JSON) from its environment and prints one
JSON object: its result, or `{"error": {...}}` with what the library raised (scenario.mjs).
`make test` installs the pinned packages (package-lock.json) with `npm ci`; without Node.js or
them, the tests that need them are skipped, saying so.
"""

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

HERE = Path(__file__).parent / "js"


def available() -> str | None:
    """Why the scenarios cannot run here, or None if they can."""
    if shutil.which("node") is None:
        return "no Node.js on the PATH"
    if not (HERE / "node_modules").is_dir():
        return "tests/clients/js/node_modules is missing (make test runs npm ci)"
    return None


async def run_js(
    scenario: str, *, base_url: str, api_key: str, model: str, timeout: float = 60, **given: Any
) -> dict[str, Any]:
    """The JSON a scenario printed; `given` is its INPUT."""
    reason = available()
    if reason is not None:
        pytest.skip(reason)
    env = {
        **os.environ,
        "BASE_URL": base_url,
        "API_KEY": api_key,
        "MODEL": model,
        "INPUT": orjson.dumps(given).decode(),
    }
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(HERE / scenario),
        cwd=HERE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"{scenario} did not finish within {timeout} s") from None
    lines = out.decode().strip().splitlines()
    assert lines, f"{scenario} printed nothing; stderr: {err.decode()[-2000:]}"
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result
