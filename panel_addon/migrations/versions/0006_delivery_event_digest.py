"""Webhook deliveries: the SHA-256 of the event each `webhook-id` carried.

A `webhook-id` reused for another event is refused (409) instead of being taken for a
redelivery. Deliveries recorded before this revision have no digest and keep being
answered as redeliveries.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("webhook_deliveries", sa.Column("event_sha256", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("event_sha256")
