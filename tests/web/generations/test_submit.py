"""Submitting: what cannot travel is the sender's problem alone, refused in the dialect's own
shape before anything is queued; a client told 503 never has its generation run."""

import pytest

from tests.conftest import key_client
from tests.helpers import directive, final_record, sim_records, unique

pytestmark = pytest.mark.e2e

NUL, SURROGATE = "\\u0000", "\\ud800"  # as JSON escapes, the way a client sends them


def _json(template: str, bad: str) -> bytes:
    return template.replace("BAD", bad).encode()


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
@pytest.mark.parametrize(
    ("path", "template", "status", "param"),
    [
        ("/api/v1/generate", '{"prompt": "a BAD b"}', 422, "prompt"),
        (
            "/v1/chat/completions",
            '{"model": "qwen3:8b", "messages": [{"role": "user", "content": "x BAD"}]}',
            400,
            "messages.0.content",
        ),
        ("/api/generate", '{"model": "qwen3:8b", "prompt": "p", "system": "BAD"}', 400, "system"),
    ],
)
async def test_text_that_cannot_travel_is_refused_before_anything_is_queued(
    client, sim, path, template, status, param, bad
):
    r = await client.post(
        path, content=_json(template, bad), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == status, r.text
    body = r.json()
    message = body["error"] if isinstance(body["error"], str) else body["error"]["message"]
    # Ours names what is wrong; pydantic itself refuses a surrogate in a strict str field.
    assert param in message
    assert any(word in message for word in ("U+0000", "surrogate", "unicode"))
    if path.startswith("/v1/"):
        assert body["error"]["param"] == param
    assert (await sim.get("/sim/requests")).json() == [], "nothing reached Ollama"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "qwen3:8b", "messages": [], "seed": 2**64}),
        (
            "/v1/chat/completions",
            {"model": "qwen3:8b", "messages": [{"role": "user", "content": "x"}], "seed": 2**64},
        ),
        ("/api/generate", {"model": "qwen3:8b", "prompt": "p", "options": {"num_predict": 2**70}}),
    ],
)
async def test_integers_beyond_64_bits_are_refused(client, sim, path, body):
    r = await client.post(path, json=body)
    assert r.status_code == 400, r.text
    assert (await sim.get("/sim/requests")).json() == []


async def test_every_text_the_model_reads_counts_against_max_prompt_chars(client, sim):
    body = {"model": "qwen3:8b", "prompt": "short", "system": "s" * 100_001, "stream": False}
    r = await client.post("/api/generate", json=body)
    assert r.status_code == 400 and "MAX_PROMPT_CHARS" in r.json()["error"]
    assert (await sim.get("/sim/requests")).json() == []


async def test_an_answer_holding_nul_is_relayed_exactly_and_stored_safely(client, sessions):
    prompt = directive(tokens=["before ", "\u0000", " after"]) + unique()
    r = await client.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 200 and r.json()["response"] == "before \u0000 after"
    row = await final_record(sessions, r.json()["id"])
    assert row.status == "succeeded" and row.response == "before \ufffd after"


async def test_a_client_told_503_never_has_its_generation_run(databaseless_stack, sim):
    async with key_client(databaseless_stack, databaseless_stack.env["MASTER_API_KEY"]) as http:
        prompt = unique()
        r = await http.post("/api/v1/generate", json={"prompt": prompt})
    assert r.status_code == 503 and r.json()["error"]["type"] == "dependency_unavailable"
    assert await sim_records(sim, prompt) == []
