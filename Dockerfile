# syntax=docker/dockerfile:1
# One image for the API (its CMD), the worker (`python -m worker`) and migrations (`alembic upgrade
# head`). Targets: `runtime` (production, the default) and `dev` (adds the dev tools; compose
# mounts the source over /app and reloads on change).
FROM python:3.11-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/venv \
    PATH=/venv/bin:$PATH
WORKDIR /app

FROM base AS build
# Poetry (requests) trusts the system's CA store, like pip: builds work behind a TLS-inspecting
# proxy whose CA the host's store holds.
ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
RUN pip install --no-cache-dir "poetry==2.5.1" && python -m venv /venv
COPY pyproject.toml poetry.lock ./
# The venv lives in /venv, outside /app, so that a source mount over /app does not hide it.
RUN POETRY_VIRTUALENVS_CREATE=false poetry install --only main --no-root --no-interaction \
    && python -m compileall -q /venv

FROM build AS dev
RUN POETRY_VIRTUALENVS_CREATE=false poetry install --no-root --no-interaction
COPY . .
EXPOSE 8000
CMD ["python", "-m", "web", "--host", "0.0.0.0", "--port", "8000", "--reload"]

FROM base AS runtime
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
COPY --from=build /venv /venv
COPY --chown=app:app alembic.ini ./
COPY --chown=app:app alembic ./alembic
COPY --chown=app:app shared ./shared
COPY --chown=app:app web ./web
COPY --chown=app:app worker ./worker
COPY --chown=app:app simulator ./simulator
RUN python -m compileall -q /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
CMD ["python", "-m", "web", "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]
