"""The trail's hash chain: every event gets its seq, prev_hash and hash; trails are chained.

Each intervention's existing events are numbered and chained in the order they were
written (their id), with the rule every new event follows (`panel_addon/domain/chain.py`,
contract §8), and the intervention keeps its head. The chain of an upgraded trail proves
nothing about the time before the upgrade; from then on, a change shows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from datetime import UTC

import sqlalchemy as sa
from alembic import op

from panel_addon.domain import chain

# revision identifiers, used by Alembic.
revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The trails are chained this many interventions at a time.
PAGE = 500

interventions = sa.table(
    "interventions",
    sa.column("id", sa.Integer),
    sa.column("trail_seq", sa.Integer),
    sa.column("trail_head", sa.String),
)
events = sa.table(
    "intervention_events",
    sa.column("id", sa.Integer),
    sa.column("intervention_id", sa.Integer),
    sa.column("seq", sa.Integer),
    sa.column("at", sa.DateTime),
    sa.column("actor", sa.String),
    sa.column("actor_name", sa.String),
    sa.column("type", sa.String),
    sa.column("from_state", sa.String),
    sa.column("to_state", sa.String),
    sa.column("ip", sa.String),
    sa.column("user_agent", sa.String),
    sa.column("data", sa.JSON),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade():
    op.add_column(
        "interventions",
        sa.Column("trail_seq", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column("interventions", sa.Column("trail_head", sa.String(64), nullable=True))
    for name, type_ in (("seq", sa.Integer()), ("prev_hash", sa.String(64))):
        op.add_column("intervention_events", sa.Column(name, type_, nullable=True))
    op.add_column("intervention_events", sa.Column("hash", sa.String(64), nullable=True))
    bind = op.get_bind()
    _chain_existing_trails(bind)
    if bind.dialect.name != "sqlite":
        # SQLite would copy the table to change a column (its foreign keys refuse the
        # copy); the service always writes the three, the unique index keeps the order.
        for name, type_ in (("seq", sa.Integer()), ("prev_hash", sa.String(64))):
            op.alter_column("intervention_events", name, existing_type=type_, nullable=False)
        op.alter_column("intervention_events", "hash", existing_type=sa.String(64), nullable=False)
    op.create_index(
        "uq_intervention_events_seq", "intervention_events", ["intervention_id", "seq"], unique=True
    )


def _chain_existing_trails(bind):
    last = 0
    while True:
        ids = list(
            bind.scalars(
                sa.select(interventions.c.id)
                .where(interventions.c.id > last)
                .order_by(interventions.c.id)
                .limit(PAGE)
            )
        )
        if not ids:
            return
        last = ids[-1]
        rows = bind.execute(
            sa.select(events)
            .where(events.c.intervention_id.in_(ids))
            .order_by(events.c.intervention_id, events.c.id)
        ).all()
        chained, heads = [], {}
        for row in rows:
            seq, head = heads.get(row.intervention_id, (0, chain.GENESIS))
            exported = chain.event_object(
                seq=seq + 1,
                at=row.at.replace(tzinfo=UTC),
                type_=row.type,
                actor=row.actor,
                actor_name=row.actor_name,
                ip=row.ip,
                user_agent=row.user_agent,
                data=row.data,
                from_state=row.from_state,
                to_state=row.to_state,
                prev_hash=head,
            )
            digest = chain.event_hash(exported)
            chained.append({"event_id": row.id, "s": seq + 1, "p": head, "h": digest})
            heads[row.intervention_id] = (seq + 1, digest)
        if chained:
            bind.execute(
                events.update()
                .where(events.c.id == sa.bindparam("event_id"))
                .values(seq=sa.bindparam("s"), prev_hash=sa.bindparam("p"), hash=sa.bindparam("h")),
                chained,
            )
        if heads:
            bind.execute(
                interventions.update()
                .where(interventions.c.id == sa.bindparam("iv_id"))
                .values(trail_seq=sa.bindparam("s"), trail_head=sa.bindparam("h")),
                [{"iv_id": key, "s": seq, "h": head} for key, (seq, head) in heads.items()],
            )


def downgrade():
    op.drop_index("uq_intervention_events_seq", table_name="intervention_events")
    with op.batch_alter_table("intervention_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
    with op.batch_alter_table("interventions") as batch:
        batch.drop_column("trail_head")
        batch.drop_column("trail_seq")
