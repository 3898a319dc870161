"""Site check: pages to check, held mail, window opening on interventions; site snapshots.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("check_urls", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("mail_held_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("window_opened_at", sa.DateTime(), nullable=True))
    # Every intervention completed before the site check had its window opened then.
    op.execute(
        "UPDATE interventions SET window_opened_at = completed_at WHERE completed_at IS NOT NULL"
    )

    op.create_table(
        "site_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["interventions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("intervention_id", "phase", "position", name="uq_site_snapshots_page"),
    )
    with op.batch_alter_table("site_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_site_snapshots_intervention_id"), ["intervention_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("site_snapshots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_site_snapshots_intervention_id"))
    op.drop_table("site_snapshots")

    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_column("window_opened_at")
        batch_op.drop_column("mail_held_at")
        batch_op.drop_column("check_urls")
