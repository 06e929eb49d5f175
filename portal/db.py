"""Database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection


def row_by(model, **fields):
    """The row of ``model`` whose fields equal these values (the first, if several), or None.

    A written-out ``SELECT *``, for lookups that run on every request (an API token, a webhook's
    integration): Django took longer to build such a query than PostgreSQL took to answer it.
    """
    quote = connection.ops.quote_name
    conditions, params = [], []
    for name, value in fields.items():
        field = model._meta.get_field(name)
        conditions.append(f"{quote(field.column)} = %s")
        params.append(field.get_db_prep_value(value, connection))
    sql = f"SELECT * FROM {quote(model._meta.db_table)} WHERE {' AND '.join(conditions)}"  # noqa: S608  # nosec B608: model names
    return next(iter(model.objects.raw(sql, params)), None)
