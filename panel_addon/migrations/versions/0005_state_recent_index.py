"""Interventions: an index on (state, updated_at) for the staff's counts per state.

The counts cover the open states in full and the closed ones over recent days only
(staff_queries.state_counts): both are ranges of this index, whatever the table's size.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_interventions_state_updated", "interventions", ["state", "updated_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_interventions_state_updated", table_name="interventions")
