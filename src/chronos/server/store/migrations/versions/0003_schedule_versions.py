"""schedule versions: every configuration change is kept

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from chronos.server.store.types import JSONType, UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_versions",
        sa.Column("schedule_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", JSONType, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["schedules.id"],
            name=op.f("fk_schedule_versions_schedule_id_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("schedule_id", "version", name=op.f("pk_schedule_versions")),
    )
    # Schedules made before versions were kept start their history with what they are now.
    op.execute(
        "INSERT INTO schedule_versions (schedule_id, version, spec, created_at) "
        "SELECT id, version, spec, updated_at FROM schedules"
    )


def downgrade() -> None:
    op.drop_table("schedule_versions")
