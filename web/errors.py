"""The one place errors are rendered, never as a stack trace, in the envelope of the API asked:

native  /api/v1/...            {"error": {"type": ..., "message": ...}}
OpenAI  /v1/...                {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
Ollama  /api/generate, ...     {"error": "..."}
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from shared.errors import (
    AppError,
    BodyTooLarge,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    Unauthorized,
)
from web import metrics
from web.dialects import ollama, openai
from web.responses import JSON

log = logging.getLogger(__name__)

OLLAMA_PATHS = frozenset({"/api/generate", "/api/chat", "/api/tags", "/api/version"})


class HTTPError(AppError):
    """Starlette's own HTTP errors (an unknown route, a wrong method)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status  # type: ignore[misc]
        self.type = {404: NotFound.type, 405: "method_not_allowed", 413: BodyTooLarge.type}.get(  # type: ignore[misc]
            status, "http_error"
        )


def dialect_of(path: str) -> str:
    if path.startswith("/v1/"):
        return "openai"
    return "ollama" if path in OLLAMA_PATHS else "native"


def body_for(dialect: str, error: AppError) -> dict[str, Any]:
    if dialect == "openai":
        return openai.error_body(error)
    if dialect == "ollama":
        return ollama.error_body(error)
    return {"error": error.to_dict()}


def status_for(dialect: str, error: AppError) -> int:
    # OpenAI and Ollama answer a request they cannot parse or do not support with 400.
    if dialect != "native" and error.status_code == 422:
        return 400
    return error.status_code


def error_response(error: AppError, path: str = "", headers: dict[str, str] | None = None) -> JSON:
    metrics.ERRORS.labels(error.type).inc()
    headers = dict(headers or {})
    if error.generation_id is not None:
        headers["X-Generation-ID"] = error.generation_id
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    dialect = dialect_of(path)
    return JSON(body_for(dialect, error), status_code=status_for(dialect, error), headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSON:
        return error_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSON:
        details = _validation_details(exc)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        error = InvalidRequest(f"{where}: {first['msg']}", details=details)
        return error_response(error, request.url.path)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSON:
        error = HTTPError(exc.status_code, str(exc.detail))
        return error_response(error, request.url.path, headers=dict(exc.headers or {}))

    @app.exception_handler(RedisError)
    async def _redis(request: Request, exc: RedisError) -> JSON:
        log.warning("redis failed: %r", exc)
        error = DependencyUnavailable("Redis is unavailable", retry_after=5)
        return error_response(error, request.url.path)

    @app.exception_handler(TimeoutError)  # an OSError too, but not the database's
    async def _timeout(request: Request, exc: TimeoutError) -> JSON:
        log.warning("a dependency timed out: %r", exc)
        error = DependencyUnavailable("PostgreSQL or Redis did not answer in time", retry_after=5)
        return error_response(error, request.url.path)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _database(request: Request, exc: Exception) -> JSON:
        log.warning("database failed: %s", type(exc).__name__)
        error = DependencyUnavailable("the database is unavailable", retry_after=5)
        return error_response(error, request.url.path)
