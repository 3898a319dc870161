"""Mail copies: every mail sent, as given to SMTP `DATA`, zlib-compressed.

The dispute dossier shows what each mail said. Mails sent before this revision have no
copy; the dossier lists them without their text.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_copies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intervention_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=320), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("message", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["intervention_id"], ["interventions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_copies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mail_copies_intervention_id"), ["intervention_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("mail_copies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_copies_intervention_id"))
    op.drop_table("mail_copies")
