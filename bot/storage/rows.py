"""Hot inserts without the ORM's unit of work: a new object's row in one Core ``INSERT …
RETURNING``, the object then attached to the session as if it had been loaded.

A turn adds a few rows known whole when they are added (the person's message, the reply, its
outbox rows), and each flush of the ORM cost a unit of work for them (change tracking, a sort
of the dependencies, the ORM's bulk-insert machinery) — the largest single share of a turn's
database CPU. Here a row is one cached Core statement; the object gets its id from
``RETURNING`` and is attached to the session (``make_transient_to_detached`` and ``add``) with
every column loaded, so a later change to it in the same transaction (a message tagged with
the ticket it opened) is flushed as an ``UPDATE``, as before.

Columns left unset take their model default or ``NULL`` (a ``None`` is not sent: a JSON column
stays SQL ``NULL`` rather than JSON ``null``, which reads back the same).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, make_transient_to_detached

from bot.storage import dialect


async def add_row(
    session: AsyncSession,
    obj: DeclarativeBase,
    statement: Insert | None = None,
    extra: Mapping[str, Any] | None = None,
    *,
    computed: Collection[str] = (),
    shaped: Callable[[tuple[str, ...]], Insert] | None = None,
) -> tuple[Any, ...] | None:
    """Insert ``obj`` (its primary key left to the database) and attach it; the row
    ``RETURNING`` gave, its first column the new id (``None``: a statement that ignores a
    conflict stored nothing, and ``obj`` is left out of the session). ``statement``: an insert
    of the object's table returning at least the id (by default :func:`plain_insert`; see
    :func:`insert_if_new`), with ``extra`` as its own bound parameters; ``computed``: the
    columns its ``values()`` sets itself; ``shaped``: instead of ``statement``, the insert for
    the columns the row sends, in the model's order (one that names them: an ``INSERT …
    SELECT``)."""
    model = type(obj)
    values = _complete(obj)
    for column in computed:
        values.pop(column, None)
    if shaped is not None:
        statement = shaped(tuple(values))
    found = (
        await session.execute(
            statement if statement is not None else plain_insert(model),
            values if extra is None else {**values, **extra},
        )
    ).first()
    if found is None:
        return None
    setattr(obj, _key(model), found[0])
    make_transient_to_detached(obj)
    session.add(obj)
    return tuple(found)


@cache
def plain_insert(model: type[DeclarativeBase]) -> Insert:
    """``INSERT INTO <table> … RETURNING <id>``, its columns those of the parameters."""
    table = _table(model)
    (key,) = table.primary_key
    return insert(table).returning(key)


@cache
def insert_if_new(backend: str, model: type[DeclarativeBase]) -> Insert:
    """:func:`plain_insert` that stores nothing, and returns no row, when a unique key of the
    row is taken already (``ON CONFLICT DO NOTHING``; ``backend``: :func:`dialect.backend`)."""
    table = _table(model)
    (key,) = table.primary_key
    return dialect.insert_ignoring(backend, table).returning(key)


async def put_row(session: AsyncSession, obj: DeclarativeBase) -> None:
    """Store ``obj`` by its primary key: its row inserted (the columns it leaves unset take their
    defaults), or, when the key is taken, the columns it sets written on the stored row and the
    others kept — one statement (:func:`dialect.insert_or_update`), where ``session.merge``
    reads first and then inserts, and fails on the key when a concurrent transaction inserted
    it in between. ``obj`` is not attached to the session: it only carries the values."""
    model, state = type(obj), obj.__dict__
    values = {column: state[key] for key, column in _all_columns(model) if key in state}
    statement = _putting(dialect.backend(session), model, tuple(sorted(values)))
    await session.execute(statement, values)


@cache
def _putting(backend: str, model: type[DeclarativeBase], columns: tuple[str, ...]) -> Insert:
    """:func:`put_row`'s statement for ``model``'s row setting ``columns``, built once."""
    return dialect.insert_or_update(backend, _table(model), columns)


@cache
def _all_columns(model: type[DeclarativeBase]) -> Sequence[tuple[str, str]]:
    """(attribute, column) of every column, the primary key's included."""
    return tuple((prop.key, prop.columns[0].key) for prop in inspect(model).column_attrs)


def _table(model: type[DeclarativeBase]) -> Table:
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table


def _complete(obj: DeclarativeBase) -> dict[str, Any]:
    """Set every unset column attribute of ``obj`` (its default, else ``None``); its values to
    insert, the primary key and the ``None`` ones aside."""
    state = obj.__dict__
    values: dict[str, Any] = {}
    for key, column, default in _columns(type(obj)):
        if key not in state:
            setattr(obj, key, default)
        value = state[key]
        if value is not None:
            values[column] = value
    return values


@cache
def _columns(model: type[DeclarativeBase]) -> Sequence[tuple[str, str, Any]]:
    """(attribute, column, default) of every column but the primary key."""
    mapper = inspect(model)
    found = []
    for prop in mapper.column_attrs:
        column = prop.columns[0]
        if column.primary_key:
            continue
        default = column.default
        scalar = default.arg if default is not None and default.is_scalar else None
        found.append((prop.key, column.key, scalar))
    return tuple(found)


@cache
def _key(model: type[DeclarativeBase]) -> str:
    mapper = inspect(model)
    (column,) = mapper.primary_key
    return mapper.get_property_by_column(column).key
