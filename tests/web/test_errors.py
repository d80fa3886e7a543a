"""Errors are rendered in the envelope of the route's dialect, never as a stack trace."""

import pytest

pytestmark = pytest.mark.e2e


async def test_a_wrong_method_answers_in_the_routes_dialect(client):
    ollama = await client.get("/api/chat")
    assert ollama.status_code == 405 and isinstance(ollama.json()["error"], str)
    openai = await client.get("/v1/chat/completions")
    assert openai.status_code == 405
    assert openai.json()["error"]["code"] == "method_not_allowed"
    native = await client.get("/api/v1/generate")
    assert native.status_code == 405
    assert native.json()["error"]["type"] == "method_not_allowed"


async def test_an_invalid_body_is_400_in_openai_and_ollama_and_422_natively(client):
    assert (await client.post("/v1/chat/completions", json={"model": 1})).status_code == 400
    assert (await client.post("/api/chat", json={"model": []})).status_code == 400
    assert (await client.post("/api/v1/generate", json={"prompt": 1})).status_code == 422


async def test_an_unknown_path_is_a_native_404(client):
    r = await client.get("/no/such/thing")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"
