"""The clients a web process holds, made in the lifespan and closed on shutdown."""

from dataclasses import dataclass

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.config import Settings
from shared.jobs import JobSubmitter
from shared.keys import Keys
from shared.records import RecordWriter
from web.auth import Authenticator
from web.generations.cancel import Cancellations
from web.generations.presence import ClientPresence
from web.ops.queue_status import QueueStatus
from web.ops.readiness import Readiness
from web.streaming.hub import StreamHub
from web.streaming.relay import WaitBounds
from web.streaming.response import Responder
from web.upstream import Upstream


@dataclass
class AppState:
    settings: Settings
    keys: Keys
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    hub: StreamHub
    records: RecordWriter
    cancellations: Cancellations
    presence: ClientPresence
    responder: Responder
    submitter: JobSubmitter
    auth: Authenticator
    queue: QueueStatus
    readiness: Readiness
    # The web process's own calls to Ollama (its serving API; generations go to the workers).
    upstream: Upstream

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
            redis_outage=5 * s.REDIS_TIMEOUT_SECONDS,
            worker_check=s.WORKER_HEARTBEAT_SECONDS,
        )
