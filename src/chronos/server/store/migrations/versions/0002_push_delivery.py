"""push delivery: signing secrets, and an index for queued push jobs

Revision ID: 0002
Revises: 0001
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from chronos.server.ids import new_id
from chronos.server.store.types import UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    table = op.create_table(
        "signing_secrets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('current', 'previous')", name=op.f("ck_signing_secrets_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_signing_secrets_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_secrets")),
        sa.UniqueConstraint(
            "account_id", "status", name=op.f("uq_signing_secrets_account_id_status")
        ),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_queued",
            ["run_at"],
            unique=False,
            postgresql_where=sa.text("status = 'queued'"),
            sqlite_where=sa.text("status = 'queued'"),
        )
    # Accounts created before this migration get their first secret now.
    accounts = sa.table("accounts", sa.column("id", sa.String))
    account_ids = [row.id for row in op.get_bind().execute(sa.select(accounts.c.id))]
    if account_ids:
        now = datetime.now(UTC)
        op.bulk_insert(
            table,
            [
                {
                    "id": new_id("sec"),
                    "account_id": account_id,
                    "secret": generate_secret(),
                    "status": "current",
                    "created_at": now,
                }
                for account_id in account_ids
            ],
        )


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_queued")
    op.drop_table("signing_secrets")
