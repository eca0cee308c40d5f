"""One SQL statement assembled from parts that each bring their own parameters.

A command's write is one statement: the event store's append, the projections' upserts and
the idempotency record are common table expressions of it, so the whole write is atomic
without a transaction around it and costs one round trip. Each part names its parameters
through `param`, which numbers them in the order they are given.
"""

from __future__ import annotations

from typing import Any


class Statement:
    def __init__(self) -> None:
        self.args: list[Any] = []
        self._parts: list[str] = []

    def param(self, value: Any, cast: str) -> str:
        """A placeholder for `value`, cast to the SQL type `cast`."""
        self.args.append(value)
        return f"${len(self.args)}::{cast}"

    def unseen(self, value: Any, cast: str) -> str:
        """As `param`, but out of the planner's sight (a scalar sub-select), so that the plan
        cannot depend on the value and PostgreSQL plans the prepared statement once rather
        than at every run. For the arrays of a read whose best plan is the same whatever
        they hold: in sight, a short array makes each run's own plan look cheaper than the
        shared one, and planning the command read cost more than running it."""
        return f"(SELECT {self.param(value, cast)})"

    def with_(self, name: str, sql: str, *, materialized: bool = False) -> None:
        """Add the common table expression `name AS (sql)`."""
        self._parts.append(f"{name} AS {'MATERIALIZED ' if materialized else ''}({sql})")

    def sql(self, body: str) -> str:
        if not self._parts:
            return body
        return "WITH RECURSIVE " + ",\n".join(self._parts) + "\n" + body
