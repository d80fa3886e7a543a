"""Add what fair queueing and budgets need: a key's weight, priority class, token budgets and
per-end-user limits; the end user of each generation

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("weight", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "api_keys",
        sa.Column("priority", sa.String(length=16), server_default="standard", nullable=False),
    )
    op.add_column("api_keys", sa.Column("tokens_per_day", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("tokens_per_month", sa.BigInteger(), nullable=True))
    op.add_column("api_keys", sa.Column("end_user_rate_limit_rpm", sa.Integer(), nullable=True))
    op.add_column("api_keys", sa.Column("end_user_concurrency_limit", sa.Integer(), nullable=True))
    op.create_check_constraint(
        "priority_valid", "api_keys", "priority IN ('interactive', 'standard', 'batch')"
    )
    op.add_column("generations", sa.Column("end_user", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_generations_api_key_id_end_user_queued_at",
        "generations",
        ["api_key_id", "end_user", "queued_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_generations_api_key_id_end_user_queued_at", table_name="generations")
    op.drop_column("generations", "end_user")
    op.drop_constraint(op.f("ck_api_keys_priority_valid"), "api_keys", type_="check")
    for column in (
        "end_user_concurrency_limit",
        "end_user_rate_limit_rpm",
        "tokens_per_month",
        "tokens_per_day",
        "priority",
        "weight",
    ):
        op.drop_column("api_keys", column)
