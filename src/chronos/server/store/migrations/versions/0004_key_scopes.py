"""api key scopes (admin, worker) and when a key was last used

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Keys made before scopes existed could do everything: they stay admin keys.
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=16), server_default="admin", nullable=False)
        )
        batch_op.add_column(sa.Column("last_used_at", UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(
            op.f("ck_api_keys_scope"), sa.text("scope IN ('admin', 'worker')")
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_api_keys_scope"), type_="check")
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("scope")
