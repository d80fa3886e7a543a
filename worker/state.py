"""The clients a worker process holds, made in on_startup and closed in on_shutdown."""

from dataclasses import dataclass, field

from arq.connections import ArqRedis

from shared.config import Settings
from shared.keys import Keys
from shared.ollama import OllamaClient
from shared.records import RecordWriter
from worker.housekeeping import Ewma, Housekeeping
from worker.publisher import StreamPublisher


@dataclass
class WorkerState:
    settings: Settings
    keys: Keys
    worker_id: str
    redis: ArqRedis
    records: RecordWriter
    publisher: StreamPublisher
    ollama: OllamaClient
    housekeeping: Housekeeping | None = None
    # Generations this process is running now (reported in its heartbeat).
    active: set[str] = field(default_factory=set)
    # Their recent duration, for the queue's wait estimate.
    durations: Ewma = field(default_factory=Ewma)
