"""Database helpers shared by the apps.

Written-out queries for lookups that run on every request (an API token and its user, a webhook's
integration, an entity by reference): Django took longer to build such a query, and RawQuerySet
longer to map its columns, than PostgreSQL took to answer it. The rows still go through each
field's own database converters, so values come back as the ORM would give them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from django.db import DEFAULT_DB_ALIAS, connection, connections


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def columns(model, alias: str) -> str:
    """The select list of every stored column of ``model``, qualified by ``alias``, in field order."""
    return ", ".join(f"{alias}.{_quote(field.column)}" for field in model._meta.concrete_fields)


_STATEMENTS: dict = {}


def statement(key, write) -> str:
    """The SQL text ``write()`` returns, written once per key and database vendor."""
    full_key = (key, connections[DEFAULT_DB_ALIAS].vendor)
    sql = _STATEMENTS.get(full_key)
    if sql is None:
        sql = _STATEMENTS[full_key] = write()
    return sql


# Per connection (each thread has its own), per model: the attribute names and the converters to apply.
_READERS: WeakKeyDictionary = WeakKeyDictionary()


def _readers(model, wrapper) -> tuple[tuple[str, ...], tuple]:
    known = _READERS.setdefault(wrapper, {})
    if model not in known:
        known[model] = _readers_for(model, wrapper)
    return known[model]


def _readers_for(model, connection) -> tuple[tuple[str, ...], tuple]:
    attnames = tuple(field.attname for field in model._meta.concrete_fields)
    converters = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, tuple(found), column))
    return attnames, tuple(converters)


def instances(row, *models) -> tuple:
    """``row`` (the columns of each of ``models`` in turn, as ``columns`` lists them) as model instances."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    made, start = [], 0
    for model in models:
        attnames, converters = _readers(model, wrapper)
        values = list(row[start : start + len(attnames)])
        for index, functions, column in converters:
            for convert in functions:
                values[index] = convert(values[index], column, wrapper)
        made.append(model.from_db(DEFAULT_DB_ALIAS, attnames, values))
        start += len(attnames)
    return tuple(made)


# One server-side binding cursor per open PostgreSQL connection, kept for its lookups.
_LOOKUP_CURSORS: WeakKeyDictionary = WeakKeyDictionary()


def fetch_row(sql: str, params) -> tuple | None:
    """The first row of a written-out lookup that runs on every request.

    On PostgreSQL the parameters are sent apart from the query (server-side binding), so that it
    prepares the statement once it repeats (``DB_PREPARE_THRESHOLD``) and no longer parses and
    plans it; Django's cursors put them into the query text, which makes every lookup a new
    statement. The cursor is kept for the connection's next lookups. When Django records queries
    (DEBUG, tests counting them), the lookup goes through its recording cursor.
    """
    wrapper = connections[DEFAULT_DB_ALIAS]
    if wrapper.vendor != "postgresql":
        with wrapper.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    from django.db.backends.postgresql.base import ServerBindingCursor

    wrapper.close_if_health_check_failed()
    wrapper.ensure_connection()
    raw = wrapper.connection
    if wrapper.queries_logged:
        with wrapper.wrap_database_errors, wrapper._prepare_cursor(ServerBindingCursor(raw)) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    cursor = _LOOKUP_CURSORS.get(raw)
    if cursor is None or cursor.closed:
        cursor = _LOOKUP_CURSORS[raw] = ServerBindingCursor(raw)
        if wrapper.timezone_name == "UTC" and wrapper.timezone is datetime.UTC:
            _load_timestamps_in_c(cursor)
    wrapper.validate_no_broken_transaction()
    with wrapper.wrap_database_errors:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _load_timestamps_in_c(cursor) -> None:
    """Read ``timestamptz`` columns with psycopg's own loader (written in C), not Django's.

    Django's loader is psycopg's pure-Python one followed by a change of tzinfo: reading the five
    timestamps of a token and its user took a sixth of an API lookup's time in process. With the
    session in UTC (Django sets it to the connection's time zone), both give the same values with
    the same ``datetime.timezone.utc``; elsewhere Django's loader stays.
    """
    import psycopg
    from psycopg.pq import Format

    oid = psycopg.postgres.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, Format.TEXT))


def fetch_one(sql: str, params, *models) -> tuple | None:
    """The first row of a written-out query whose select list is ``columns`` of each of ``models``."""
    row = fetch_row(sql, params)
    return None if row is None else instances(row, *models)


@dataclass(frozen=True)
class Beside:
    """Another lookup made in the query that finds a request's API token
    (``portal.services.token_with_user``), so that the request needs one round trip, not two.

    ``join`` is a LEFT JOIN that finds at most one row (its columns NULL when none), ``select`` the
    select list of that row; ``key`` names the combination for the statement cache. Their
    parameters are passed in the order they appear: the select list's, then the join's.
    """

    key: str
    select: str
    join: str


def row_by(model, **fields):
    """The row of ``model`` whose fields equal these values (the first, if several), or None."""
    used = [model._meta.get_field(name) for name in fields]
    params = [field.get_db_prep_value(value, connection) for field, value in zip(used, fields.values(), strict=True)]

    def write() -> str:
        conditions = " AND ".join(f"t.{_quote(field.column)} = %s" for field in used)
        return f"SELECT {columns(model, 't')} FROM {_quote(model._meta.db_table)} t WHERE {conditions}"  # noqa: S608  # nosec B608: model names

    sql = statement((model, tuple(fields)), write)
    found = fetch_one(sql, params, model)
    return None if found is None else found[0]
