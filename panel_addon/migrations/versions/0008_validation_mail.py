"""The validation request's own times: queued, refused (and why).

The client's window now opens when the mail server accepts the validation request
(`window_opened_at`), no longer when the mail is scheduled (`mail_queued_at`). A request
the server refuses for good records `mail_failed_at` and `mail_error` until staff resend
it. Interventions whose mail was scheduled before this revision keep the window they had.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("interventions") as batch:
        batch.add_column(sa.Column("mail_queued_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("mail_failed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("mail_error", sa.Text(), nullable=True))
    op.execute(
        "UPDATE interventions SET mail_queued_at = window_opened_at"
        " WHERE window_opened_at IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("interventions") as batch:
        batch.drop_column("mail_error")
        batch.drop_column("mail_failed_at")
        batch.drop_column("mail_queued_at")
