"""The whole stack on this machine, without Docker: what `make run`, `make demo` and `make cli` run.

    python -m devstack run [--simulator]    API, worker (and the Ollama simulator) until Ctrl-C
    python -m devstack cli keys list        `python -m web.cli` with the same settings

Both read the development settings (`.env.dev`, which `make setup` writes) and point them at
this machine's PostgreSQL, Redis and Ollama (`environment.py`); `run` starts the processes on
127.0.0.1, waits until `/readyz` says ready, prints a `curl` line that works, and stops every
process it started on Ctrl-C (`supervisor.py`).
"""
