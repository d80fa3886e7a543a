"""Embeddings: /api/embed, /api/embeddings, /v1/embeddings, and their deterministic vectors."""

import base64
import math
import struct

import orjson
import pytest

from simulator.embed import embedding_for, float32, normalize
from simulator.wire import go_floats
from tests.simulator.parse import directive

MINILM = "all-minilm:latest"


def f32(rows: list[list[float]]) -> list[list[float]]:
    """Vectors as float32 again: Go writes a float32's shortest text, which reads as float64."""
    return [[float32(v) for v in row] for row in rows]


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def test_vectors_are_deterministic_unit_float32_vectors():
    vector = embedding_for(MINILM, "hello", 384)
    assert vector == embedding_for(MINILM, "hello", 384) != embedding_for(MINILM, "hi", 384)
    assert len(vector) == 384 and norm(vector) == pytest.approx(1, abs=1e-6)
    assert all(struct.unpack("<f", struct.pack("<f", v))[0] == v for v in vector)
    assert embedding_for("nomic-embed-text:latest", "hello", 384) != vector


async def test_embed_a_string_and_a_list(sim):
    one = (await sim.post("/api/embed", json={"model": "all-minilm", "input": "hello"})).json()
    assert list(one) == [
        "model",
        "embeddings",
        "total_duration",
        "load_duration",
        "prompt_eval_count",
    ]
    assert one["model"] == "all-minilm"
    assert f32(one["embeddings"]) == [embedding_for(MINILM, "hello", 384)]
    assert one["prompt_eval_count"] == 1
    two = await sim.post("/api/embed", json={"model": "all-minilm", "input": ["a b c", "d"]})
    assert f32(two.json()["embeddings"]) == [embedding_for(MINILM, t, 384) for t in ("a b c", "d")]
    assert two.json()["prompt_eval_count"] == 4


async def test_the_numbers_are_written_as_go_writes_float32(sim):
    raw = (await sim.post("/api/embed", json={"model": "all-minilm", "input": "x"})).content
    assert b'"embeddings":[' + go_floats(embedding_for(MINILM, "x", 384), 32) + b"]" in raw


async def test_dimensions_truncate_and_renormalise(sim):
    body = {"model": "all-minilm", "input": "hello", "dimensions": 8}
    (vector,) = f32((await sim.post("/api/embed", json=body)).json()["embeddings"])
    assert vector == normalize(embedding_for(MINILM, "hello", 384)[:8])
    assert norm(vector) == pytest.approx(1, abs=1e-6)
    body["dimensions"] = 1000  # more than the model has: ignored, as Ollama does
    assert len((await sim.post("/api/embed", json=body)).json()["embeddings"][0]) == 384


async def test_truncation_keeps_the_words_that_fit(sim):
    body = {"model": "all-minilm", "input": "one two three four", "options": {"num_ctx": 2}}
    answer = (await sim.post("/api/embed", json=body)).json()
    assert f32(answer["embeddings"]) == [embedding_for(MINILM, "one two", 384)]
    assert answer["prompt_eval_count"] == 2
    r = await sim.post("/api/embed", json={**body, "truncate": False})
    assert r.status_code == 400 and r.json() == {
        "error": "the input length exceeds the context length"
    }


async def test_empty_input_loads_the_model(sim):
    for given in ("", [], None):
        r = await sim.post("/api/embed", json={"model": "all-minilm", "input": given})
        assert r.json() == {"model": "all-minilm", "embeddings": []}
    assert [m["name"] for m in (await sim.get("/api/ps")).json()["models"]] == [MINILM]


async def test_embed_errors_are_ollamas(sim):
    r = await sim.post("/api/embed", json={"model": "qwen3:8b", "input": "x"})
    assert r.status_code == 501
    assert r.json() == {
        "error": "This server does not support embeddings. Start it with `--embeddings`"
    }
    r = await sim.post("/api/embed", json={"model": "nope", "input": "x"})
    assert r.status_code == 404 and r.json() == {
        "error": 'model "nope" not found, try pulling it first'
    }
    r = await sim.post("/api/embed", json={"model": "all-minilm", "input": [1]})
    assert r.status_code == 400 and r.json() == {"error": "invalid input type"}
    r = await sim.post("/api/embed", json={"input": "x"})
    assert r.status_code == 404 and r.json() == {"error": "model '' not found"}


