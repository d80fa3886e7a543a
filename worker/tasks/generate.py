"""The generate task: stream one generation from Ollama to its listeners, then record it. An
embedding job runs the same way: one request to Ollama, its vectors one `result` event."""

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from shared import logs
from shared.errors import AppError, Cancelled, UpstreamBusy, UpstreamTimeout, WorkerLost
from shared.jobs import GenerationJob
from shared.models import GenerationStatus
from shared.ollama import EMBED_STAT_FIELDS, Bounds, Kind
from shared.records import GenerationRow
from shared.stream import (
    CONTENT,
    DONE,
    ERROR,
    RESULT,
    START,
    TERMINAL,
    THINKING,
    TOOL_CALLS,
    read_log,
)
from worker import metrics
from worker.publisher import GenerationStream
from worker.state import WorkerState

log = logging.getLogger(__name__)

# Ollama answers 503 when its own queue is full. Nothing has reached the client yet, so waiting
# and asking again is safe; the first-token bound still caps the whole wait.
BUSY_BACKOFF_SECONDS = (0.25, 0.5, 1.0, 2.0, 4.0)
# A generation still running after this long is recorded as `running`; a shorter one is only
# recorded once, when it ends (one database write instead of two).
RUNNING_RECORD_AFTER_SECONDS = 0.2
# A non-streaming request reads nothing until the end, so its events are flushed together at
# most this often instead of one flush per token (the replay log still gets every chunk).
WHOLE_ANSWER_FLUSH_SECONDS = 0.1
# The outcome is recorded right after the last event went out; the job (and its slot) waits for
# the record at most this long, then goes, and the record lands when it can.
OUTCOME_RECORD_WAIT_SECONDS = 2.0

CANCELLED = Cancelled("the generation was cancelled")


