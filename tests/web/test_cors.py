"""CORS_ORIGINS (web/cors.py): an allowed origin gets CORS headers on every dialect, on errors and
on the preflight; any other origin gets none; a real browser can call the API from an allowed
origin and is refused from another."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests import processes
from tests.conftest import AUTH, MASTER_KEY, MODEL, Stack, stack_env
from tests.helpers import directive, unique

pytestmark = pytest.mark.e2e

OTHER = "http://allowed.example"
STRANGER = "http://stranger.example"
REQUESTED_HEADERS = "authorization, content-type, last-event-id, x-api-key"


@pytest.fixture(scope="module")
def cors_stack(database_url: str, simulator: str, log_dir: Path) -> Iterator[Stack]:
    """A stack whose CORS_ORIGINS allows OTHER and its own address under the name `localhost`
    (which a browser treats as another origin than 127.0.0.1)."""
    port = processes.free_port()
    env = stack_env(
        database_url, "cors", simulator, CORS_ORIGINS=f"http://localhost:{port}, {OTHER}"
    )
    worker = processes.ready_worker(env, log_dir, "cors-worker")
    started = Stack(f"http://127.0.0.1:{port}", processes.api(port, env, log_dir), worker, env)
    yield started
    started.stop()


@pytest.fixture
async def http(cors_stack: Stack, redis_of) -> AsyncIterator[httpx.AsyncClient]:
    await redis_of(cors_stack)
    async with httpx.AsyncClient(base_url=cors_stack.url, timeout=30) as client:
        yield client


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def preflight(origin: str, method: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": REQUESTED_HEADERS,
    }


GENERATION = f"/api/v1/generations/{uuid.uuid4()}"
ROUTES = [
    ("POST", "/api/v1/generate"),
    ("GET", f"{GENERATION}/stream"),
    ("POST", f"{GENERATION}/cancel"),
    ("GET", "/api/v1/queue"),
    ("POST", "/v1/chat/completions"),
    ("GET", "/v1/models"),
    ("POST", "/api/chat"),
    ("POST", "/api/generate"),
    ("GET", "/api/tags"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_an_allowed_origins_preflight_is_answered_on_every_dialect(http, method, path):
    r = await http.options(path, headers=preflight(OTHER, method))
    assert r.status_code == 200
    allowed = cors_headers(r)
    assert allowed["access-control-allow-origin"] == OTHER
    assert method in allowed["access-control-allow-methods"]
    assert set(REQUESTED_HEADERS.split(", ")) <= {
        h.strip().lower() for h in allowed["access-control-allow-headers"].split(",")
    }


async def test_answers_and_errors_to_an_allowed_origin_carry_cors_headers(http):
    origin = {"Origin": OTHER}
    answers = [
        await http.get("/v1/models", headers=origin),  # no key: 401
        await http.get("/v1/models", headers={**origin, **AUTH}),
        await http.post(
            "/api/chat", headers={**origin, **AUTH}, json={"model": MODEL, "messages": "?"}
        ),
        await http.post("/api/v1/generate", headers={**origin, **AUTH}, json={"prompt": ""}),
        await http.get(f"{GENERATION}", headers={**origin, **AUTH}),  # 404
    ]
    assert [r.status_code for r in answers] == [401, 200, 400, 422, 404]
    for r in answers:
        assert r.headers["access-control-allow-origin"] == OTHER
        exposed = r.headers["access-control-expose-headers"]
        assert "X-Generation-ID" in exposed and "X-Request-ID" in exposed
        assert "Origin" in r.headers["vary"]


async def test_a_stream_to_an_allowed_origin_carries_cors_headers(http):
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": directive(tokens=["a", "b"]) + unique()}],
        "stream": True,
    }
    headers = {"Origin": OTHER, **AUTH}
    async with http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as r:
        text = "".join([chunk async for chunk in r.aiter_text()])
    assert r.status_code == 200 and "data: [DONE]" in text
    assert r.headers["access-control-allow-origin"] == OTHER
    assert r.headers["x-generation-id"]


@pytest.mark.parametrize(("method", "path"), ROUTES[:1] + ROUTES[4:5] + ROUTES[6:7])
async def test_another_origin_gets_no_cors_headers(http, method, path):
    refused = await http.options(path, headers=preflight(STRANGER, method))
    assert cors_headers(refused) == {} and refused.status_code != 200
    answer = await http.get("/v1/models", headers={"Origin": STRANGER, **AUTH})
    assert answer.status_code == 200 and cors_headers(answer) == {}
    assert "Origin" in answer.headers["vary"]


async def test_without_cors_origins_there_are_no_cors_headers(client):
    answer = await client.get("/v1/models", headers={"Origin": OTHER})
    refused = await client.options("/v1/chat/completions", headers=preflight(OTHER, "POST"))
    assert answer.status_code == 200
    assert cors_headers(answer) == {} and cors_headers(refused) == {}


FETCH_CHAT = """async ([url, key, model]) => {
    try {
        const r = await fetch(url, {
            method: "POST",
            headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
            body: JSON.stringify({model, stream: true,
                                  messages: [{role: "user", content: "hello"}]}),
        });
        return {status: r.status, id: r.headers.get("X-Generation-ID"), text: await r.text()};
    } catch (error) {
        return {refused: String(error)};
    }
}"""


async def test_a_browser_calls_the_api_from_an_allowed_origin_only(browser, cors_stack):
    port = cors_stack.url.rsplit(":", 1)[1]
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"http://localhost:{port}/healthz")  # a page of an allowed origin
        allowed = await page.evaluate(
            FETCH_CHAT, [f"http://127.0.0.1:{port}/v1/chat/completions", MASTER_KEY, MODEL]
        )
        await page.goto(f"http://127.0.0.1:{port}/healthz")  # of an origin not allowed
        refused = await page.evaluate(
            FETCH_CHAT, [f"http://localhost:{port}/v1/chat/completions", MASTER_KEY, MODEL]
        )
    finally:
        await context.close()
    assert allowed["status"] == 200 and allowed["id"], allowed
    assert allowed["text"].rstrip().endswith("data: [DONE]")
    assert "refused" in refused, refused
