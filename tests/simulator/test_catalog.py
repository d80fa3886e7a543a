"""Model names as Ollama reads them, and the models' deterministic sizes and digests."""

import pytest

from simulator.catalog import Catalog, Name
from simulator.config import SimConfig
from simulator.families import GENERIC_CHAT, family_of


@pytest.mark.parametrize(
    ("raw", "display", "full"),
    [
        ("qwen3", "qwen3:latest", "registry.ollama.ai/library/qwen3:latest"),
        ("qwen3:8b", "qwen3:8b", "registry.ollama.ai/library/qwen3:8b"),
        ("registry.ollama.ai/library/qwen3:8b", "qwen3:8b", "registry.ollama.ai/library/qwen3:8b"),
        ("me/model:v2", "me/model:v2", "registry.ollama.ai/me/model:v2"),
        ("host.io/me/model", "host.io/me/model:latest", "host.io/me/model:latest"),
        ("localhost:5000/me/m:1", "localhost:5000/me/m:1", "localhost:5000/me/m:1"),
    ],
)
def test_names(raw, display, full):
    name = Name.parse(raw)
    assert (name.display, name.full, name.valid) == (display, full, True)


@pytest.mark.parametrize("raw", ["bad name", "a/b/c/d", "a/b/c:d:e", "x:", ""])
def test_invalid_names(raw):
    assert not Name.parse(raw).valid


def test_families_come_from_names():
    assert family_of("qwen3").capabilities == ("completion", "tools", "thinking")
    assert family_of("qwen2.5-coder").capabilities == ("completion", "tools", "insert")
    assert family_of("gpt-oss").levels_only and family_of("llava").capabilities[1] == "vision"
    assert family_of("who-knows") is GENERIC_CHAT
    assert family_of("who-knows", embedding=True).embeds


def test_the_catalog_is_reproducible_and_case_blind():
    first, second = Catalog(SimConfig()), Catalog(SimConfig())
    assert [(m.display, m.digest, m.size) for m in first.listed()] == [
        (m.display, m.digest, m.size) for m in second.listed()
    ]
    assert first.get("QWEN3:8B") is first.get("qwen3:8b") is not None
    assert first.get("qwen3:14b") is None
    assert first.add("qwen3:14b").details()["parameter_size"] == "14B"
