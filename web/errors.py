"""The one place errors are rendered: `{"error": {"type": ..., "message": ...}}`, never a trace."""

import logging

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
    Unauthorized,
)
from web import metrics
from web.responses import JSON

log = logging.getLogger(__name__)

HTTP_TYPES = {404: "not_found", 405: "method_not_allowed", 413: BodyTooLarge.type}


def error_response(error: AppError, headers: dict[str, str] | None = None) -> JSON:
    metrics.ERRORS.labels(error.type).inc()
    headers = dict(headers or {})
    if error.generation_id is not None:
        headers["X-Generation-ID"] = error.generation_id
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return JSON({"error": error.to_dict()}, status_code=error.status_code, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSON:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSON:
        details = _validation_details(exc)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        return error_response(InvalidRequest(f"{where}: {first['msg']}", details=details))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSON:
        error = AppError(str(exc.detail))
        body = {
            "error": {
                "type": HTTP_TYPES.get(exc.status_code, "http_error"),
                "message": error.message,
            }
        }
        return JSON(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RedisError)
    async def _redis(request: Request, exc: RedisError) -> JSON:
        log.warning("redis failed: %r", exc)
        return error_response(DependencyUnavailable("Redis is unavailable", retry_after=5))

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _database(request: Request, exc: Exception) -> JSON:
        log.warning("database failed: %s", type(exc).__name__)
        return error_response(DependencyUnavailable("the database is unavailable", retry_after=5))
