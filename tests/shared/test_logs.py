import asyncio

import orjson
import pytest

from tests.helpers import unique

pytestmark = pytest.mark.e2e


async def test_logs_are_json_lines_with_request_and_generation_ids(client, stack):
    r = await client.post(
        "/api/v1/generate", json={"prompt": unique()}, headers={"X-Request-ID": "my-trace-42"}
    )
    assert r.headers["x-request-id"] == "my-trace-42"
    generation_id = r.json()["id"]
    await asyncio.sleep(0.3)
    api = [orjson.loads(line) for line in stack.api.log().splitlines() if line.startswith("{")]
    access = [e for e in api if e.get("request_id") == "my-trace-42" and e["message"] == "request"]
    assert access and access[0]["route"] == "/api/v1/generate" and access[0]["status"] == 200
    assert access[0]["generation_id"] == generation_id
    worker = [
        orjson.loads(line) for line in stack.worker.log().splitlines() if line.startswith("{")
    ]
    ended = [e for e in worker if e.get("generation_id") == generation_id]
    assert (
        ended
        and ended[-1]["request_id"] == "my-trace-42"
        and ended[-1]["message"] == "generation ended"
    )
    generated = await client.post("/api/v1/generate", json={"prompt": unique()})
    assert len(generated.headers["x-request-id"]) == 32, "one is made when the client sends none"
