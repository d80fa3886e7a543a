import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class ApiKey(Base):
    """A client's key. Only a keyed hash of it is stored; the key itself is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("ix_api_keys_key_hash", "key_hash", unique=True),
        CheckConstraint("priority IN ('interactive', 'standard', 'batch')", name="priority_valid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # The key's first characters, to tell keys apart in a list; not enough to use it.
    prefix: Mapped[str] = mapped_column(String(16))
    # HMAC-SHA256 of the whole key with API_KEY_HASH_SECRET, hex.
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Overrides of DEFAULT_RATE_LIMIT_RPM and DEFAULT_CONCURRENCY_LIMIT; 0 means unlimited.
    rate_limit_rpm: Mapped[int | None] = mapped_column(Integer)
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    # May set what changes Ollama for everyone: keep_alive, num_ctx beyond the cap, num_gpu, ...
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Its share of the queue against the other keys of its priority class (shared/fair_queue.py).
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    priority: Mapped[str] = mapped_column(String(16), default="standard", server_default="standard")
    # Token budgets (prompt and completion, UTC day and month); None or 0: none.
    tokens_per_day: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    # Limits of each end user behind the key (OpenAI's `user`, or END_USER_HEADER); None or 0:
    # none beyond the key's own.
    end_user_rate_limit_rpm: Mapped[int | None] = mapped_column(Integer)
    end_user_concurrency_limit: Mapped[int | None] = mapped_column(Integer)
