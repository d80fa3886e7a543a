"""Health, readiness, metrics and the queue's state: what an operator (or a probe) asks."""

from typing import Literal

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.responses import Response

from web.deps import PrincipalDep, StateDep
from web.dialects import native
from web.responses import JSON

router = APIRouter(tags=["operations"], route_class=native.DIALECT.route_class)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive; checks no dependency (a liveness probe)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready; the failing parts named."}})
async def readyz(state: StateDep, scope: Literal["all", "api"] = "all") -> Response:
    """PostgreSQL, Redis, a live worker, and an Ollama with the model; `scope=api`: only what
    this API process needs to take requests (PostgreSQL, Redis), for a load balancer's probe."""
    ready, checks = await state.readiness.check(whole=scope == "all")
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "ready" if ready else "not_ready", "failing": failing, "checks": checks}
    return JSON(body, status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(state: StateDep) -> Response:
    """The API's Prometheus metrics, and the queue's gauges (workers serve their own)."""
    await state.queue.refresh_metrics()
    if values.ValueClass is not values.MutexValue:
        # prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, which the library
        # reads itself): several uvicorn worker processes, each writing its metrics to files.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/queue")
async def queue(state: StateDep, principal: PrincipalDep) -> dict:
    """The queue now: depth, running, slots, workers, the oldest wait, an estimated wait; for
    the master key also each worker (`worker_list`: id, host, running, slots, Ollama's state)."""
    snapshot = await state.queue.snapshot()
    body = snapshot.public()
    if principal.is_master:
        fields = ("id", "host", "running", "slots", "average_seconds", "ollama", "at")
        body["worker_list"] = [{k: w.get(k) for k in fields} for w in snapshot.workers_detail]
    return body
