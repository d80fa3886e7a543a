"""Logging set-up for both processes. Prompts and keys are never logged."""

import logging

# arq logs each job's arguments (the prompt) at INFO, and httpx each request; both are quiet
# here, and the worker logs its own line per generation instead.
QUIET = {"arq.worker": logging.WARNING, "httpx": logging.WARNING, "arq.jobs": logging.WARNING}


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet, logging.getLevelName(level)))
