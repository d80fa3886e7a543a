"""The clients a web process holds, made in the lifespan and closed on shutdown."""

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.jobs import JobSubmitter
from shared.records import RecordWriter
from web.auth import Authenticator
from web.cancel import Cancellations
from web.hub import StreamHub
from web.queue import QueueStatus
from web.readiness import Readiness
from web.relay import WaitBounds


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    hub: StreamHub
    records: RecordWriter
    cancellations: Cancellations
    submitter: JobSubmitter
    auth: Authenticator
    queue: QueueStatus
    readiness: Readiness

    @property
    def wait_bounds(self) -> WaitBounds:
        """The worker enforces the same bounds on Ollama and reports first; these add slack."""
        s = self.settings
        slack = 5.0
        return WaitBounds(
            # Nobody reports a job that expired in the queue: this bound is the web's own.
            queue=s.QUEUE_TIMEOUT_SECONDS + 1.0,
            first_chunk=s.FIRST_TOKEN_TIMEOUT_SECONDS + slack,
            next_chunk=s.CHUNK_TIMEOUT_SECONDS + slack,
            total=s.GENERATION_TIMEOUT_SECONDS + slack,
        )
