"""The web process's own calls to Ollama (web/upstream.py), against the simulator and servers that
misbehave for real: answers, Ollama's refusals in its words, and a bound on every wait."""

import time
from collections.abc import AsyncIterator

import orjson
import pytest

from shared.config import Settings
from shared.errors import ModelNotFound, UpstreamTimeout, UpstreamUnavailable
from tests import processes
from tests.conftest import MODEL
from tests.helpers import SilentServer, directive, unique
from web.upstream import OllamaRefused, Upstream


def upstream_of(url: str, **settings: object) -> Upstream:
    return Upstream(Settings(_env_file=None, OLLAMA_BASE_URL=url, **settings))


@pytest.fixture
async def upstream(simulator: str) -> AsyncIterator[Upstream]:
    held = upstream_of(simulator, CHUNK_TIMEOUT_SECONDS=1)
    yield held
    await held.aclose()


async def test_a_question_gets_ollamas_answer_or_its_refusal(upstream):
    assert MODEL in [m["model"] for m in (await upstream.call("GET", "/api/tags"))["models"]]
    with pytest.raises(OllamaRefused) as refused:
        await upstream.call("POST", "/api/show", {"model": "nowhere:1b"})
    assert (refused.value.status_code, refused.value.message) == (
        404,
        "model 'nowhere:1b' not found",
    )


async def test_a_load_answers_load_and_fails_as_a_generation(upstream):
    answer = await upstream.load("generate", {"model": MODEL, "prompt": ""})
    assert answer["done_reason"] == "load" and answer["response"] == ""
    with pytest.raises(ModelNotFound, match="nowhere:1b"):
        await upstream.load("chat", {"model": "nowhere:1b", "messages": []})


async def test_a_relayed_stream_that_stalls_ends_with_an_error_line(upstream, sim):
    prompt = directive(tokens=["a", "b", "c"], fault="stall", after=2) + unique()
    body = orjson.dumps({"model": MODEL, "prompt": prompt})
    relayed = await upstream.relay("POST", "/api/generate", body, "application/json")
    assert relayed.status == 200 and relayed.media_type == "application/x-ndjson"
    started = time.monotonic()
    lines = [orjson.loads(line) async for piece in relayed.body for line in piece.splitlines()]
    assert time.monotonic() - started < 5
    assert [line.get("response") for line in lines[:-1]] == ["a", "b"]
    assert lines[-1] == {"error": "Ollama sent nothing for 1 s"}
    (record,) = [r for r in (await sim.get("/sim/requests")).json() if r["prompt"] in prompt]
    assert record["outcome"] == "client_closed"  # closing the connection stopped it


async def test_a_refusal_passed_on_keeps_ollamas_status_and_words(upstream):
    body = orjson.dumps({"source": "nowhere:1b", "destination": "x"})
    with pytest.raises(OllamaRefused) as refused:
        await upstream.relay("POST", "/api/copy", body, "application/json")
    assert (refused.value.status_code, refused.value.message) == (
        404,
        'model "nowhere:1b" not found',
    )


async def test_an_unreachable_ollama_is_unavailable_at_once():
    upstream = upstream_of(f"http://127.0.0.1:{processes.free_port()}")
    try:
        with pytest.raises(UpstreamUnavailable, match="cannot reach Ollama"):
            await upstream.call("GET", "/api/ps")
        with pytest.raises(UpstreamUnavailable):
            await upstream.relay("POST", "/api/pull", b"{}", "application/json")
    finally:
        await upstream.aclose()


async def test_a_silent_ollama_is_a_timeout_not_a_hang():
    async with SilentServer() as silent:
        upstream = upstream_of(
            f"http://127.0.0.1:{silent.port}",
            OLLAMA_CONNECT_TIMEOUT_SECONDS=0.5,
            FIRST_TOKEN_TIMEOUT_SECONDS=0.5,
        )
        try:
            started = time.monotonic()
            with pytest.raises(UpstreamTimeout):
                await upstream.load("generate", {"model": MODEL, "prompt": ""})
            with pytest.raises(UpstreamTimeout):
                await upstream.relay("POST", "/api/pull", b"{}", "application/json")
            assert time.monotonic() - started < 5
        finally:
            await upstream.aclose()
