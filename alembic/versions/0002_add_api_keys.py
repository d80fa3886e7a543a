"""Add API keys, and the key each generation belongs to

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 09:11:16.690434
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rate_limit_rpm", sa.Integer(), nullable=True),
        sa.Column("concurrency_limit", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index("ix_api_keys_key_hash", "api_keys", ["key_hash"], unique=True)
    op.add_column("generations", sa.Column("api_key_id", sa.Uuid(), nullable=True))
    op.create_index(
        "ix_generations_api_key_id_queued_at",
        "generations",
        ["api_key_id", "queued_at"],
        unique=False,
    )
    op.create_foreign_key(
        op.f("fk_generations_api_key_id_api_keys"),
        "generations",
        "api_keys",
        ["api_key_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_generations_api_key_id_api_keys"), "generations", type_="foreignkey"
    )
    op.drop_index("ix_generations_api_key_id_queued_at", table_name="generations")
    op.drop_column("generations", "api_key_id")
    op.drop_index("ix_api_keys_key_hash", table_name="api_keys")
    op.drop_table("api_keys")
