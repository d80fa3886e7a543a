"""Logging for both processes: one JSON object per line, with the request and generation ids.

`request_id` and `generation_id` are context variables: the web process sets them per request,
the worker per job (the job carries the request id), and every log line written meanwhile
carries them. Prompts and keys are never logged: no logger here is handed one, and arq's and
httpx's loggers, which log job arguments and URLs, are kept at WARNING.
"""

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
generation_id: ContextVar[str | None] = ContextVar("generation_id", default=None)

QUIET = {
    "arq.worker": logging.WARNING,
    "arq.jobs": logging.WARNING,
    "uvicorn.access": logging.WARNING,
}
# Loggers that come with handlers of their own (uvicorn's and arq's configs): they write through
# ours instead, so every line has the same shape.
OWN_HANDLERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "arq")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.generation_id = generation_id.get()
        return True


def handler(fmt: str) -> logging.Handler:
    out = logging.StreamHandler()
    if fmt == "json":
        out.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(generation_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        out.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [%(request_id)s %(generation_id)s] %(message)s"
            )
        )
    out.addFilter(ContextFilter())
    return out


def configure_logging(level: str, fmt: str = "json") -> None:
    root = logging.getLogger()
    root.handlers = [handler(fmt)]
    root.setLevel(level)
    for name in OWN_HANDLERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, logging.getLevelName(level)))
