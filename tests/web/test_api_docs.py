"""/docs and /redoc (web/api_docs.py): open without a key, every script and style from the API
itself, and working in a browser that can reach nothing else."""

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_only_files_the_api_serves(stack, page):
    import httpx

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as anonymous:
        r = await anonymous.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
        assert len(assets) >= 2
        for asset in assets:
            assert not urlsplit(asset).netloc, f"{page} loads {asset} from elsewhere"
            served = await anonymous.get(asset)
            assert served.status_code == 200 and len(served.content) > 1000, asset
        if page == "/docs":
            assert '"validatorUrl": null' in r.text  # the schema's address stays private
        schema = await anonymous.get("/openapi.json")
        assert schema.status_code == 200 and schema.json()["info"]["title"]


@pytest.mark.parametrize(
    ("page", "rendered"),
    [("/docs", ".swagger-ui .info .title"), ("/redoc", ".api-content h1")],
)
async def test_the_docs_work_with_the_network_off(browser, stack, page, rendered):
    context = await browser.new_context()
    elsewhere: list[str] = []

    async def only_the_api(route):
        if route.request.url.startswith(stack.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort("internetdisconnected")

    try:
        await context.route("**/*", only_the_api)
        tab = await context.new_page()
        await tab.goto(stack.url + page)
        title = tab.locator(rendered).first
        await title.wait_for(timeout=20_000)
        assert "Private LLM API Server" in await title.inner_text()
        assert "POST" in await tab.locator("body").inner_text()  # the operations are listed
    finally:
        await context.close()
    assert elsewhere == []
