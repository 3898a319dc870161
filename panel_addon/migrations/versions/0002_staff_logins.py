"""Staff view: used login-link ids (single use), and indexes for the staff list's filters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_logins",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("admin", sa.String(length=200), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("token_id"),
    )
    with op.batch_alter_table("staff_logins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staff_logins_used_at"), ["used_at"], unique=False)

    # The staff list filters by ticket, technician and start date and pages by id: without
    # these, a rare ticket or an old date range scans the whole table.
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.create_index("ix_interventions_ticket", ["ticket_id", "id"], unique=False)
        batch_op.create_index("ix_interventions_technician", ["technician", "id"], unique=False)
        batch_op.create_index("ix_interventions_started", ["started_at"], unique=False)


def downgrade():
    with op.batch_alter_table("interventions", schema=None) as batch_op:
        batch_op.drop_index("ix_interventions_started")
        batch_op.drop_index("ix_interventions_technician")
        batch_op.drop_index("ix_interventions_ticket")

    with op.batch_alter_table("staff_logins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_logins_used_at"))

    op.drop_table("staff_logins")
