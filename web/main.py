"""The API process: `uvicorn web.main:app`."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.config import Settings, get_settings
from shared.db import create_engine, create_sessionmaker
from shared.jobs import JobSubmitter
from shared.logs import configure_logging
from shared.records import RecordWriter
from shared.redis import RedisLink, create_redis, serialize_job
from web import errors
from web.auth import REVOKED_NOTICE, Authenticator
from web.cancel import Cancellations
from web.hub import StreamHub
from web.limits import BodyLimit
from web.observe import Observe
from web.queue import QueueStatus
from web.readiness import Readiness
from web.routes import generate, generations, health, keys, ollama, openai
from web.state import AppState


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    redis = await create_redis(settings)
    hub = StreamHub(redis)
    records = RecordWriter(settings.database_url)
    cancellations = Cancellations(redis, sessions, settings)
    link = RedisLink(settings.redis_url)
    submitter = JobSubmitter(link, serializer=serialize_job)
    auth = Authenticator(sessions, settings)
    queue = QueueStatus(redis, heartbeat_s=settings.WORKER_HEARTBEAT_SECONDS)
    readiness = Readiness(sessions, redis, queue)
    hub.on_control(REVOKED_NOTICE, auth.forget)
    await hub.start()
    await records.start()
    submitter.start()
    auth.start()
    app.state.app = AppState(
        settings,
        engine,
        sessions,
        redis,
        hub,
        records,
        cancellations,
        submitter,
        auth,
        queue,
        readiness,
    )
    try:
        yield
    finally:
        await auth.aclose()
        await cancellations.aclose()
        await submitter.aclose()
        await link.aclose()
        await records.aclose()
        await hub.aclose()
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
        telemetry={
            "tracing": settings.OTEL_ENABLED,
            "metrics": settings.OTEL_ENABLED,
            "logs": settings.OTEL_ENABLED,
        },
    )
    app.add_middleware(BodyLimit, max_bytes=settings.MAX_BODY_BYTES)
    app.add_middleware(Observe)
    app.state.settings = settings
    errors.install(app)
    app.include_router(generate.router)
    app.include_router(generations.router)
    app.include_router(keys.router)
    app.include_router(openai.router)
    app.include_router(ollama.router)
    app.include_router(health.router)
    return app


app = create_app()
