"""The application and its command line: routes, gin's 404 and 405, /sim/config, the flags."""

import httpx

from simulator.__main__ import parse_args
from simulator.embed import embedding_for
from simulator.script import thinking_for, tokens_for
from tests.simulator.parse import lines


async def test_unknown_paths_and_methods_are_gins_answers(sim):
    r = await sim.get("/api/nothing")
    assert r.status_code == 404 and r.text == "404 page not found"
    r = await sim.get("/api/generate")
    assert r.status_code == 405 and r.text == "405 method not allowed"


async def test_the_pace_can_change_while_running(sim):
    r = await sim.post("/sim/config", json={"tokens": 3, "think_tokens": 1})
    assert r.json() == {
        "tokens": 3,
        "rate": 0.0,
        "ttft": 0.0,
        "think_tokens": 1,
        "implicit_think_tokens": 0,
    }
    body = {"model": "qwen3:8b", "prompt": "p", "think": True, "stream": False}
    answer = (await sim.post("/api/generate", json=body)).json()
    assert answer["response"] == "".join(tokens_for("p", 3))
    assert answer["thinking"] == "".join(thinking_for("p", 1))


def test_flags_and_their_defaults():
    args = parse_args([])
    assert (args.model, args.embed_model, args.embed_dim, args.tokens) == (None, None, None, 20)
    assert (args.think_tokens, args.implicit_think_tokens, args.parallel, args.max_queue) == (
        4,
        0,
        0,
        512,
    )
    args = parse_args(["--embed-model", "a", "--embed-model", "b", "--embed-dim", "8"])
    assert args.embed_model == ["a", "b"] and args.embed_dim == 8


async def test_python_dash_m_simulator_serves_its_flags(run_simulator):
    url = run_simulator(
        *("--model", "llama3.2:3b", "--model", "qwen3:8b", "--embed-model", "nomic-embed-text"),
        *("--embed-dim", "16", "--tokens", "3", "--implicit-think-tokens", "2"),
    )
    async with httpx.AsyncClient(base_url=url, timeout=10) as sim:
        tags = (await sim.get("/api/tags")).json()["models"]
        assert sorted(m["name"] for m in tags) == [
            "llama3.2:3b",
            "nomic-embed-text:latest",
            "qwen3:8b",
        ]
        parts = lines(
            (await sim.post("/api/generate", json={"model": "qwen3:8b", "prompt": "p"})).text
        )
        assert [p.get("thinking") for p in parts[:2]] == thinking_for("p", 2)
        assert [p["response"] for p in parts[2:-1]] == tokens_for("p", 3)
        body = {"model": "nomic-embed-text", "input": "x"}
        (vector,) = (await sim.post("/api/embed", json=body)).json()["embeddings"]
        assert len(vector) == 16 == len(embedding_for("nomic-embed-text:latest", "x", 16))
        r = await sim.post(
            "/api/generate", json={"model": "llama3.2:3b", "prompt": "p", "think": True}
        )
        assert r.status_code == 400
