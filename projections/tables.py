"""The tables a projection writes, described by the NamedTuple of their rows.

A row type's fields are the table's columns (the migration spells the same table in SQL; a
test holds the two together) and their annotations give the SQL types of the batch
statements. A batch is one statement whatever its size: COPY into a table being built, one
INSERT ... SELECT FROM unnest(...) into a live one.
"""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from eventstore.types import Conn

Row = tuple[Any, ...]
# Annotations for columns whose Python type does not say the SQL type.
Jsonb = Annotated[Any, "jsonb"]
Xid8 = Annotated[int, "xid8"]

_SQL = {str: "text", int: "bigint", Decimal: "numeric", datetime: "timestamptz", date: "date"}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def ident(name: str) -> str:
    """A schema, table or column name of ours, quoted (never anything from outside)."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an identifier of ours: {name!r}")
    return f'"{name}"'


def _sql_type(hint: Any) -> str:
    if get_origin(hint) is Annotated:
        return str(hint.__metadata__[0])
    if get_origin(hint) in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return _sql_type(inner)
    return _SQL[hint]


@dataclass(frozen=True)
class Table:
    name: str
    row: type[Row]  # a NamedTuple class: one field per column, in the table's order
    key: tuple[str, ...]
    columns: tuple[str, ...] = field(init=False)
    sql_types: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        hints = get_type_hints(self.row, include_extras=True)
        object.__setattr__(self, "columns", tuple(hints))
        object.__setattr__(self, "sql_types", tuple(_sql_type(h) for h in hints.values()))

    def at(self, schema: str) -> str:
        return f"{ident(schema)}.{ident(self.name)}"

    def key_order(self) -> str:
        """ORDER BY the key, text in byte order (Python's order of str)."""
        kinds = dict(zip(self.columns, self.sql_types, strict=True))
        return ", ".join(
            ident(c) + (' COLLATE "C"' if kinds[c] == "text" else "") for c in self.key
        )

    def replace_all(self, where: str = "") -> str:
        """An ON CONFLICT clause that overwrites every column but the key."""
        sets = ", ".join(f"{ident(c)} = EXCLUDED.{ident(c)}" for c in self.columns[len(self.key) :])
        return f"ON CONFLICT ({', '.join(map(ident, self.key))}) DO UPDATE SET {sets} {where}"

    async def copy(self, conn: Conn, schema: str, rows: Sequence[Row]) -> None:
        if rows:
            await conn.copy_records_to_table(
                self.name, records=rows, columns=self.columns, schema_name=schema
            )

    async def insert(
        self, conn: Conn, schema: str, rows: Sequence[Row], conflict: str = ""
    ) -> None:
        """The rows in one statement, sent as one JSON array of objects that PostgreSQL
        takes apart (json_to_recordset): one value to encode instead of one per column
        and row (asyncpg checks every element of an array it encodes, which cost more
        than the rest of a catch-up round's writing)."""
        if not rows:
            return
        names = ", ".join(map(ident, self.columns))
        shape = ", ".join(
            f"{ident(c)} {t}" for c, t in zip(self.columns, self.sql_types, strict=True)
        )
        sql = (
            f"INSERT INTO {self.at(schema)} ({names}) "
            f"SELECT {names} FROM json_to_recordset($1::json) AS u({shape}) {conflict}"
        )
        await conn.execute(sql, [dict(zip(self.columns, row, strict=True)) for row in rows])

    async def delete(
        self, conn: Conn, schema: str, by: tuple[str, ...], keys: Sequence[Row]
    ) -> None:
        """Delete the rows whose `by` columns hold one of `keys`."""
        if not keys:
            return
        kinds = dict(zip(self.columns, self.sql_types, strict=True))
        arrays = ", ".join(f"${n}::{kinds[c]}[]" for n, c in enumerate(by, start=1))
        match = " AND ".join(f"t.{ident(c)} = k.{ident(c)}" for c in by)
        names = ", ".join(map(ident, by))
        using = f"unnest({arrays}) AS k({names})"
        await conn.execute(
            f"DELETE FROM {self.at(schema)} AS t USING {using} WHERE {match}",
            *(list(column) for column in zip(*keys, strict=True)),
        )
