"""The one place errors are rendered, never as a stack trace, in the envelope of the dialect of
the route that was asked (web/dialects/: each router's routes carry their dialect):

native  /api/v1/...            {"error": {"type": ..., "message": ...}}
OpenAI  /v1/...                {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}
Ollama  /api/generate, ...     {"error": "..."}

A request that matched no route (or was refused before routing, by a middleware) is answered
in the dialect of the route its path and method would match, else natively.
"""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import Scope

from shared.errors import (
    AppError,
    BodyTooLarge,
    DependencyUnavailable,
    InvalidRequest,
    NotFound,
    Unauthorized,
)
from web.dialects import Dialect
from web.dialects.native import DIALECT as NATIVE
from web.ops import metrics
from web.responses import JSON
from web.routes import route_for

log = logging.getLogger(__name__)


HTTP_TYPES = {
    404: NotFound.type,
    405: "method_not_allowed",
    408: "request_timeout",
    413: BodyTooLarge.type,
}


class HTTPError(AppError):
    """Starlette's own HTTP errors (an unknown route, a wrong method)."""

    reported_by_workers = False

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status  # type: ignore[misc]
        self.type = HTTP_TYPES.get(status, "http_error")  # type: ignore[misc]


def dialect_of(scope: Scope) -> Dialect:
    """The dialect of the route that serves (or would serve) this request."""
    dialect = getattr(route_for(scope), "dialect", None)
    return dialect if isinstance(dialect, Dialect) else NATIVE


def error_response(error: AppError, scope: Scope, headers: dict[str, str] | None = None) -> JSON:
    metrics.ERRORS.labels(error.type).inc()
    headers = dict(headers or {})
    if error.generation_id is not None:
        headers["X-Generation-ID"] = error.generation_id
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    dialect = dialect_of(scope)
    return JSON(dialect.error_body(error), status_code=dialect.error_status(error), headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSON:
        return error_response(exc, request.scope)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSON:
        details = _validation_details(exc)
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(part) for part in first["loc"] if part != "body") or "body"
        error = InvalidRequest(f"{where}: {first['msg']}", details=details)
        return error_response(error, request.scope)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSON:
        error = HTTPError(exc.status_code, str(exc.detail))
        return error_response(error, request.scope, headers=dict(exc.headers or {}))

    @app.exception_handler(RedisError)
    async def _redis(request: Request, exc: RedisError) -> JSON:
        log.warning("redis failed: %r", exc)
        error = DependencyUnavailable("Redis is unavailable", retry_after=5)
        return error_response(error, request.scope)

    @app.exception_handler(TimeoutError)  # an OSError too, but not the database's
    async def _timeout(request: Request, exc: TimeoutError) -> JSON:
        log.warning("a dependency timed out: %r", exc)
        error = DependencyUnavailable("PostgreSQL or Redis did not answer in time", retry_after=5)
        return error_response(error, request.scope)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(PoolTimeout)
    @app.exception_handler(OSError)
    async def _database(request: Request, exc: Exception) -> JSON:
        log.warning("database failed: %s", type(exc).__name__)
        error = DependencyUnavailable("the database is unavailable", retry_after=5)
        return error_response(error, request.scope)
