"""The clients a worker process holds, made in on_startup and closed in on_shutdown."""

from dataclasses import dataclass, field

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import Settings
from shared.ollama import OllamaClient
from shared.records import RecordWriter
from worker.housekeeping import Housekeeping
from worker.publisher import StreamPublisher
from worker.wake import WakeListener


@dataclass
class WorkerState:
    settings: Settings
    worker_id: str
    redis: ArqRedis
    engine: AsyncEngine
    records: RecordWriter
    publisher: StreamPublisher
    ollama: OllamaClient
    wake: WakeListener | None
    housekeeping: Housekeeping | None = None
    # Generations this process is running now (reported in its heartbeat).
    active: set[str] = field(default_factory=set)
