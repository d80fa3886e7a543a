import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class GenerationStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {GenerationStatus.SUCCEEDED, GenerationStatus.FAILED, GenerationStatus.CANCELLED}
)


class Generation(Base):
    """One request for text: its lifecycle, its outcome, and where the time went."""

    __tablename__ = "generations"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
            name="status_valid",
        ),
        CheckConstraint("kind IN ('generate', 'chat', 'embed')", name="kind_valid"),
        Index("ix_generations_queued_at", "queued_at"),
        Index("ix_generations_api_key_id_queued_at", "api_key_id", "queued_at"),
        Index(
            "ix_generations_api_key_id_end_user_queued_at", "api_key_id", "end_user", "queued_at"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # The key that asked for it; NULL for the master key.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    # Who behind the key asked: OpenAI's `user`, or the END_USER_HEADER of the request.
    end_user: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=GenerationStatus.QUEUED)
    # What Ollama was asked: `generate` (/api/generate), `chat` (/api/chat) or `embed`.
    kind: Mapped[str] = mapped_column(String(16), default="generate", server_default="generate")
    llm_model: Mapped[str] = mapped_column(String(200))
    stream: Mapped[bool] = mapped_column(Boolean)
    prompt: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    # The model's reasoning (Ollama's `thinking`), kept like the response.
    thinking: Mapped[str | None] = mapped_column(Text)
    # The tool calls the model answered, in Ollama's shape (a JSON list).
    tool_calls: Mapped[list[dict] | None] = mapped_column(JSONB)
    # An embedding job's number of inputs (the vectors themselves are never kept).
    input_count: Mapped[int | None] = mapped_column(Integer)
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    done_reason: Mapped[str | None] = mapped_column(String(32))

    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))

    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_token_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # Ollama's own timings, in nanoseconds as Ollama reports them.
    total_duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    load_duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    prompt_eval_duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    eval_duration_ns: Mapped[int | None] = mapped_column(BigInteger)
