"""Settings: the only reader of the environment.

Every field is listed, with its default and meaning, in `.env.dev.example`, `.env.prod.example`
and the README. Both processes (web and worker) read the same settings.
"""

import re
from functools import lru_cache
from typing import Literal

from pydantic import (
    Field,
    HttpUrl,
    PostgresDsn,
    RedisDsn,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.keys import Keys

PLACEHOLDER_MARKERS = ("change-me", "changeme", "placeholder", "example", "dev-only")
# The master key and the hash secret guard every key: long enough that guessing is hopeless.
MIN_SECRET_LENGTH = 24
# Passwords of the development setup, which production must not keep.
WEAK_SECRETS = frozenset({"llm", "postgres", "password", "secret"})
ORIGIN = re.compile(r"https?://[^/\s,]+")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    ENVIRONMENT: Literal["dev", "prod", "test"] = "dev"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # json: one JSON object per line (for log collectors); text: for a terminal.
    LOG_FORMAT: Literal["json", "text"] = "json"
    # FastAPI's native OpenTelemetry (spans, metrics and logs to the globally configured
    # providers, e.g. under `opentelemetry-instrument`). Off unless asked for: even with no
    # provider it looks for one on every request (measured: ~3.5 % of the API's CPU).
    OTEL_ENABLED: bool = False

    DATABASE_URL: PostgresDsn = PostgresDsn("postgresql+asyncpg://llm:llm@db:5432/llm")
    DATABASE_POOL_SIZE: int = Field(default=10, ge=1)
    REDIS_URL: RedisDsn = RedisDsn("redis://redis:6379/0")
    # Every Redis key and channel of this deployment starts with it (shared/keys.py): two
    # deployments can share one Redis, even one database, with different namespaces.
    REDIS_NAMESPACE: str = Field(default="llm", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Every Redis call has a bound (shared/redis.py): a reply within REDIS_TIMEOUT_SECONDS, a
    # connection within REDIS_CONNECT_TIMEOUT_SECONDS; a Redis that stops answering is a 503
    # with Retry-After within them, not a hang.
    REDIS_TIMEOUT_SECONDS: float = Field(default=3.0, gt=0)
    REDIS_CONNECT_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0)

    OLLAMA_BASE_URL: HttpUrl = HttpUrl("http://ollama:11434")
    OLLAMA_MODEL: str = "qwen3:8b"
    # Models the OpenAI and Ollama dialects may name, comma-separated (OLLAMA_MODEL always
    # among them). The native endpoint always uses OLLAMA_MODEL.
    ALLOWED_MODELS: str = ""
    # Separate bounds: connecting is quick or broken, while Ollama sends no byte at all while a
    # request waits in its own queue or a model loads (minutes for a large model).
    OLLAMA_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    OLLAMA_MAX_CONNECTIONS: int = Field(default=256, ge=1)
    # The largest `options.num_ctx` a request may ask for (a different context length reloads
    # the model for everyone); 0: requests may not set it. The master key and admin keys may.
    OLLAMA_MAX_NUM_CTX: int = Field(default=0, ge=0, le=2**31 - 1)

    # The administrator's key: manages API keys, and is itself accepted as one (no limits).
    MASTER_API_KEY: SecretStr | None = None
    # Keys are stored as HMAC-SHA256 with this secret: a stolen database yields no usable key.
    API_KEY_HASH_SECRET: SecretStr = SecretStr("dev-only-hash-secret-change-me")
    # Per key, unless the key overrides them; 0 means unlimited.
    DEFAULT_RATE_LIMIT_RPM: int = Field(default=60, ge=0)
    DEFAULT_CONCURRENCY_LIMIT: int = Field(default=4, ge=0)
    # false: keep only metadata and counts, never prompts or answers.
    STORE_CONTENT: bool = True

    MAX_PROMPT_CHARS: int = Field(default=100_000, ge=1)
    MAX_BODY_BYTES: int = Field(default=1_048_576, ge=1024)
    # Images (base64, as sent) a request may carry, on top of MAX_BODY_BYTES, on the routes
    # that take images; 0: no images.
    MAX_IMAGE_BYTES: int = Field(default=20_971_520, ge=0)
    # Texts in one embedding request (one job): OpenAI's own limit. Their vectors travel back
    # whole (2,048 vectors of 768 numbers are about 30 MB of JSON).
    MAX_EMBED_INPUTS: int = Field(default=2048, ge=1)
    # Browser origins (`scheme://host[:port]`, comma-separated; `*`: any) whose pages may call
    # the API. Empty: no CORS headers at all, so only pages of the API's own origin (/ui) can.
    CORS_ORIGINS: str = ""
    # Slow clients cannot hold the API (`python -m web`, web/server.py and web/body_limit.py):
    # a request's headers must be complete this long after its first byte (408 otherwise), its
    # body within this long after its headers (408), an idle kept-alive connection is closed
    # after this long, and connections beyond MAX_CONNECTIONS are refused with 503 at once.
    HTTP_HEADER_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    HTTP_BODY_TIMEOUT_SECONDS: float = Field(default=30.0, gt=0)
    HTTP_KEEPALIVE_SECONDS: float = Field(default=5.0, ge=1)
    MAX_CONNECTIONS: int = Field(default=4096, ge=16)
    # Failed authentications one client address may make per minute before it is refused with
    # 429 without a check (per API process).
    AUTH_FAILURES_PER_MINUTE: int = Field(default=30, ge=1)

    # Every wait has a bound. Each ends in a clear error for the client and `failed` in the record.
    QUEUE_TIMEOUT_SECONDS: float = Field(default=300.0, gt=0)
    FIRST_TOKEN_TIMEOUT_SECONDS: float = Field(default=300.0, gt=0)
    CHUNK_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0)
    GENERATION_TIMEOUT_SECONDS: float = Field(default=900.0, gt=0)

    STREAM_RETENTION_SECONDS: int = Field(default=600, ge=1)
    STREAM_KEEPALIVE_SECONDS: float = Field(default=5.0, gt=0)
    # A worker flushes stream events at most this often while it is busy (an idle stream's
    # token goes out at once): under load each flush, and each wake-up of the web process,
    # then carries the tokens of many streams.
    STREAM_COALESCE_MS: float = Field(default=5.0, ge=0)
    # A client that drops its stream may come back (GET /api/v1/generations/{id}/stream) within
    # this time; after it, a generation nobody watches is cancelled. 0 cancels at once.
    DISCONNECT_GRACE_SECONDS: float = Field(default=5.0, ge=0)

    # Generations waiting for a worker; above it, POST answers 503 with Retry-After at once.
    MAX_QUEUE_DEPTH: int = Field(default=100, ge=1)
    # The request header naming the end user behind a key (the queue is fair between a key's
    # end users, and each may have limits of its own): set it to the header a trusted front
    # end forwards, e.g. X-OpenWebUI-User-Id. OpenAI's `user` field counts when it is absent.
    END_USER_HEADER: str = Field(default="X-End-User", pattern=r"^[A-Za-z0-9-]{1,64}$")

    WORKER_CONCURRENCY: int = Field(default=4, ge=1)
    WORKER_POLL_SECONDS: float = Field(default=0.25, gt=0)
    WORKER_SHUTDOWN_GRACE_SECONDS: int = Field(default=900, ge=0)
    # A worker refreshes its heartbeat this often; the web process treats a worker whose
    # heartbeat is 3 intervals old as dead and fails its generations.
    WORKER_HEARTBEAT_SECONDS: float = Field(default=1.0, gt=0)
    # Each worker serves its own Prometheus metrics on this port (0: none), on this address
    # (the containers set 0.0.0.0, so that Prometheus reaches them; outside containers a worker
    # exposes nothing unless asked).
    WORKER_METRICS_PORT: int = Field(default=9191, ge=0, le=65535)
    WORKER_METRICS_HOST: str = "127.0.0.1"

    @field_validator("DATABASE_URL", mode="before")
    @classmethod
    def _asyncpg_driver(cls, value: object) -> object:
        return asyncpg_url(value) if isinstance(value, str) else value

    @field_validator("CORS_ORIGINS")
    @classmethod
    def _origins(cls, value: str) -> str:
        # A browser sends its origin without a path or a trailing slash: an entry with one
        # would never match, silently.
        bad = [o for o in split_list(value) if o != "*" and not ORIGIN.fullmatch(o)]
        if bad:
            raise ValueError(f"not origins (scheme://host[:port], no path): {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _production_secrets(self) -> "Settings":
        """Production refuses to start with a missing or placeholder secret."""
        if self.ENVIRONMENT != "prod":
            return self
        problems = []
        for name in ("MASTER_API_KEY", "API_KEY_HASH_SECRET"):
            if is_guessable(getattr(self, name)):
                problems.append(name)
        master, hashing = self.MASTER_API_KEY, self.API_KEY_HASH_SECRET
        if master is not None and master.get_secret_value() == hashing.get_secret_value():
            problems.append("API_KEY_HASH_SECRET (the same as MASTER_API_KEY)")
        hosts = self.DATABASE_URL.hosts()
        if not hosts or is_placeholder(hosts[0].get("password")):
            problems.append("the password in DATABASE_URL")
        if is_placeholder(self.REDIS_URL.password):
            problems.append("the password in REDIS_URL")
        if problems:
            raise ValueError(
                "ENVIRONMENT=prod needs real secrets; missing, placeholder or guessable: "
                + ", ".join(problems)
                + f" (at least {MIN_SECRET_LENGTH} characters, not all alike; make setup "
                "writes random ones into .env.prod)"
            )
        return self

    @property
    def keys(self) -> Keys:
        return Keys(self.REDIS_NAMESPACE)

    @property
    def database_url(self) -> str:
        return str(self.DATABASE_URL)

    @property
    def redis_url(self) -> str:
        return str(self.REDIS_URL)

    @property
    def ollama_base_url(self) -> str:
        return str(self.OLLAMA_BASE_URL).rstrip("/")

    @property
    def cors_origins(self) -> list[str]:
        return split_list(self.CORS_ORIGINS)

    @property
    def allowed_models(self) -> list[str]:
        names = [self.OLLAMA_MODEL, *(m.strip() for m in self.ALLOWED_MODELS.split(","))]
        return list(dict.fromkeys(n for n in names if n))

    def allowed_model(self, name: str) -> str | None:
        """The allowed model `name` means (`llama3` is `llama3:latest`), or None."""
        for model in self.allowed_models:
            if name == model or (":" not in name and model == f"{name}:latest"):
                return model
        return None


def split_list(value: str) -> list[str]:
    """The entries of a comma-separated setting, without blanks."""
    return [entry.strip() for entry in value.split(",") if entry.strip()]


def asyncpg_url(url: str) -> str:
    """Accept `postgresql://` and `postgres://` as well as `postgresql+asyncpg://`."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def is_placeholder(secret: SecretStr | str | None) -> bool:
    """A secret that is empty or still holds an example value."""
    if secret is None:
        return True
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    lowered = value.lower()
    return not value or lowered in WEAK_SECRETS or any(m in lowered for m in PLACEHOLDER_MARKERS)


def is_guessable(secret: SecretStr | None) -> bool:
    """A placeholder, or too short or too uniform to be a random secret."""
    if is_placeholder(secret):
        return True
    assert secret is not None
    value = secret.get_secret_value()
    return len(value) < MIN_SECRET_LENGTH or len(set(value)) < 8


@lru_cache
def get_settings() -> Settings:
    return Settings()