async def test_the_dimension_is_the_models_or_the_flags(start):
    sim = await start(embed_models=["nomic-embed-text", "my-embedder:v1"])
    for model, dim in (("nomic-embed-text", 768), ("my-embedder:v1", 384)):
        answer = (await sim.post("/api/embed", json={"model": model, "input": "x"})).json()
        assert len(answer["embeddings"][0]) == dim
    sim = await start(embed_dim=16)
    answer = (await sim.post("/api/embed", json={"model": "all-minilm", "input": "x"})).json()
    assert f32(answer["embeddings"]) == [embedding_for(MINILM, "x", 16)]


async def test_the_older_endpoint_answers_one_float64_vector(sim):
    r = await sim.post("/api/embeddings", json={"model": "all-minilm", "prompt": "hello"})
    assert list(r.json()) == ["embedding"] and r.json()["embedding"] == embedding_for(
        MINILM, "hello", 384
    )
    assert go_floats(embedding_for(MINILM, "hello", 384), 64) in r.content
    assert (await sim.post("/api/embeddings", json={"model": "all-minilm"})).json() == {
        "embedding": []
    }
    r = await sim.post("/api/embeddings", json={"model": "qwen3:8b", "prompt": "x"})
    assert r.status_code == 500 and "does not support embeddings" in r.json()["error"]
    r = await sim.post("/api/embeddings", json={"prompt": "x"})
    assert r.status_code == 400 and r.json() == {"error": "model is required"}


async def test_directives_in_the_first_input(sim):
    prompt = directive(fault="status", status=503, message="later") + "text"
    r = await sim.post("/api/embed", json={"model": "all-minilm", "input": [prompt, "b"]})
    assert r.status_code == 503 and r.json() == {"error": "later"}
    r = await sim.post(
        "/api/embed", json={"model": "all-minilm", "input": directive(ttft=0) + "text"}
    )
    assert f32(r.json()["embeddings"]) == [embedding_for(MINILM, "text", 384)]


async def test_embeddings_are_recorded(sim):
    body = {"model": "all-minilm", "input": ["a", "b"], "truncate": True, "keep_alive": "1m"}
    await sim.post("/api/embed", json=body)
    (record,) = (await sim.get("/sim/requests")).json()
    assert (record["path"], record["model"], record["inputs"], record["prompt"]) == (
        "/api/embed",
        MINILM,
        2,
        "a",
    )
    assert record["extras"] == {"input": ["a", "b"], "truncate": True, "keep_alive": "1m"}
    assert record["outcome"] == "completed"


async def test_openai_embeddings_in_floats(sim):
    r = await sim.post("/v1/embeddings", json={"model": "all-minilm", "input": ["a", "b"]})
    assert r.headers["content-type"] == "application/json" and r.content.endswith(b"}\n")
    body = r.json()
    for item in body["data"]:
        item["embedding"] = f32([item["embedding"]])[0]
    assert body == {
        "object": "list",
        "data": [
            {"object": "embedding", "embedding": embedding_for(MINILM, "a", 384), "index": 0},
            {"object": "embedding", "embedding": embedding_for(MINILM, "b", 384), "index": 1},
        ],
        "model": "all-minilm",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }


async def test_openai_embeddings_in_base64_and_fewer_dimensions(sim):
    body = {"model": "all-minilm", "input": "a", "encoding_format": "base64", "dimensions": 4}
    (item,) = (await sim.post("/v1/embeddings", json=body)).json()["data"]
    raw = base64.b64decode(item["embedding"])
    assert list(struct.unpack("<4f", raw)) == normalize(embedding_for(MINILM, "a", 384)[:4])


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"input": "a", "encoding_format": "int8"},
            400,
            "Invalid value for 'encoding_format' = int8. Supported values: ['float', 'base64'].",
        ),
        ({"input": []}, 400, "invalid input"),
        ({}, 400, "invalid input"),
        (
            {"input": "a", "model": "qwen3:8b"},
            501,
            "This server does not support embeddings. Start it with `--embeddings`",
        ),
    ],
)
async def test_openai_embedding_errors(sim, body, status, message):
    r = await sim.post("/v1/embeddings", json={"model": "all-minilm", **body})
    assert r.status_code == status
    kind = "invalid_request_error" if status == 400 else "api_error"
    assert orjson.loads(r.content) == {
        "error": {"message": message, "type": kind, "param": None, "code": None}
    }


async def test_openai_empty_string_is_one_input(sim):
    body = (await sim.post("/v1/embeddings", json={"model": "all-minilm", "input": ""})).json()
    assert f32([d["embedding"] for d in body["data"]]) == [embedding_for(MINILM, "", 384)]
