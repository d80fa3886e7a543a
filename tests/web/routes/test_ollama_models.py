"""What the Ollama dialect says about models (/api/tags, /api/ps, /api/show: Ollama's answers,
for the allowed models only) and the operator's model management (pull, push, create, copy,
delete, blobs: passed on for the master key and admin keys, 403 for any other)."""

import hashlib

import httpx
import orjson
import pytest

from tests.conftest import AUTH, EMBED_MODEL, MODEL, key_client

pytestmark = pytest.mark.e2e

OTHER = "llama3.2:1b"  # a model Ollama has but no key may use


@pytest.fixture
async def other_model(sim):
    """OTHER pulled into the simulator (and loaded), not through the server."""
    assert (await sim.post("/api/pull", json={"model": OTHER, "stream": False})).status_code == 200
    await sim.post("/api/generate", json={"model": OTHER, "stream": False})
    yield OTHER
    await sim.request("DELETE", "/api/delete", json={"model": OTHER})


def is_ollamas_error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    assert list(r.json()) == ["error"] and isinstance(r.json()["error"], str)
    return str(r.json()["error"])


async def test_tags_are_ollamas_entries_of_the_allowed_models(client, sim, other_model):
    listed = (await sim.get("/api/tags")).json()["models"]
    assert [m["model"] for m in listed] == [OTHER, EMBED_MODEL, MODEL]
    answer = (await client.get("/api/tags")).json()
    assert answer == {"models": listed[1:]}
    assert answer["models"][1]["size"] > 0 and answer["models"][1]["details"]["family"] == "qwen3"


async def test_ps_lists_the_allowed_models_ollama_has_loaded(client, sim, other_model):
    await client.post("/api/generate", json={"model": MODEL})  # loads it
    running = (await sim.get("/api/ps")).json()["models"]
    assert OTHER in [m["model"] for m in running]
    answer = (await client.get("/api/ps")).json()["models"]
    assert answer == [m for m in running if m["model"] != OTHER]
    assert MODEL in [m["model"] for m in answer]


async def test_show_is_ollamas_answer_for_an_allowed_model(client, sim, other_model):
    ours = await client.post("/api/show", json={"model": MODEL})
    assert ours.json() == (await sim.post("/api/show", json={"model": MODEL})).json()
    assert ours.json()["model_info"]["qwen3.context_length"] > 0
    by_name = await client.post("/api/show", json={"name": "all-minilm", "verbose": True})
    assert by_name.json()["details"]["family"] == "bert"
    r = await client.post("/api/show", json={"model": OTHER})
    assert is_ollamas_error(r, 404) == f"model '{OTHER}' not found"
    assert is_ollamas_error(await client.post("/api/show", json={}), 400) == "model is required"
    shown = [
        r["model"] for r in (await sim.get("/sim/requests")).json() if r["path"] == "/api/show"
    ]
    assert shown == [MODEL, MODEL, EMBED_MODEL]


async def test_an_allowed_model_ollama_lacks_is_its_404(missing_model_stack):
    async with httpx.AsyncClient(base_url=missing_model_stack.url, headers=AUTH) as http:
        r = await http.post("/api/show", json={"model": "missing-model:1b"})
        assert is_ollamas_error(r, 404) == "model 'missing-model:1b' not found"
        assert "missing-model:1b" not in str((await http.get("/api/tags")).json())


async def test_listings_with_ollama_unreachable_are_a_clear_503(unreachable_stack):
    async with httpx.AsyncClient(base_url=unreachable_stack.url, headers=AUTH) as http:
        for r in (await http.get("/api/tags"), await http.get("/api/ps")):
            assert is_ollamas_error(r, 503) == "cannot reach Ollama"
            assert r.headers["retry-after"] == "5"
        r = await http.post("/api/show", json={"model": MODEL})
        assert is_ollamas_error(r, 503) == "cannot reach Ollama"


DIGEST = "sha256:" + "0" * 64
MANAGEMENT = [
    ("POST", "/api/pull", {"model": "tinyllama"}),
    ("POST", "/api/push", {"model": MODEL}),
    ("POST", "/api/create", {"model": "mine", "from": MODEL}),
    ("POST", "/api/copy", {"source": MODEL, "destination": "mine"}),
    ("DELETE", "/api/delete", {"model": MODEL}),
    ("HEAD", f"/api/blobs/{DIGEST}", None),
    ("POST", f"/api/blobs/{DIGEST}", None),
]


