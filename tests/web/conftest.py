"""A real browser for the tests of what browsers use: headless Chromium driven by Playwright.

Playwright's own browser download is not used: TEST_CHROMIUM names a Chromium or Chrome
executable (default: `chromium`, Debian's package, or `google-chrome` on the PATH). Without one,
the browser tests are skipped, saying so.
"""

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import Stack, stack_env, start_stack

# The flags without which Chromium tries to reach Google's services at start, which a closed
# network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    named = os.environ.get("TEST_CHROMIUM")
    if named:
        return named
    return shutil.which("chromium") or shutil.which("google-chrome")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    """One headless Chromium for the session (each test opens its own context)."""
    executable = chromium_path()
    if executable is None or not Path(executable).exists():
        pytest.skip(
            "no Chromium for the browser tests: `apt-get install chromium`, or set "
            "TEST_CHROMIUM to a Chromium or Chrome executable"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="session")
def ui_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """The API and a worker with the default disconnect grace (5 s, where the suite's is 1 s: a
    reloaded page comes back well within it, also on a loaded machine), and one slot, so that a
    second generation waits in the queue."""
    env = stack_env(database_url, "ui", simulator, DISCONNECT_GRACE_SECONDS=5, WORKER_CONCURRENCY=1)
    started = start_stack(env, log_dir, "ui")
    yield started
    started.stop()