async def generate(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
    """Stream a generation from Ollama, publish every chunk, record the outcome."""
    state: WorkerState = ctx["state"]
    job = GenerationJob.model_validate(payload)
    logs.request_id.set(job.request_id)
    logs.generation_id.set(job.generation_id)
    state.active.add(job.generation_id)
    run = GenerationRun(state, job, attempt=int(ctx.get("job_try", 1)))
    try:
        await run.run()
    except Exception as e:
        # A bug must not leave a client waiting for a stream that will never end.
        log.exception("generation %s: the worker failed", job.generation_id)
        await run.fail_unexpectedly(e)
        raise
    finally:
        state.active.discard(job.generation_id)


def _now() -> datetime:
    return datetime.now(UTC)


class GenerationRun:
    def __init__(self, state: WorkerState, job: GenerationJob, *, attempt: int) -> None:
        self.state = state
        self.job = job
        self.owner = job.owner
        self.attempt = attempt
        self.texts: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.embedded = False
        self.stats: dict[str, Any] = {}
        self.started_at = _now()
        self.picked_up = time.monotonic()
        self.first_token_at: datetime | None = None
        self._last = 0.0
        metrics.QUEUE_WAIT.observe(max(0.0, self.started_at.timestamp() - job.queued_at))

    async def run(self) -> None:
        resume_from = 0 if self.attempt == 1 else await self._resume_point()
        if resume_from is None:
            return
        linger = 0.0 if self.job.stream else WHOLE_ANSWER_FLUSH_SECONDS
        stream = self.state.publisher.open(
            self.job.generation_id,
            resume_from,
            linger=linger,
            owner=self.owner,
            end_user=self.job.end_user,
        )
        stream.post(START, {"worker": self.state.worker_id, "attempt": self.attempt})
        running = asyncio.get_running_loop().call_later(
            RUNNING_RECORD_AFTER_SECONDS, self._record_running, stream
        )
        try:
            await self._stream(stream)
            stream.tokens = self._tokens()
            # The answer first, its record right after: the client does not wait for
            # PostgreSQL. A client that reads the record at once still finds it final: while the
            # row is open, GET /api/v1/generations/{id} reads the outcome from the replay log.
            await stream.send(DONE, dict(self.stats))
            await self._finish(stream, GenerationStatus.SUCCEEDED)
        except AppError as e:
            await self._fail(stream, e)
        except asyncio.CancelledError:
            # Shielded: a second cancel (arq may deliver an abort twice) must not cut the
            # recording of the outcome short.
            await asyncio.shield(self._after_cancel(stream))
            raise
        finally:
            running.cancel()

    async def fail_unexpectedly(self, error: Exception) -> None:
        """End the stream and the record after an error nobody expected (a bug)."""
        try:
            events = await read_log(self.state.redis, self.state.keys, self.job.generation_id)
            if events and events[-1].is_terminal:
                return
            stream = self.state.publisher.open(
                self.job.generation_id,
                events[-1].seq if events else 0,
                owner=self.owner,
                end_user=self.job.end_user,
            )
            await self._fail(stream, AppError(f"the worker failed ({type(error).__name__})"))
        except Exception:
            log.exception("generation %s: could not report the failure", self.job.generation_id)

    async def _after_cancel(self, stream: GenerationStream) -> None:
        if await self._cancel_requested():
            await self._fail(stream, CANCELLED)
        elif self.produced:
            # Stopped mid-stream (shutdown grace exceeded, arq's job timeout): the client has
            # half an answer, and a re-run would produce a different one.
            await self._fail(stream, WorkerLost("the worker stopped during the generation"))

    async def _resume_point(self) -> int | None:
        """For a re-run after a crash: the sequence number to continue from, or None if this
        attempt must not run (an earlier one finished, or had streamed text already)."""
        gen_id = self.job.generation_id
        earlier = await read_log(self.state.redis, self.state.keys, gen_id)
        if not earlier:
            return 0
        stream = self.state.publisher.open(
            gen_id, earlier[-1].seq, owner=self.owner, end_user=self.job.end_user
        )
        if any(e.type in TERMINAL for e in earlier):
            return None
        if any(e.type in CONTENT for e in earlier):
            await self._fail(stream, WorkerLost("the worker streaming this generation died"))
            return None
        return earlier[-1].seq

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
                        if self.produced or backoff is None:
                            raise
                        if time.monotonic() + backoff > deadline:
                            raise
                        await asyncio.sleep(backoff)
        except TimeoutError as e:
            raise UpstreamTimeout(
                "the generation took longer than GENERATION_TIMEOUT_SECONDS"
            ) from e

    @property
    def produced(self) -> bool:
        """Whether anything has reached the stream (then Ollama cannot simply be asked again)."""
        return bool(self.texts or self.thinking or self.tool_calls or self.embedded)

    async def _embed_once(self, stream: GenerationStream, bounds: Bounds) -> None:
        answer = await self.state.ollama.embed(self.job.request, bounds.first_chunk)
        self._timed()
        vectors = {k: answer[k] for k in ("embeddings", "embedding") if k in answer}
        stream.post(RESULT, vectors)
        self.embedded = True
        self.stats = {k: answer[k] for k in EMBED_STAT_FIELDS if answer.get(k) is not None}

    async def _stream_once(self, stream: GenerationStream, bounds: Bounds) -> None:
        self._last = time.monotonic()
        if self.job.kind == "embed":
            await self._embed_once(stream, bounds)
            return
        kind: Kind = "chat" if self.job.kind == "chat" else "generate"
        async for chunk in self.state.ollama.stream(kind, self.job.request, bounds):
            if chunk.thinking or chunk.text or chunk.tool_calls:
                self._timed()
            # In Ollama's order within a line: the reasoning, the text, the tool calls.
            if chunk.thinking:
                stream.send_text(chunk.thinking, THINKING)
                self.thinking.append(chunk.thinking)
            if chunk.text:
                stream.send_text(chunk.text)
                self.texts.append(chunk.text)
            if chunk.tool_calls:
                stream.post(TOOL_CALLS, chunk.tool_calls)
                self.tool_calls.extend(chunk.tool_calls)
            if chunk.done:
                self.stats = chunk.stats

    def _timed(self) -> None:
        """The time to the first token, or since the last chunk."""
        now = time.monotonic()
        if self.first_token_at is None:
            self.first_token_at = _now()
            metrics.FIRST_TOKEN.observe(now - self.picked_up)
        else:
            metrics.BETWEEN_CHUNKS.observe(now - self._last)
        self._last = now

    def _tokens(self) -> int:
        """Prompt and completion tokens, as Ollama counts them (the chunks sent, if it never
        said: a stream cut short has no last line)."""
        return int(self.stats.get("prompt_eval_count") or 0) + int(self._completion_tokens())

    def _completion_tokens(self) -> Any:
        """Ollama's count; a stream cut short has no last line, so then the events sent (one
        token each, the reasoning's too)."""
        return self.stats.get("eval_count", len(self.texts) + len(self.thinking))

    async def _cancel_requested(self) -> bool:
        try:
            cancel = self.state.keys.cancel(self.job.generation_id)
            return bool(await self.state.redis.exists(cancel))
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
        stream.tokens = self._tokens()  # a failed or cancelled one counts what it used
        try:
            await stream.send(ERROR, error.to_dict())
        except Exception as e:
            log.warning("generation %s: could not publish its error: %r", self.job.generation_id, e)

    def _row(self, stream: GenerationStream, status: GenerationStatus) -> GenerationRow:
        return GenerationRow.of(
            self.job,
            status,
            started_at=self.started_at,
            worker_id=self.state.worker_id,
            attempts=self.attempt,
            chunk_count=stream.chunks,
        )

    def _record_running(self, stream: GenerationStream) -> None:
        self.state.records.running(self._row(stream, GenerationStatus.RUNNING))

    async def _finish(
        self, stream: GenerationStream, status: GenerationStatus, error: AppError | None = None
    ) -> None:
        stats = self.stats
        row = self._row(stream, status)
        if self.job.store_content:
            row.response = "".join(self.texts)
            row.thinking = "".join(self.thinking) or None
            row.tool_calls = orjson.dumps(self.tool_calls).decode() if self.tool_calls else None
        if error is not None:
            row.error_type, row.error_message = error.type, error.message
        row.done_reason = stats.get("done_reason")
        row.prompt_tokens = stats.get("prompt_eval_count")
        row.completion_tokens = self._completion_tokens()
        if self.job.kind == "embed":
            row.input_count = self.job.input_count
            row.completion_tokens = 0
            if status == GenerationStatus.SUCCEEDED:
                metrics.EMBEDDING_INPUTS.inc(self.job.input_count)
        row.first_token_at = self.first_token_at
        row.finished_at = finished_at = _now()
        row.total_duration_ns = stats.get("total_duration")
        row.load_duration_ns = stats.get("load_duration")
        row.prompt_eval_duration_ns = stats.get("prompt_eval_duration")
        row.eval_duration_ns = stats.get("eval_duration")
        elapsed = (finished_at - self.started_at).total_seconds()
        metrics.GENERATIONS.labels(status.value).inc()
        metrics.DURATION.labels(status.value).observe(elapsed)
        if error is not None:
            metrics.WORKER_ERRORS.labels(error.type).inc()
        if row.prompt_tokens:
            metrics.TOKENS.labels("prompt").inc(row.prompt_tokens)
        metrics.TOKENS.labels("completion").inc(row.completion_tokens or 0)
        if self.tool_calls:
            metrics.TOOL_CALLS.inc(len(self.tool_calls))
        metrics.KEY_TOKENS.labels(metrics.KEY_NAMES(self.job.key_name)).inc(self._tokens())
        end_user = metrics.END_USERS(self.job.end_user) if self.job.end_user else "none"
        metrics.END_USER_GENERATIONS.labels(end_user).inc()
        self.state.durations.add(elapsed)
        log.info(
            "generation ended",
            extra={
                "status": status.value,
                "seconds": round(elapsed, 3),
                "chunks": stream.chunks,
                "completion_tokens": row.completion_tokens,
                "error_type": error.type if error else None,
            },
        )
        written = asyncio.ensure_future(self.state.records.outcome(row))
        await asyncio.wait({written}, timeout=OUTCOME_RECORD_WAIT_SECONDS)
        if not written.done():
            log.warning("generation %s: its record is late (PostgreSQL)", self.job.generation_id)
        written.add_done_callback(self._log_record_failure)

    def _log_record_failure(self, written: "asyncio.Future[None]") -> None:
        if not written.cancelled() and written.exception() is not None:
            log.error(
                "generation %s: could not record its outcome: %r",
                self.job.generation_id,
                written.exception(),
            )
