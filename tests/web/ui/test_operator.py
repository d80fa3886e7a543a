"""The operator view (web/ui/static/operator.js) in a real browser: with the master key the queue,
the workers, recent generations and the keys, and a key made and revoked from the page; with any
other key only what the API lets that key see."""

import httpx
import pytest
from playwright.async_api import expect

from tests.conftest import AUTH
from tests.helpers import directive, unique
from tests.web.ui.conftest import open_ui

pytestmark = pytest.mark.e2e


@pytest.fixture
async def ui(ui_stack, redis_of):
    await redis_of(ui_stack)
    return ui_stack.url


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def generate(base_url: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        r = await http.post("/api/v1/generate", json={"prompt": directive(n=5) + unique()})
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def test_the_master_key_sees_the_queue_generations_and_keys(page, ui):
    generation = await generate(ui, AUTH)
    await open_ui(page, ui, view="operator")
    await expect(page.get_by_test_id("queue-workers")).to_have_text("1", timeout=10_000)
    await expect(page.get_by_test_id("queue-slots")).to_have_text("1")
    await expect(page.get_by_test_id("workers").locator("tbody tr")).to_have_count(1)
    done = page.locator(f'[data-testid=generations] tr[data-generation="{generation}"]')
    await expect(done).to_contain_text("succeeded", timeout=10_000)
    await expect(done).to_contain_text("master")
    # Queue, first token, generation, total: each a measured time.
    assert (await done.inner_text()).count(" s") >= 4


async def test_a_key_made_on_the_page_works_and_revoked_there_is_refused(page, ui):
    name = unique("from the page")
    await open_ui(page, ui, view="operator")
    await page.get_by_test_id("new-key-name").fill(name)
    await page.get_by_test_id("new-key-rpm").fill("7")
    await page.get_by_test_id("create-key").click()
    shown = page.get_by_test_id("created-key-value")
    await expect(shown).to_be_visible(timeout=10_000)
    key = await shown.text_content()
    assert key.startswith("llm_")
    row = page.locator("[data-testid=keys] tbody tr", has_text=name)
    await expect(row).to_contain_text("active")
    await expect(row).to_contain_text("7")

    async with httpx.AsyncClient(base_url=ui, headers=bearer(key), timeout=30) as as_key:
        assert (await as_key.get("/v1/models")).status_code == 200
        page.once("dialog", lambda dialog: dialog.accept())
        await row.get_by_test_id("revoke").click()
        await expect(row).to_contain_text("revoked", timeout=10_000)
        assert (await as_key.get("/v1/models")).status_code == 401


async def test_another_key_sees_only_what_the_api_lets_it(page, ui):
    async with httpx.AsyncClient(base_url=ui, headers=AUTH, timeout=30) as http:
        made = (await http.post("/api/v1/keys", json={"name": unique("plain")})).json()
    own = await generate(ui, bearer(made["key"]))
    others = await generate(ui, AUTH)
    await open_ui(page, ui, key=made["key"], view="operator")
    await expect(page.get_by_test_id("operator-status")).to_contain_text(
        "master key", timeout=10_000
    )
    mine = page.locator(f'[data-testid=generations] tr[data-generation="{own}"]')
    await expect(mine).to_be_visible()
    assert await page.locator(f'tr[data-generation="{others}"]').count() == 0
    assert await page.locator("[data-testid=keys] tbody tr").count() == 0
    await expect(page.get_by_test_id("workers")).to_be_hidden()  # worker_list: master only


async def test_a_keys_usage_and_budget_are_on_the_page(page, ui):
    async with httpx.AsyncClient(base_url=ui, headers=AUTH, timeout=30) as http:
        made = (
            await http.post(
                "/api/v1/keys",
                json={"name": unique("budgeted"), "tokens_per_day": 100000, "priority": "batch"},
            )
        ).json()
    await generate(ui, bearer(made["key"]))
    await open_ui(page, ui, key=made["key"], view="operator")
    await expect(page.get_by_test_id("usage-generations-30-days")).to_have_text("1", timeout=10_000)
    today = page.get_by_test_id("usage-tokens-today")
    await expect(today).to_contain_text("of 100000")
    assert 0 < int((await today.text_content()).split()[0]) < 100000


async def test_the_master_sees_each_keys_priority_budget_and_tokens_today(page, ui):
    name = unique("nightly")
    await open_ui(page, ui, view="operator")
    await page.get_by_test_id("new-key-name").fill(name)
    await page.get_by_test_id("new-key-tokens-per-day").fill("5000")
    await page.get_by_test_id("new-key-priority").select_option("batch")
    await page.get_by_test_id("create-key").click()
    shown = page.get_by_test_id("created-key-value")
    await expect(shown).to_be_visible(timeout=10_000)
    await generate(ui, bearer(await shown.text_content()))
    row = page.locator("[data-testid=keys] tbody tr", has_text=name)
    await expect(row).to_contain_text("batch")
    await expect(row).to_contain_text("5000 / none")
    tokens_today = row.locator("td").nth(8)
    await expect(tokens_today).not_to_have_text("0", timeout=10_000)
