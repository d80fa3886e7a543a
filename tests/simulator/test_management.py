"""Models coming and going: pull, push, create, copy, delete and blobs, as Ollama answers them."""

import hashlib

import pytest

from tests.simulator.parse import lines

MANIFESTS = "/root/.ollama/models/manifests"


async def names(sim) -> list[str]:
    return [m["name"] for m in (await sim.get("/api/tags")).json()["models"]]


async def test_pull_streams_progress_and_installs_the_model(sim):
    r = await sim.post("/api/pull", json={"model": "llama3.2"})
    assert r.headers["content-type"].startswith("application/x-ndjson")
    steps = lines(r.text)
    assert steps[0] == {"status": "pulling manifest"} and steps[-1] == {"status": "success"}
    assert steps[-3:-1] == [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]
    layer = steps[2]
    assert (
        layer["status"] == f"pulling {layer['digest'][7:19]}"
        and layer["completed"] == layer["total"]
    )
    assert "completed" not in steps[1], "omitempty: nothing completed yet"
    assert (await names(sim))[0] == "llama3.2:latest", "the newest model is listed first"
    show = (await sim.post("/api/show", json={"model": "llama3.2"})).json()
    assert (
        show["capabilities"] == ["completion", "tools"]
        and show["model_info"]["llama.context_length"] == 131072
    )


async def test_pull_without_stream_answers_the_last_status(sim):
    r = await sim.post("/api/pull", json={"name": "nomic-embed-text", "stream": False})
    assert r.status_code == 200 and r.json() == {"status": "success"}
    tags = (await sim.get("/api/tags")).json()["models"]
    assert tags[0]["capabilities"] == ["embedding"]
    r = await sim.post("/api/pull", json={"model": ""})
    assert r.status_code == 400 and r.json() == {"error": "invalid model name"}


async def test_push(sim):
    steps = lines((await sim.post("/api/push", json={"model": "qwen3:8b"})).text)
    assert steps[0] == {"status": "retrieving manifest"} and steps[-2:] == [
        {"status": "pushing manifest"},
        {"status": "success"},
    ]
    assert steps[1]["status"].startswith("pushing ") and steps[1]["digest"].startswith("sha256:")
    missing = lines((await sim.post("/api/push", json={"model": "me/nope:1"})).text)
    assert missing == [
        {"status": "retrieving manifest"},
        {"status": "couldn't retrieve manifest"},
        {"error": f"open {MANIFESTS}/registry.ollama.ai/me/nope/1: no such file or directory"},
    ]
    r = await sim.post("/api/push", json={"model": "me/nope:1", "stream": False})
    assert r.status_code == 500 and r.json()["error"].endswith("no such file or directory")
    r = await sim.post("/api/push", json={})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}


async def test_create_from_a_model(sim):
    body = {
        "model": "mario",
        "from": "qwen3:8b",
        "system": "You are Mario.",
        "parameters": {"temperature": 0.2},
    }
    steps = lines((await sim.post("/api/create", json=body)).text)
    assert steps[0]["status"].startswith("using existing layer sha256:")
    assert [s["status"].split(" sha256:")[0] for s in steps[1:3]] == ["creating new layer"] * 2
    assert steps[-2:] == [{"status": "writing manifest"}, {"status": "success"}]
    show = (await sim.post("/api/show", json={"model": "mario"})).json()
    assert (
        show["system"] == "You are Mario."
        and show["parameters"] == "temperature                    0.2"
    )
    assert show["details"]["parent_model"] == "qwen3:8b" and show["capabilities"] == [
        "completion",
        "tools",
        "thinking",
    ]
    r = await sim.post(
        "/api/chat",
        json={"model": "mario", "messages": [{"role": "user", "content": "hi"}], "stream": False},
    )
    assert r.status_code == 200 and r.json()["model"] == "mario"


