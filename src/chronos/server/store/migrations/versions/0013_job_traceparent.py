"""jobs.traceparent: the W3C trace context a job was created in (OpenTelemetry, optional)

A nullable column with no default: on PostgreSQL (11+) and SQLite alike, adding it changes the
catalog only (no table rewrite), and a job created while tracing is off stores nothing in it.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not in a batch: SQLite adds a nullable column in place, a batch would copy the table.
    op.add_column("jobs", sa.Column("traceparent", sa.String(length=55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("traceparent")
