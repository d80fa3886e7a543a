"""/ui and its files (web/ui/router.py): open without a key, all from the API itself, under a
policy that lets the page run only its own scripts and talk only to its own origin."""

import re

import httpx
import pytest

from web.ui.router import STATIC

pytestmark = pytest.mark.e2e


def references(text: str) -> list[str]:
    """The files a page or a module names: src/href attributes, and module imports."""
    attributes = re.findall(r'(?:src|href)="([^"#]+)"', text)
    imports = re.findall(r'^import .* from "([^"]+)";$', text, re.M)
    return [r for r in attributes + imports if not r.startswith("data:")]


async def test_the_page_and_every_file_it_loads_are_served_without_a_key(ui_stack):
    async with httpx.AsyncClient(base_url=ui_stack.url, timeout=30) as anonymous:
        page = await anonymous.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        pending, seen = [(f"{ui_stack.url}/ui", page.text)], set()
        while pending:
            at, text = pending.pop()
            for ref in references(text):
                url = str(httpx.URL(at).join(ref))
                if url in seen or url.endswith("/docs"):
                    continue
                seen.add(url)
                served = await anonymous.get(url)
                assert served.status_code == 200, url
                assert served.headers["content-security-policy"] == policy
                if url.endswith(".js"):
                    assert served.headers["content-type"].startswith("text/javascript")
                pending.append((url, served.text))
    # Every file of static/ is part of the page (none lies around unused).
    names = {url.rsplit("/", 1)[1] for url in seen}
    assert names == {p.name for p in STATIC.iterdir()} - {"index.html"}


def test_nothing_on_the_page_comes_from_elsewhere():
    for path in STATIC.iterdir():
        text = path.read_text()
        assert not re.search(r"https?://", text), f"{path.name} names another origin"


async def test_a_file_outside_static_is_not_served(ui_stack):
    async with httpx.AsyncClient(base_url=ui_stack.url, timeout=30) as anonymous:
        for path in ["/ui/static/../router.py", "/ui/static/%2e%2e/router.py", "/ui/nothing"]:
            assert (await anonymous.get(path)).status_code == 404, path
