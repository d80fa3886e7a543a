"""Settings: URL forms and the environment as the only source."""

import pytest

from shared.config import Settings


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5432/d",
        "postgres://u:p@h:5432/d",
        "postgresql+asyncpg://u:p@h:5432/d",
    ],
)
def test_every_postgres_url_form_uses_asyncpg(url):
    assert (
        Settings(_env_file=None, DATABASE_URL=url).database_url
        == "postgresql+asyncpg://u:p@h:5432/d"
    )


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_MODEL", "llama3.2:1b")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/")
    settings = Settings(_env_file=None)
    assert settings.OLLAMA_MODEL == "llama3.2:1b"
    assert settings.ollama_base_url == "http://gpu-box:11434"


def test_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="WORKER_CONCURRENCY"):
        Settings(_env_file=None)


PROD = {
    "ENVIRONMENT": "prod",
    "MASTER_API_KEY": "a-real-master-key-0123456789abcdef",
    "API_KEY_HASH_SECRET": "a-real-hash-secret-0123456789abcdef",
    "DATABASE_URL": "postgresql://llm:a-real-db-password-0123@db:5432/llm",
    "REDIS_URL": "redis://:a-real-redis-password-0123@redis:6379/0",
}


def test_production_settings_with_real_secrets_start():
    assert Settings(_env_file=None, **PROD).ENVIRONMENT == "prod"


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("MASTER_API_KEY", None, "MASTER_API_KEY"),
        ("MASTER_API_KEY", "change-me-master-key", "MASTER_API_KEY"),
        ("API_KEY_HASH_SECRET", "dev-only-hash-secret-change-me", "API_KEY_HASH_SECRET"),
        ("DATABASE_URL", "postgresql://llm:change-me-db-password@db/llm", "DATABASE_URL"),
        ("DATABASE_URL", "postgresql://llm:llm@db/llm", "DATABASE_URL"),
        ("DATABASE_URL", "postgresql://llm@db/llm", "DATABASE_URL"),
        ("MASTER_API_KEY", "a", "MASTER_API_KEY"),
        ("MASTER_API_KEY", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "MASTER_API_KEY"),
        ("API_KEY_HASH_SECRET", "x", "API_KEY_HASH_SECRET"),
        ("API_KEY_HASH_SECRET", PROD["MASTER_API_KEY"], "the same as MASTER_API_KEY"),
        ("REDIS_URL", "redis://redis:6379/0", "REDIS_URL"),
        ("REDIS_URL", "redis://:change-me-redis-password@redis:6379/0", "REDIS_URL"),
    ],
)
def test_production_refuses_missing_or_placeholder_secrets(name, value, named):
    with pytest.raises(ValueError, match=named):
        Settings(_env_file=None, **{**PROD, name: value})


def test_the_api_process_refuses_to_start_with_placeholders():
    import subprocess
    import sys

    from tests.processes import ROOT

    env = {"PATH": "/usr/bin:/bin", **PROD, "MASTER_API_KEY": "change-me-master-key"}
    result = subprocess.run(
        [sys.executable, "-c", "import web.main"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0 and "MASTER_API_KEY" in result.stderr


def test_cors_origins_are_origins_or_refused():
    allowed = Settings(_env_file=None, CORS_ORIGINS=" http://a.example:8080 ,https://b.example,")
    assert allowed.cors_origins == ["http://a.example:8080", "https://b.example"]
    assert Settings(_env_file=None).cors_origins == []
    # A browser's Origin has no path: this entry would never match, so it is an error at once.
    with pytest.raises(ValueError, match="CORS_ORIGINS"):
        Settings(_env_file=None, CORS_ORIGINS="http://ok.example, https://bad.example/")
