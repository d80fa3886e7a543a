"""The settings `make run` gives its processes: `.env.dev`, pointed at this machine's services."""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent

# Applied unless the caller's own environment sets them: every process of `make run` listens on
# 127.0.0.1 only, whatever the file says for containers.
LOCAL_DEFAULTS = {"WORKER_METRICS_HOST": "127.0.0.1"}


@dataclass(frozen=True)
class Locations:
    """Where this machine's services listen (`RUN_DATABASE_URL`, `RUN_REDIS_URL`,
    `RUN_OLLAMA_URL` in the Makefile)."""

    database_url: str = "postgresql://postgres@127.0.0.1:5432/llm"
    redis_url: str = "redis://127.0.0.1:6379/0"
    ollama_url: str = "http://127.0.0.1:11434"


class EnvFileMissing(Exception):
    """The settings file does not exist."""


def build(
    env_file: Path, locations: Locations, caller: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The processes' environment: the caller's own environment first, then `env_file` (read
    by the parser pydantic-settings uses for `.env`), then LOCAL_DEFAULTS; the locations
    always win, since the file's are Docker's (`db`, `redis`, `ollama`)."""
    if not env_file.is_file():
        raise EnvFileMissing(f"{env_file} does not exist: `make setup` writes it")
    own = dict(os.environ if caller is None else caller)
    from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {
        **from_file,
        **LOCAL_DEFAULTS,
        **own,
        "DATABASE_URL": locations.database_url,
        "REDIS_URL": locations.redis_url,
        "OLLAMA_BASE_URL": locations.ollama_url,
    }


def settings_of(env: Mapping[str, str]) -> Settings:
    """The settings the processes will read from `env` (invalid ones fail here, before any
    process starts)."""
    fields = {k: v for k, v in env.items() if k in Settings.model_fields}
    return Settings(_env_file=None, **fields)  # type: ignore[arg-type]
