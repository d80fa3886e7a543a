"""The settings `make run` gives its processes (devstack/environment.py)."""

import pytest

from devstack.environment import EnvFileMissing, Locations, build, settings_of


def test_the_file_fills_in_what_the_caller_leaves_and_the_locations_always_win(tmp_path):
    env_file = tmp_path / ".env.dev"
    env_file.write_text(
        "# comment\nMASTER_API_KEY=from-the-file\nOLLAMA_MODEL=llama3.2:1b\n"
        "DATABASE_URL=postgresql://llm:llm@db:5432/llm\nWORKER_METRICS_HOST=0.0.0.0\n"
    )
    here = Locations("postgresql://postgres@127.0.0.1:5432/x", "redis://127.0.0.1:6379/3")
    env = build(
        env_file, here, caller={"OLLAMA_MODEL": "from-the-caller", "DATABASE_URL": "postgres://no"}
    )
    assert env["MASTER_API_KEY"] == "from-the-file"
    assert env["OLLAMA_MODEL"] == "from-the-caller"
    assert env["DATABASE_URL"] == here.database_url  # Docker's `db` means nothing here
    assert env["REDIS_URL"] == here.redis_url
    assert env["OLLAMA_BASE_URL"] == "http://127.0.0.1:11434"
    # A container's address in the file: here only loopback, unless the caller asks.
    assert env["WORKER_METRICS_HOST"] == "127.0.0.1"
    asked = build(env_file, here, caller={"WORKER_METRICS_HOST": "0.0.0.0"})
    assert asked["WORKER_METRICS_HOST"] == "0.0.0.0"
    assert settings_of(env).allowed_models == ["from-the-caller"]


def test_a_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(EnvFileMissing, match="make setup"):
        build(tmp_path / ".env.dev", Locations(), caller={})


def test_the_examples_settings_are_valid_here():
    from tests.processes import ROOT

    env = build(ROOT / ".env.dev.example", Locations(), caller={})
    settings = settings_of(env)
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/llm"