async def test_create_from_pushed_blobs(sim):
    data = b"GGUF" + bytes(100)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    body = {"model": "mine:v1", "files": {"model.gguf": digest}, "stream": False}
    r = await sim.post("/api/create", json=body)
    assert r.status_code == 500
    blob = f"/root/.ollama/models/blobs/{digest.replace(':', '-')}"
    assert r.json() == {"error": f"open {blob}: no such file or directory"}
    assert (await sim.head(f"/api/blobs/{digest}")).status_code == 404
    assert (await sim.post(f"/api/blobs/{digest}", content=data)).status_code == 201
    assert (await sim.head(f"/api/blobs/{digest}")).status_code == 200
    assert (
        await sim.post(f"/api/blobs/{digest}", content=data)
    ).status_code == 200, "already there"
    assert (await sim.post("/api/create", json=body)).json() == {"status": "success"}
    assert "mine:v1" in await names(sim)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"model": "x"}, "neither 'from' or 'files' was specified"),
        ({"model": "bad name", "from": "qwen3:8b"}, "invalid model name"),
        ({"model": "x", "files": {"/etc/passwd": "sha256:00"}}, "file path must be relative"),
        ({"model": "x", "files": {"a.gguf": ""}}, "invalid digest format"),
    ],
)
async def test_create_errors(sim, body, error):
    r = await sim.post("/api/create", json=body)
    assert r.status_code == 400 and r.json() == {"error": error}


async def test_blob_errors(sim):
    r = await sim.post("/api/blobs/sha256:" + "0" * 64, content=b"x")
    expected = "sha256:" + hashlib.sha256(b"x").hexdigest()
    assert r.status_code == 400
    assert r.json() == {"error": f'digest mismatch, expected "sha256:{"0" * 64}", got "{expected}"'}
    r = await sim.head("/api/blobs/md5:abc")
    assert r.status_code == 400
    assert (await sim.post("/api/blobs/md5:abc")).json() == {"error": "invalid digest format"}


async def test_copy(sim):
    r = await sim.post("/api/copy", json={"source": "qwen3:8b", "destination": "backup:1"})
    assert r.status_code == 200 and r.content == b""
    tags = {m["name"]: m for m in (await sim.get("/api/tags")).json()["models"]}
    assert tags["backup:1"]["digest"] == tags["qwen3:8b"]["digest"], "a copy is the same manifest"
    r = await sim.post("/api/copy", json={"source": "nope", "destination": "x"})
    assert r.status_code == 404 and r.json() == {"error": 'model "nope" not found'}
    r = await sim.post("/api/copy", json={"source": "qwen3:8b", "destination": "bad name"})
    assert r.status_code == 400 and r.json() == {"error": 'destination "bad name" is invalid'}


async def test_delete(sim):
    r = await sim.request("DELETE", "/api/delete", json={"model": "qwen3:8b"})
    assert r.status_code == 200 and r.content == b""
    assert await names(sim) == ["all-minilm:latest"]
    r = await sim.request("DELETE", "/api/delete", json={"model": "qwen3:8b"})
    assert r.status_code == 404 and r.json() == {"error": "model 'qwen3:8b' not found"}
    r = await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p"})
    assert r.status_code == 404


async def test_each_records_itself(sim):
    await sim.post("/api/pull", json={"model": "llama3.2", "stream": False})
    await sim.post("/api/copy", json={"source": "llama3.2", "destination": "l2"})
    await sim.request("DELETE", "/api/delete", json={"model": "nope"})
    await sim.head("/api/blobs/sha256:" + "1" * 64)
    records = (await sim.get("/sim/requests")).json()
    assert [(r["path"], r["model"], r["status"], r["outcome"]) for r in records] == [
        ("/api/pull", "llama3.2:latest", 200, "completed"),
        ("/api/copy", "llama3.2", 200, "completed"),
        ("/api/delete", "nope", 404, "rejected"),
        ("/api/blobs/sha256:" + "1" * 64, "", 404, "rejected"),
    ]
    assert records[1]["extras"] == {"source": "llama3.2", "destination": "l2"}