async def test_model_management_is_403_for_a_key_that_is_not_the_operators(stack, sim, new_key):
    key = (await new_key("user"))["key"]
    async with key_client(stack, key) as http:
        for method, path, body in MANAGEMENT:
            r = await http.request(method, path, json=body)
            assert r.status_code == 403, (method, path)
            if method != "HEAD":
                assert "master key or an admin key" in is_ollamas_error(r, 403)
    async with key_client(stack, None) as http:
        r = await http.post("/api/pull", json={"model": "tinyllama"})
        is_ollamas_error(r, 401)
    assert (await sim.get("/sim/requests")).json() == []


async def test_pull_streams_ollamas_progress_for_the_master_key(client, sim):
    try:
        r = await client.post("/api/pull", json={"model": "tinyllama"})
        assert r.status_code == 200 and r.headers["content-type"] == "application/x-ndjson"
        lines = [orjson.loads(line) for line in r.content.splitlines()]
        direct = await sim.post("/api/pull", json={"model": "tinyllama"})
        assert lines == [orjson.loads(line) for line in direct.content.splitlines()]
        assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
        whole = await client.post("/api/pull", json={"model": "tinyllama", "stream": False})
        assert whole.json() == {"status": "success"}
        assert "tinyllama:latest" in [
            m["model"] for m in (await sim.get("/api/tags")).json()["models"]
        ]
        # Pulled, but not allowed: the listing a key sees does not change.
        assert "tinyllama:latest" not in str((await client.get("/api/tags")).json())
    finally:
        await sim.request("DELETE", "/api/delete", json={"model": "tinyllama"})


async def test_an_admin_key_creates_copies_and_deletes(stack, sim, new_key):
    key = (await new_key("operator", admin=True))["key"]
    async with key_client(stack, key) as http:
        body = {"model": "terse", "from": MODEL, "system": "Answer in one word.", "stream": False}
        assert (await http.post("/api/create", json=body)).json() == {"status": "success"}
        r = await http.post("/api/copy", json={"source": "terse", "destination": "terse2"})
        assert (r.status_code, r.content) == (200, b"")
        r = await http.request("DELETE", "/api/delete", json={"model": "terse2"})
        assert (r.status_code, r.content) == (200, b"")
        r = await http.request("DELETE", "/api/delete", json={"model": "terse2"})
        assert is_ollamas_error(r, 404) == "model 'terse2' not found"
        r = await http.post("/api/copy", json={"source": "absent", "destination": "x"})
        assert is_ollamas_error(r, 404) == 'model "absent" not found'
        r = await http.post("/api/push", json={"model": "absent"})
        last = orjson.loads(r.content.splitlines()[-1])
        assert r.status_code == 200 and "no such file or directory" in last["error"]
    show = (await sim.post("/api/show", json={"model": "terse"})).json()
    assert show["system"] == "Answer in one word."
    await sim.request("DELETE", "/api/delete", json={"model": "terse"})
    reached = [(r["path"], r["outcome"]) for r in (await sim.get("/sim/requests")).json()]
    assert reached[:4] == [
        ("/api/create", "completed"),
        ("/api/copy", "completed"),
        ("/api/delete", "completed"),
        ("/api/delete", "rejected"),
    ]


async def test_blobs_are_checked_and_uploaded_as_they_came(client, sim):
    data = b"GGUF" + bytes(range(256)) * 64
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = await client.head(f"/api/blobs/{digest}")
    assert (r.status_code, r.content) == (404, b"")
    r = await client.post(
        f"/api/blobs/{digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 201
    assert (await client.head(f"/api/blobs/{digest}")).status_code == 200
    r = await client.post(f"/api/blobs/{DIGEST}", content=data)
    assert is_ollamas_error(r, 400).startswith("digest mismatch")
    uploaded = [r for r in (await sim.get("/sim/requests")).json() if r["outcome"] == "completed"]
    assert [r["extras"] for r in uploaded] == [
        {"digest": digest, "bytes": len(data)},
        {"digest": digest},
    ]


async def test_a_blob_larger_than_max_body_bytes_uploads_for_the_operator(client, stack, new_key):
    # A GGUF file is gigabytes: the body limit does not apply to the operator's blob uploads
    # (another key is refused before a byte of its body is read).
    data = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32)  # 3 MiB > MAX_BODY_BYTES
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    async with key_client(stack, (await new_key("no blobs"))["key"]) as other:
        r = await other.post(f"/api/blobs/{digest}", content=data)
    assert is_ollamas_error(r, 403)
    r = await client.post(f"/api/blobs/{digest}", content=data)
    assert r.status_code == 201, r.text
    assert (await client.head(f"/api/blobs/{digest}")).status_code == 200
