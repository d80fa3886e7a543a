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
    assert Settings(DATABASE_URL=url).database_url == "postgresql+asyncpg://u:p@h:5432/d"


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("OLLAMA_MODEL", "llama3.2:1b")
    monkeypatch.setenv("OLLAMA_BASE_URL", "http://gpu-box:11434/")
    settings = Settings()
    assert settings.OLLAMA_MODEL == "llama3.2:1b"
    assert settings.ollama_base_url == "http://gpu-box:11434"


def test_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("WORKER_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="WORKER_CONCURRENCY"):
        Settings()
