"""What a request may ask of Ollama: sampling options pass; what changes Ollama for everyone is
the master key's and admin keys', dropped (and named) for the others, in every dialect."""

import pytest

from tests.conftest import key_client
from tests.helpers import sim_records, unique

pytestmark = pytest.mark.e2e

SERVER_WIDE = {
    "keep_alive": "60m",
    "raw": True,
    "options": {"temperature": 0.5, "num_ctx": 65536, "num_gpu": 99, "use_mmap": False},
}


async def _generate(http, prompt: str, **more: object):
    body = {"model": "qwen3:8b", "prompt": prompt, "stream": False, **SERVER_WIDE, **more}
    r = await http.post("/api/generate", json=body)
    assert r.status_code == 200, r.text
    return r


async def test_an_ordinary_key_keeps_sampling_and_loses_server_wide_fields(stack, new_key, sim):
    made = await new_key("ordinary")
    prompt = unique()
    async with key_client(stack, made["key"]) as http:
        # (raw with a template would be Ollama's 400: both are dropped before it sees them)
        r = await _generate(http, prompt, template="{{ .Prompt }}")
    (record,) = await sim_records(sim, prompt)
    assert record["options"] == {"temperature": 0.5}
    assert not {"keep_alive", "raw", "template"} & set(record["extras"])
    ignored = r.headers["X-Ignored-Fields"].split(", ")
    assert set(ignored) == {
        "keep_alive",
        "raw",
        "template",
        "options.num_ctx",
        "options.num_gpu",
        "options.use_mmap",
    }


@pytest.mark.parametrize("who", ["master", "admin"])
async def test_the_master_key_and_admin_keys_may_configure_ollama(client, stack, new_key, sim, who):
    prompt = unique()
    if who == "master":
        r = await _generate(client, prompt)
    else:
        made = await new_key("operator", admin=True)
        assert made["is_admin"] is True
        async with key_client(stack, made["key"]) as http:
            r = await _generate(http, prompt)
    (record,) = await sim_records(sim, prompt)
    assert record["options"] == SERVER_WIDE["options"]
    assert record["extras"]["keep_alive"] == "60m"
    assert "X-Ignored-Fields" not in r.headers


async def test_the_openai_dialect_follows_the_same_rule(stack, new_key, sim):
    made = await new_key("openai-ordinary")
    prompt = unique()
    body = {
        "model": "qwen3:8b",
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0.3,
        "keep_alive": "1h",
    }
    async with key_client(stack, made["key"]) as http:
        r = await http.post("/v1/chat/completions", json=body)
    assert r.status_code == 200
    (record,) = await sim_records(sim, prompt)
    assert record["options"] == {"temperature": 0.3}
    assert "keep_alive" not in record["extras"]
