"""What an operator sees: readiness that names the failing part, metrics that move, the queue's
state, the queue position in a waiting stream, and JSON logs with request and generation ids."""

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import sse
from tests.conftest import AUTH, key_client
from tests.helpers import directive, eventually, final_record, unique

pytestmark = pytest.mark.e2e


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


async def readiness(stack) -> httpx.Response:
    async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:

        async def settled():
            r = await http.get("/readyz")
            return r if r.status_code in (200, 503) and r.json()["checks"] else None

        return await eventually(settled)


async def test_ready_when_everything_answers(stack):
    async def ready():
        async with httpx.AsyncClient(base_url=stack.url, timeout=10) as http:
            r = await http.get("/readyz")
        return r if r.status_code == 200 else None

    r = await eventually(ready)
    assert r is not None and r.json()["status"] == "ready" and r.json()["failing"] == []
    assert r.json()["checks"]["workers"]["alive"] >= 1


@pytest.mark.parametrize(
    ("stack_name", "part", "says"),
    [
        ("workerless_stack", "workers", "no worker"),
        ("unreachable_stack", "ollama", "cannot reach Ollama"),
        ("missing_model_stack", "ollama", "does not have the model"),
        ("databaseless_stack", "postgresql", "PostgreSQL does not answer"),
    ],
)
async def test_not_ready_names_the_failing_part(request, stack_name, part, says):
    stack = request.getfixturevalue(stack_name)
    await asyncio.sleep(0.5)  # the worker's first Ollama check
    r = await readiness(stack)
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not_ready" and part in body["failing"]
    assert says in body["checks"][part]["error"]


async def test_metrics_move_across_a_generation(client, stack):
    worker_metrics = f"http://127.0.0.1:{stack.env['WORKER_METRICS_PORT']}/metrics"
    async with httpx.AsyncClient(timeout=10) as http:
        web0 = samples((await client.get("/metrics")).text)
        worker0 = samples((await http.get(worker_metrics)).text)
        prompt = directive(tokens=["a", "b", "c", "d"], rate=100) + unique()
        r = await client.post("/api/v1/generate", json={"prompt": prompt, "stream": True})
        assert sse.parse(r.text).text == "abcd"
        await asyncio.sleep(0.2)
        web1 = samples((await client.get("/metrics")).text)
        worker1 = samples((await http.get(worker_metrics)).text)
    route = {"route": "/api/v1/generate", "method": "POST", "status": "200"}
    assert (
        value(web1, "llm_http_requests_total", **route)
        == value(web0, "llm_http_requests_total", **route) + 1
    )
    assert (
        value(web1, "llm_time_to_first_token_seconds_count")
        == value(web0, "llm_time_to_first_token_seconds_count") + 1
    )
    assert ("llm_queue_depth", ()) in web1

    async def workers_alive():  # the flush at the test's start removed the heartbeats for a beat
        return value(samples((await client.get("/metrics")).text), "llm_workers_alive") >= 1

    assert await eventually(workers_alive, timeout=5)
    assert ("llm_open_streams", ()) in web1 and ("llm_jobs_running", ()) in web1
    ok = {"outcome": "succeeded"}
    assert (
        value(worker1, "llm_generations_total", **ok)
        == value(worker0, "llm_generations_total", **ok) + 1
    )
    completion = {"kind": "completion"}
    assert (
        value(worker1, "llm_tokens_total", **completion)
        == value(worker0, "llm_tokens_total", **completion) + 4
    )
    assert (
        value(worker1, "llm_time_between_chunks_seconds_count")
        == value(worker0, "llm_time_between_chunks_seconds_count") + 3
    )
    assert (
        value(worker1, "llm_queue_wait_seconds_count")
        == value(worker0, "llm_queue_wait_seconds_count") + 1
    )
    assert value(worker1, "llm_ollama_up") == 1


async def test_errors_and_cancellations_are_counted(client):
    before = samples((await client.get("/metrics")).text)
    await client.post("/api/v1/generate", json={"prompt": ""})
    after = samples((await client.get("/metrics")).text)
    invalid = {"type": "invalid_request"}
    assert (
        value(after, "llm_errors_total", **invalid)
        == value(before, "llm_errors_total", **invalid) + 1
    )


async def test_queue_status_and_position_while_no_worker_runs(workerless_stack, redis_of):
    await redis_of(workerless_stack)
    async with httpx.AsyncClient(base_url=workerless_stack.url, headers=AUTH, timeout=30) as http:
        first = asyncio.create_task(
            http.post("/api/v1/generate", json={"prompt": unique(), "stream": True})
        )
        await asyncio.sleep(0.3)
        status = (await http.get("/api/v1/queue")).json()
        assert status["depth"] == 1 and status["workers"] == 0 and status["running"] == 0
        assert status["oldest_wait_seconds"] > 0 and status["estimated_wait_seconds"] is None
        r = await first
    events = sse.parse(r.text).events
    queued = [e for e in events if e.event == "queued"]
    assert queued and queued[0].json() == {
        "response": "",
        "queue": {"position": 1, "estimated_wait_seconds": None},
    }
    assert sse.parse(r.text).text == "", "a naive client sees no text from it"
    assert events[-1].event == "error" and events[-1].json()["error"]["type"] == "queue_timeout"


async def test_queue_status_counts_the_workers_slots(client):
    status = (await client.get("/api/v1/queue")).json()
    assert (
        status["workers"] >= 1 and status["slots"] >= 4 and status["estimated_wait_seconds"] == 0.0
    )


async def test_the_master_key_sees_each_worker_in_the_queue_status(client, stack, new_key):
    body = (await client.get("/api/v1/queue")).json()
    (worker,) = body["worker_list"]
    assert worker["slots"] == body["slots"] and worker["ollama"]["ok"] is True
    made = await new_key("no-workers-for-you")
    async with key_client(stack, made["key"]) as theirs:
        assert "worker_list" not in (await theirs.get("/api/v1/queue")).json()


async def test_tokens_are_counted_per_key_and_generations_per_end_user(stack, new_key, sessions):
    worker_metrics = f"http://127.0.0.1:{stack.env['WORKER_METRICS_PORT']}/metrics"
    name, user = f"metered {unique()[-8:]}", f"carol-{unique()[-8:]}"
    made = await new_key(name)
    async with key_client(stack, made["key"]) as http:
        r = await http.post(
            "/api/v1/generate", json={"prompt": unique()}, headers={"X-End-User": user}
        )
    row = await final_record(sessions, r.headers["x-generation-id"])

    async def counted():
        async with httpx.AsyncClient(timeout=10) as metrics:
            found = samples((await metrics.get(worker_metrics)).text)
        return found if value(found, "llm_end_user_generations_total", end_user=user) else None

    found = await eventually(counted)
    assert found, "the end user's generation was not counted"
    assert value(found, "llm_end_user_generations_total", end_user=user) == 1
    assert value(found, "llm_key_tokens_total", key=name) == (
        row.prompt_tokens + row.completion_tokens
    )
