"""Add what tool calls, thinking and embeddings need in a record: its kind, the model's
reasoning, its tool calls, an embedding job's input count

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "generations",
        sa.Column("kind", sa.String(length=16), server_default="generate", nullable=False),
    )
    op.create_check_constraint("kind_valid", "generations", "kind IN ('generate', 'chat', 'embed')")
    op.add_column("generations", sa.Column("thinking", sa.Text(), nullable=True))
    op.add_column(
        "generations",
        sa.Column("tool_calls", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("generations", sa.Column("input_count", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("generations", "input_count")
    op.drop_column("generations", "tool_calls")
    op.drop_column("generations", "thinking")
    op.drop_constraint(op.f("ck_generations_kind_valid"), "generations", type_="check")
    op.drop_column("generations", "kind")
