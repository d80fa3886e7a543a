"""The page's tests drive it in headless Chromium (tests/web/conftest.py), each in a fresh
browser context (its own session storage), against the real API and worker."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import MASTER_KEY
from tests.tcp_proxy import TcpProxy


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A tab of its own; a script error on the page fails the test."""
    context = await browser.new_context()
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    await context.close()
    assert errors == [], errors


async def open_ui(page: Any, base_url: str, key: str = MASTER_KEY, view: str = "") -> None:
    """Open /ui, enter the key, wait until the models it may use are listed."""
    await page.goto(f"{base_url}/ui{'#' + view if view else ''}")
    await page.get_by_test_id("api-key").fill(key)
    await page.get_by_test_id("api-key").press("Enter")
    # Functions, not expressions: the page's CSP forbids eval, which an expression would need.
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=model]').options.length > 0"
    )


async def output_and_status(page: Any) -> tuple[str, str]:
    """The streamed text and the status line, read at one instant."""
    found = await page.evaluate(
        "() => [document.querySelector('[data-testid=output]').textContent,"
        " document.querySelector('[data-testid=status]').textContent]"
    )
    return found[0], found[1]


async def wait_for_text(page: Any, at_least: int) -> str:
    """The output once it holds at least `at_least` characters (the stream is under way)."""
    await page.wait_for_function(
        f"() => document.querySelector('[data-testid=output]').textContent.length >= {at_least}",
        timeout=15_000,
    )
    return (await output_and_status(page))[0]


@pytest.fixture
async def proxy(ui_stack: Any) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the UI stack's API, to cut the browser's connections with."""
    started = await TcpProxy("127.0.0.1", int(ui_stack.url.rsplit(":", 1)[1])).start()
    yield started
    await started.aclose()
