"""The generate task: stream one generation from Ollama to its listeners, then record it."""

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from shared.errors import AppError, Cancelled, UpstreamBusy, UpstreamTimeout, WorkerLost
from shared.jobs import WAITING_KEY, GenerationJob, cancel_key
from shared.models import GenerationStatus
from shared.ollama import Bounds
from shared.stream import CHUNK, DONE, ERROR, START, TERMINAL, log_key, read_log
from worker.publisher import GenerationStream
from worker.state import WorkerState

log = logging.getLogger(__name__)

# Ollama answers 503 when its own queue is full. Nothing has reached the client yet, so waiting
# and asking again is safe; the first-token bound still caps the whole wait.
BUSY_BACKOFF_SECONDS = (0.25, 0.5, 1.0, 2.0, 4.0)

CANCELLED = Cancelled("the generation was cancelled")


async def generate(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """Stream a generation from Ollama, publish every chunk, record the outcome."""
    state: WorkerState = ctx["state"]
    job = GenerationJob.model_validate(payload)
    state.active.add(job.generation_id)
    try:
        await GenerationRun(state, job, attempt=int(ctx.get("job_try", 1))).run()
    finally:
        state.active.discard(job.generation_id)


def _now() -> datetime:
    return datetime.now(UTC)


class GenerationRun:
    def __init__(self, state: WorkerState, job: GenerationJob, *, attempt: int) -> None:
        self.state = state
        self.job = job
        self.uuid = uuid.UUID(job.generation_id)
        self.attempt = attempt
        self.texts: list[str] = []
        self.stats: dict[str, Any] = {}
        self.started_at = _now()
        self.first_token_at: datetime | None = None

    async def run(self) -> None:
        state, gen_id = self.state, self.job.generation_id
        resume_from = await self._resume_point()
        if resume_from is None:
            return
        stream = state.publisher.open(gen_id, resume_from)
        stream.post(START, {"worker": state.worker_id, "attempt": self.attempt})
        state.records.running(
            {
                "id": self.uuid,
                "started_at": self.started_at,
                "worker_id": state.worker_id,
                "attempts": self.attempt,
            }
        )
        try:
            await self._stream(stream)
            # Recorded before the last event goes out: a client that has its answer finds the
            # record final.
            await stream.flush()
            await self._finish(stream, GenerationStatus.SUCCEEDED)
            await stream.send(DONE, self._done_payload())
        except AppError as e:
            await self._fail(stream, e)
        except asyncio.CancelledError:
            if await self._cancel_requested():
                await self._fail(stream, CANCELLED)
            elif self.texts:
                # Stopped mid-stream (shutdown grace exceeded, arq's job timeout): the client has
                # half an answer, and a re-run would produce a different one.
                await self._fail(stream, WorkerLost("the worker stopped during the generation"))
            raise

    async def _resume_point(self) -> int | None:
        """The last sequence number to continue from, or None if this attempt must not run."""
        state, gen_id = self.state, self.job.generation_id
        async with state.redis.pipeline(transaction=False) as pipe:
            pipe.exists(cancel_key(gen_id))
            pipe.xrevrange(log_key(gen_id), max="+", min="-", count=1)
            pipe.zrem(WAITING_KEY, gen_id)
            cancelled, tail, _ = await pipe.execute()
        last = int(tail[0][0].split(b"-")[1]) if tail else 0
        stream = state.publisher.open(gen_id, last)
        if cancelled:
            await self._fail(stream, CANCELLED)
            return None
        if last == 0:
            return 0
        earlier = await read_log(state.redis, gen_id)
        if any(e.type in TERMINAL for e in earlier):
            return None  # an earlier attempt finished; arq ran it again after a crash
        if any(e.type == CHUNK for e in earlier):
            await self._fail(stream, WorkerLost("the worker streaming this generation died"))
            return None
        return last

    async def _stream(self, stream: GenerationStream) -> None:
        settings = self.state.settings
        bounds = Bounds(settings.FIRST_TOKEN_TIMEOUT_SECONDS, settings.CHUNK_TIMEOUT_SECONDS)
        deadline = time.monotonic() + settings.FIRST_TOKEN_TIMEOUT_SECONDS
        try:
            async with asyncio.timeout(settings.GENERATION_TIMEOUT_SECONDS):
                for backoff in (*BUSY_BACKOFF_SECONDS, None):
                    try:
                        await self._stream_once(stream, bounds)
                        return
                    except UpstreamBusy:
                        if self.texts or backoff is None or time.monotonic() + backoff > deadline:
                            raise
                        await asyncio.sleep(backoff)
        except TimeoutError as e:
            raise UpstreamTimeout(
                "the generation took longer than GENERATION_TIMEOUT_SECONDS"
            ) from e

    async def _stream_once(self, stream: GenerationStream, bounds: Bounds) -> None:
        async for chunk in self.state.ollama.stream(self.job.kind, self.job.request, bounds):
            if chunk.text:
                if self.first_token_at is None:
                    self.first_token_at = _now()
                stream.send_text(chunk.text)
                self.texts.append(chunk.text)
            if chunk.done:
                self.stats = chunk.stats

    def _done_payload(self) -> dict[str, Any]:
        return dict(self.stats)

    async def _cancel_requested(self) -> bool:
        try:
            return bool(await self.state.redis.exists(cancel_key(self.job.generation_id)))
        except Exception:
            return False

    async def _fail(self, stream: GenerationStream, error: AppError) -> None:
        status = (
            GenerationStatus.CANCELLED if isinstance(error, Cancelled) else GenerationStatus.FAILED
        )
        try:
            await stream.flush()
        except Exception as e:  # Redis is gone; the web side's own bounds end the client's wait
            log.warning("generation %s: could not publish: %r", self.job.generation_id, e)
        await self._finish(stream, status, error)
        try:
            await stream.send(ERROR, error.to_dict())
        except Exception as e:
            log.warning("generation %s: could not publish its error: %r", self.job.generation_id, e)

    async def _finish(
        self, stream: GenerationStream, status: GenerationStatus, error: AppError | None = None
    ) -> None:
        stats = self.stats
        row = {
            "id": self.uuid,
            "status": status.value,
            "started_at": self.started_at,
            "worker_id": self.state.worker_id,
            "attempts": self.attempt,
            "response": "".join(self.texts),
            "error_type": error.type if error else None,
            "error_message": error.message if error else None,
            "done_reason": stats.get("done_reason"),
            "prompt_tokens": stats.get("prompt_eval_count"),
            # Ollama counts tokens only in its last line; a cancelled stream never gets it, so
            # count the chunks it sent (one token each).
            "completion_tokens": stats.get("eval_count", len(self.texts)),
            "chunk_count": stream.chunks,
            "first_token_at": self.first_token_at,
            "finished_at": _now(),
            "total_duration_ns": stats.get("total_duration"),
            "load_duration_ns": stats.get("load_duration"),
            "prompt_eval_duration_ns": stats.get("prompt_eval_duration"),
            "eval_duration_ns": stats.get("eval_duration"),
        }
        log.info(
            "generation %s %s after %.3fs, %d chunks%s",
            self.job.generation_id,
            status.value,
            (row["finished_at"] - self.started_at).total_seconds(),
            stream.chunks,
            f" ({error.type})" if error else "",
        )
        try:
            await self.state.records.outcome(row)
        except Exception as e:
            log.error("generation %s: could not record its outcome: %r", self.job.generation_id, e)
