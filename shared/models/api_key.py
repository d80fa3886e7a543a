import uuid
from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from shared.models.base import Base


class ApiKey(Base):
    """A client's key. Only a keyed hash of it is stored; the key itself is shown once."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_key_hash", "key_hash", unique=True),)

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
