"""Idempotent submits: a retry with the same Idempotency-Key gets the first attempt's generation
(its id, its whole answer, its stream from the start) and Ollama runs it once."""

import uuid

import openai
import pytest

from tests import sse
from tests.conftest import MODEL, key_client
from tests.helpers import OpenStream, directive, final_record, sim_records, unique

pytestmark = pytest.mark.e2e


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_retry_gets_the_same_generation_and_ollama_runs_once(client, sim):
    prompt, headers = unique(), idem()
    first = await client.post("/api/v1/generate", json={"prompt": prompt}, headers=headers)
    again = await client.post("/api/v1/generate", json={"prompt": prompt}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["x-generation-id"] == first.headers["x-generation-id"]
    assert again.json() == first.json() and first.json()["response"]
    assert len(await sim_records(sim, prompt)) == 1


async def test_the_same_key_for_a_different_request_is_409(client, sim):
    headers = idem()
    assert (
        await client.post("/api/v1/generate", json={"prompt": unique()}, headers=headers)
    ).status_code == 200
    other = unique()
    r = await client.post("/api/v1/generate", json={"prompt": other}, headers=headers)
    assert r.status_code == 409 and r.json()["error"]["type"] == "conflict"
    assert "different request" in r.json()["error"]["message"]
    assert await sim_records(sim, other) == []


async def test_a_stream_retried_after_a_cut_gets_it_all_from_the_start(client, sim, sessions):
    prompt = directive(tokens=[f"t{i} " for i in range(20)], rate=40) + unique()
    body, headers = {"prompt": prompt, "stream": True}, idem()
    async with OpenStream(client, "POST", "/api/v1/generate", json=body, headers=headers) as cut:
        await cut.events(3)
        generation_id = cut.generation_id
    # The client went away (a network cut); it retries the same request.
    r = await client.post("/api/v1/generate", json=body, headers=headers)
    assert r.headers["x-generation-id"] == generation_id
    retried = sse.parse(r.text)
    assert retried.text == "".join(f"t{i} " for i in range(20))
    seqs = [int(e.id) for e in retried.events]
    assert seqs == sorted(set(seqs)), "each event once, in order"
    assert (await final_record(sessions, generation_id)).status == "succeeded"
    assert len(await sim_records(sim, prompt)) == 1


async def test_keys_do_not_share_idempotency_keys(stack, new_key, sim):
    prompt, headers = unique(), idem()
    ids = set()
    for name in ("one", "two"):
        async with key_client(stack, (await new_key(name))["key"]) as http:
            r = await http.post("/api/v1/generate", json={"prompt": prompt}, headers=headers)
            ids.add(r.headers["x-generation-id"])
    assert len(ids) == 2 and len(await sim_records(sim, prompt)) == 2


async def test_a_refused_attempt_leaves_the_key_free_for_the_retry(stack, new_key, sim, sessions):
    key = (await new_key("busy", concurrency_limit=1))["key"]
    prompt, headers = unique(), idem()
    async with key_client(stack, key) as http:
        slow = directive(n=10, rate=20) + unique()
        async with OpenStream(
            http, "POST", "/api/v1/generate", json={"prompt": slow, "stream": True}
        ) as s:
            await s.events(1)
            refused = await http.post("/api/v1/generate", json={"prompt": prompt}, headers=headers)
            assert refused.status_code == 429
            await s.rest()
        await final_record(sessions, s.generation_id)
        retried = await http.post("/api/v1/generate", json={"prompt": prompt}, headers=headers)
    assert retried.status_code == 200 and len(await sim_records(sim, prompt)) == 1


async def test_the_openai_client_with_an_idempotency_key_gets_one_completion(stack, sim):
    prompt = unique()
    client = openai.AsyncOpenAI(
        base_url=f"{stack.url}/v1", api_key=stack.env["MASTER_API_KEY"], max_retries=0
    )
    headers = idem()
    answers = [
        await client.completions.create(
            model=MODEL, prompt=prompt, max_tokens=20, extra_headers=headers
        )
        for _ in range(2)
    ]
    await client.close()
    assert answers[0].id == answers[1].id
    assert answers[0].choices[0].text == answers[1].choices[0].text
    assert len(await sim_records(sim, prompt)) == 1
