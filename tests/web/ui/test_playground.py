"""The playground (web/ui/static/playground.js) in a real browser: a prompt's answer streams in,
the queue position shows while it waits, stop cancels it as far as Ollama, and a lost connection
or a reload resumes it with nothing lost or repeated."""

import re

import httpx
import pytest
from playwright.async_api import expect

from tests.conftest import AUTH
from tests.helpers import directive, final_record, sim_outcome, unique
from tests.web.ui.conftest import open_ui, output_and_status, wait_for_text

pytestmark = pytest.mark.e2e

WORDS = [f"word{i:02d} " for i in range(40)]
WHOLE = "".join(WORDS)


@pytest.fixture
async def ui(ui_stack, redis_of):
    """The UI stack's base URL, its namespace emptied."""
    await redis_of(ui_stack)
    return ui_stack.url


async def ask(page, prompt: str) -> None:
    await page.get_by_test_id("prompt").fill(prompt)
    await page.get_by_test_id("send").click()


async def test_the_answer_streams_in(page, ui, sessions):
    await open_ui(page, ui)
    await ask(page, directive(tokens=WORDS, rate=10) + unique())  # 4 s
    partial = await wait_for_text(page, len(WORDS[0]) * 3)
    _, status = await output_and_status(page)
    assert WHOLE.startswith(partial) and len(partial) < len(WHOLE) and status == "streaming…"
    await expect(page.get_by_test_id("status")).to_have_text("done", timeout=15_000)
    assert await page.get_by_test_id("output").text_content() == WHOLE
    generation = await page.get_by_test_id("generation-id").text_content()
    assert (await final_record(sessions, generation)).status == "succeeded"


async def test_the_queue_position_shows_while_it_waits(page, ui):
    # The stack has one slot: while another generation holds it, the page's waits first.
    async with httpx.AsyncClient(base_url=ui, headers=AUTH, timeout=30) as http:
        body = {"prompt": directive(n=60, rate=20) + unique(), "stream": True}
        async with http.stream("POST", "/api/v1/generate", json=body) as ahead:
            await open_ui(page, ui)
            await ask(page, directive(tokens=["after ", "the ", "wait"]) + unique())
            position = page.get_by_test_id("queue-position")
            await expect(position).to_be_visible(timeout=10_000)
            await expect(position).to_contain_text("position 1")
            assert await page.get_by_test_id("output").text_content() == ""
            await ahead.aread()
    await expect(page.get_by_test_id("status")).to_have_text("done", timeout=15_000)
    await expect(position).to_be_hidden()
    assert await page.get_by_test_id("output").text_content() == "after the wait"


async def test_stop_cancels_the_generation_as_far_as_ollama(page, ui, sim, sessions):
    prompt = directive(n=200, rate=20) + unique()  # 10 s
    await open_ui(page, ui)
    await ask(page, prompt)
    await wait_for_text(page, 10)
    await page.get_by_test_id("stop").click()
    await expect(page.get_by_test_id("status")).to_have_text("stopped", timeout=10_000)
    assert await page.get_by_test_id("send").is_enabled()
    record = await sim_outcome(sim, prompt, timeout=10)
    assert record["outcome"] == "client_closed" and record["tokens_sent"] < 200
    generation = await page.get_by_test_id("generation-id").text_content()
    assert (await final_record(sessions, generation)).status == "cancelled"


async def test_a_reload_resumes_a_running_generation(page, ui, sessions):
    await open_ui(page, ui)
    await ask(page, directive(tokens=WORDS, rate=10) + unique())
    before = await wait_for_text(page, len(WORDS[0]) * 5)
    generation = await page.get_by_test_id("generation-id").text_content()
    await page.reload()
    # The key and the generation live in the tab's session storage, the text does not.
    assert await page.get_by_test_id("api-key").input_value() != ""
    await expect(page.get_by_test_id("generation-id")).to_have_text(generation)
    await expect(page.get_by_test_id("status")).to_have_text("done", timeout=15_000)
    assert len(before) < len(WHOLE)
    assert await page.get_by_test_id("output").text_content() == WHOLE
    assert (await final_record(sessions, generation)).status == "succeeded"


async def test_a_lost_connection_resumes_without_losing_or_repeating_text(page, ui, proxy):
    await open_ui(page, proxy.url("http"))
    await ask(page, directive(tokens=WORDS, rate=10) + unique())
    at_cut = await wait_for_text(page, len(WORDS[0]) * 5)
    proxy.cut()  # every connection through it is closed, the stream's too
    await proxy.heal()
    await expect(page.get_by_test_id("status")).to_have_text("done", timeout=15_000)
    assert len(at_cut) < len(WHOLE)
    assert await page.get_by_test_id("output").text_content() == WHOLE


async def test_an_error_mid_stream_is_shown_as_an_error(page, ui):
    await open_ui(page, ui)
    prompt = directive(tokens=["a", "b"], fault="error_line", after=1, message="GPU fell off")
    await ask(page, prompt + unique())
    status = page.get_by_test_id("status")
    await expect(status).to_have_class(re.compile(r"\berror\b"), timeout=10_000)
    await expect(status).to_contain_text("GPU fell off")
    await expect(page.get_by_test_id("send")).to_be_enabled()
    assert await page.get_by_test_id("output").text_content() == "a"
