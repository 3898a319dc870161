"""Events: the actor's name as long as a client's e-mail address (320 characters).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    # A client's decision is recorded under their e-mail address, which the webhook
    # schema allows up to 320 characters.
    with op.batch_alter_table("intervention_events", schema=None) as batch_op:
        batch_op.alter_column(
            "actor_name",
            existing_type=sa.String(length=200),
            type_=sa.String(length=320),
            existing_nullable=True,
        )


def downgrade():
    with op.batch_alter_table("intervention_events", schema=None) as batch_op:
        batch_op.alter_column(
            "actor_name",
            existing_type=sa.String(length=320),
            type_=sa.String(length=200),
            existing_nullable=True,
        )
