"""Core statements run on the driver's cursor itself, for the statements every request runs.

SQLAlchemy's execution of a cached Core statement still costs about 30-50 µs (an execution
context, parameter and result set-up, events), more than SQLite spends on the statement. The
inbox claim, the merge and the tier lookup run on every request, and on SQLite the first two
run while the write lock is held, which every other writer waits for. So each of them is
compiled once per dialect and run here: the bound values go through the same type
processors SQLAlchemy would apply (the dialect's own, e.g. SQLite's datetime strings), the
SQL runs on the connection's DBAPI cursor, and the returned columns are processed likewise
into named tuples. The statement stays a SQLAlchemy construct, built and tested as one.

Errors stay SQLAlchemy's: a driver error is raised as DBAPIError (with hide_parameters'
discretion: no bound values in it), and one that means the connection is gone invalidates it
first, with the whole pool (as SQLAlchemy does), so the callers' reconnect-once logic
(inbox.receive, extensions.reconnecting) sees `connection_invalidated` and a fresh connection
as before.
"""
from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


class Prepared:
    """One statement compiled for one dialect; execute() returns its rows."""

    def __init__(self, statement: Any, dialect: Dialect,
                 column_keys: tuple[str, ...] | None = None) -> None:
        # column_keys: an INSERT's columns, as the keys of the values SQLAlchemy would be given.
        compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        assert isinstance(compiled, SQLCompiler)
        if compiled.post_compile_params or compiled.literal_execute_params:
            raise ValueError("expanding (IN) parameters are rendered per execution: not here")
        if compiled.insert_prefetch or compiled.update_prefetch:
            # A column default SQLAlchemy would compute in Python for each execution.
            raise ValueError("give every column with a Python-side default a value")
        self.dialect = dialect
        self.compiled = compiled
        self.sql = compiled.string
        self.order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self.binds: dict[str, Processor] = {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self.binds[compiled.bind_names.get(bind, name)] = process
        columns = list(_returned(statement))
        self.columns = [(column.key, column.type.dialect_impl(dialect)
                         .result_processor(dialect, None)) for column in columns]
        self.row = namedtuple("Row", [key for key, _ in self.columns])  # type: ignore[misc]

    def execute(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Run on `connection`'s driver connection, in whatever transaction it is in."""
        values = self.compiled.construct_params(dict(params))
        for name, process in self.binds.items():
            values[name] = process(values[name])
        args: Any = (tuple(values[name] for name in self.order) if self.order is not None
                     else values)
        dbapi_connection = connection.connection.dbapi_connection
        assert dbapi_connection is not None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(self.sql, args)
            raw = cursor.fetchall() if cursor.description else []
        except self.dialect.loaded_dbapi.Error as exc:
            lost = self.dialect.is_disconnect(exc, dbapi_connection, cursor)
            if lost:
                # As SQLAlchemy's own execution does: the pool's other connections date from
                # before the loss too, so all of them are retired, not only this one (the
                # one retry would meet the next dead one). Pool._invalidate is what
                # Connection._handle_dbapi_exception calls for it.
                connection.engine.pool._invalidate(connection.connection, exc)
                connection.invalidate(exc)
            raise DBAPIError.instance(self.sql, None, exc, self.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=self.dialect,
                                      connection_invalidated=lost) from None
        finally:
            cursor.close()
        return [self.row(*(value if process is None else process(value)
                           for value, (_, process) in zip(row, self.columns, strict=True)))
                for row in raw]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The first row, or None."""
        rows = self.execute(connection, params)
        return rows[0] if rows else None

    def scalar(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None."""
        row = self.first(connection, params)
        return None if row is None else row[0]


def _returned(statement: ClauseElement) -> Any:
    """The columns a SELECT selects or an INSERT/UPDATE returns."""
    return getattr(statement, "selected_columns", None) or getattr(
        statement, "exported_columns", ())


_prepared: dict[tuple[Any, ...], Prepared] = {}


def prepared(connection: Connection, build: Callable[..., Any], *args: Any,
             column_keys: tuple[str, ...] | None = None) -> Prepared:
    """`build(*args)` (a statement builder) prepared for `connection`'s dialect, once."""
    dialect = connection.dialect
    key = (build, args, column_keys, dialect.name, dialect.server_version_info)
    found = _prepared.get(key)
    if found is None:
        found = _prepared[key] = Prepared(build(*args), dialect, column_keys)
    return found
