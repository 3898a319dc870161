"""The one way a service changes a row it may race for: a conditional UPDATE.

`UPDATE ... WHERE id = ? AND <the state a table allows> RETURNING id`: of two racing
requests one moves the row, the other finds it moved and is told so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update

from ..models import Client, Intervention, db


def move(
    row: Intervention | Client,
    where: ColumnElement[bool],
    now: datetime,
    values: dict[str, Any],
) -> bool:
    """UPDATE `row` with `values` (and `updated_at`) where `where` still holds; True if it did.

    The session's object shows the new values at once (synchronised from RETURNING).
    """
    if row.id is None:
        db.session.flush()  # added in this transaction: inserted first, to be found
    entity = type(row)
    moved = db.session.execute(
        update(entity)
        .where(entity.id == row.id, where)
        .values(**values, updated_at=now)
        .returning(entity.id)
        .execution_options(synchronize_session="fetch")
    ).first()
    return moved is not None
