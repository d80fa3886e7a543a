"""The API process: `uvicorn web.main:app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.config import Settings, get_settings
from shared.db import create_engine, create_sessionmaker
from shared.jobs import JobSubmitter
from shared.logs import configure_logging
from shared.notices import KEY_CHANGED
from shared.records import RecordWriter
from shared.redis import RedisLink, arq_redis, subscriber
from web import api_docs, errors
from web.auth import Authenticator, AuthGate
from web.body_limit import BodyLimit
from web.cors import Cors
from web.deps import get_principal
from web.generations.cancel import Cancellations
from web.generations.presence import ClientPresence
from web.ops.access_log import AccessLog
from web.ops.queue_status import QueueStatus
from web.ops.readiness import Readiness
from web.routes import (
    depends_on,
    embeddings,
    generate,
    generations,
    health,
    keys,
    ollama,
    openai,
    responses,
    usage,
)
from web.state import AppState
from web.streaming.hub import StreamHub
from web.streaming.response import Responder
from web.ui import router as ui
from web.upstream import Upstream


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    names = settings.keys
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    # No connection is made yet: the API starts while Redis is away, and says so in /readyz.
    redis = arq_redis(settings)
    listener = subscriber(settings)
    hub = StreamHub(listener, redis, names)
    records = RecordWriter(settings.database_url)
    cancellations = Cancellations(redis, names, sessions, settings)
    presence = ClientPresence(redis, names, settings, cancellations)
    queue = QueueStatus(
        redis,
        names,
        heartbeat_s=settings.WORKER_HEARTBEAT_SECONDS,
        max_depth=settings.MAX_QUEUE_DEPTH,
    )
    responder = Responder(presence, cancellations, queue)
    link = RedisLink(settings)
    submitter = JobSubmitter(link, names)
    auth = Authenticator(sessions, settings)
    readiness = Readiness(sessions, redis, queue)
    upstream = Upstream(settings)
    hub.on_control(KEY_CHANGED, auth.forget)
    await hub.start()
    await records.start()
    submitter.start()
    auth.start()
    app.state.app = AppState(
        settings=settings,
        keys=names,
        engine=engine,
        sessions=sessions,
        redis=redis,
        hub=hub,
        records=records,
        cancellations=cancellations,
        presence=presence,
        responder=responder,
        submitter=submitter,
        auth=auth,
        queue=queue,
        readiness=readiness,
        upstream=upstream,
    )
    try:
        yield
    finally:
        await upstream.aclose()
        await auth.aclose()
        await presence.aclose()
        await submitter.aclose()
        await link.aclose()
        await records.aclose()
        await hub.aclose()
        await listener.aclose()
        await redis.aclose()
        await engine.dispose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
    app = FastAPI(
        title="Private LLM API Server",
        summary="A queue, API keys and lossless streams in front of your own Ollama.",
        version="0.1.0",
        lifespan=lifespan,
        # Served by web/api_docs.py, with their scripts from this server instead of a CDN.
        docs_url=None,
        redoc_url=None,
        telemetry={
            "tracing": settings.OTEL_ENABLED,
            "metrics": settings.OTEL_ENABLED,
            "logs": settings.OTEL_ENABLED,
        },
    )
    # Outermost last: the access log sees everything; the auth gate answers a request without a
    # valid key before the body limit (or anything) reads its body.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.MAX_BODY_BYTES,
        timeout_s=settings.HTTP_BODY_TIMEOUT_SECONDS,
        image_bytes=settings.MAX_IMAGE_BYTES,
    )
    app.add_middleware(AuthGate, failures_per_minute=settings.AUTH_FAILURES_PER_MINUTE)
    if settings.cors_origins:
        # Outside the auth gate: a preflight carries no key, and a refusal needs CORS headers
        # for the page's script to read it.
        app.add_middleware(Cors, origins=settings.cors_origins)
    app.add_middleware(AccessLog)
    app.state.settings = settings
    errors.install(app)
    app.state.routers = [
        generate.router,
        generations.router,
        keys.router,
        openai.router,
        responses.router,
        ollama.router,
        embeddings.openai_router,
        embeddings.ollama_router,
        health.router,
        usage.router,
        api_docs.router,
        ui.router,
        # Last: what no other route takes under /api/ is Ollama's 404 (not /api/v1/).
        ollama.unknown_router,
    ]
    for router in app.state.routers:
        app.include_router(router)
    # By identity: routes compare by value and are not hashable.
    app.state.keyed_routes = {
        id(route)
        for router in app.state.routers
        for route in router.routes
        if depends_on(route, get_principal)
    }
    return app


app = create_app()
