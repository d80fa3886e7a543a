"""One exception family for every expected failure, each class carrying its HTTP status.

    AppError
    ├── InvalidRequest            422  the body is not a valid request
    ├── BodyTooLarge              413  the body is over MAX_BODY_BYTES
    ├── Unauthorized              401  no API key, or not a valid one (revoked included)
    ├── Forbidden                 403  a valid key that may not do this (not the master key)
    ├── RateLimited               429  the key's requests per minute or concurrency; Retry-After
    ├── NotFound                  404  no such generation (or not yours)
    │   └── UnknownModel          404  a dialect asked for a model not in ALLOWED_MODELS
    ├── Conflict                  409  an Idempotency-Key already used for another request
    ├── Gone                      410  the generation's stream is past its retention time
    ├── QueueFull                 503  MAX_QUEUE_DEPTH reached; Retry-After
    ├── QueueTimeout              503  no worker picked the job up in QUEUE_TIMEOUT_SECONDS
    ├── Cancelled                 499  the generation was cancelled
    ├── WorkerLost                502  the worker running the generation died
    ├── DependencyUnavailable     503  PostgreSQL or Redis does not answer
    └── UpstreamError             502  Ollama answered with an error
        ├── ModelNotFound         502  Ollama does not have OLLAMA_MODEL
        ├── UpstreamUnavailable   503  Ollama cannot be reached
        │   └── UpstreamBusy      503  Ollama's own queue is full (retried before any chunk)
        └── UpstreamTimeout       504  Ollama was too slow (first token, between chunks, total)

Routes raise these; `web/errors.py` renders them. The worker turns each into a terminal stream
event (`type` and `message`), so the web process can raise the same class on the other side.
"""

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"
    # Whether a worker's stream event of this `type` is rebuilt as this class (error_from_dict).
    reported_by_workers: ClassVar[bool] = True
    retry_after: float | None = None
    # The generation the error ended, if any: sent back as X-Generation-ID.
    generation_id: str | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.retry_after is not None:
            data["retry_after"] = self.retry_after
        return data


class InvalidRequest(AppError):
    status_code = 422
    type = "invalid_request"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.details = details or []

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "details": getattr(self, "details", [])}


class BodyTooLarge(AppError):
    status_code = 413
    type = "body_too_large"


class Unauthorized(AppError):
    status_code = 401
    type = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    type = "forbidden"


class RateLimited(AppError):
    status_code = 429
    type = "rate_limited"


class BudgetExceeded(RateLimited):
    """The key's token budget for the UTC day or month is spent (Retry-After: until it resets)."""

    type = "budget_exceeded"
    reported_by_workers = False


class NotFound(AppError):
    status_code = 404
    type = "not_found"


class UnknownModel(NotFound):
    type = "model_not_found"
    # Raised by the web process only (a dialect asked for a model it may not use): a worker's
    # `model_not_found` is ModelNotFound.
    reported_by_workers = False


class Conflict(AppError):
    status_code = 409
    type = "conflict"


class Gone(AppError):
    status_code = 410
    type = "gone"


class QueueFull(AppError):
    status_code = 503
    type = "queue_full"


class QueueTimeout(AppError):
    status_code = 503
    type = "queue_timeout"


class Cancelled(AppError):
    status_code = 499
    type = "cancelled"


class WorkerLost(AppError):
    status_code = 502
    type = "worker_lost"


class DependencyUnavailable(AppError):
    """PostgreSQL or Redis does not answer."""

    status_code = 503
    type = "dependency_unavailable"


class UpstreamError(AppError):
    status_code = 502
    type = "upstream_error"


class ModelNotFound(UpstreamError):
    type = "model_not_found"


class UpstreamUnavailable(UpstreamError):
    status_code = 503
    type = "upstream_unavailable"


class UpstreamBusy(UpstreamUnavailable):
    type = "upstream_busy"


class UpstreamTimeout(UpstreamError):
    status_code = 504
    type = "upstream_timeout"


def _registry() -> dict[str, type[AppError]]:
    """Every class of the family a worker can report, by its `type`."""
    found: dict[str, type[AppError]] = {}
    pending: list[type[AppError]] = [AppError]
    while pending:
        cls = pending.pop(0)
        if cls.reported_by_workers:
            assert cls.type not in found, f"two errors of type {cls.type!r}"
            found[cls.type] = cls
        pending.extend(cls.__subclasses__())
    return found


def error_from_dict(data: dict[str, Any]) -> AppError:
    """Rebuild the error a worker reported in a stream event."""
    cls = ERROR_TYPES.get(str(data.get("type")), AppError)
    error = AppError.__new__(cls)
    AppError.__init__(
        error, str(data.get("message", "generation failed")), retry_after=data.get("retry_after")
    )
    return error


ERROR_TYPES = _registry()
