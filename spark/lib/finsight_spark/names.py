"""Names of lake tables and of their partition column, shared by `io`, `tables` and `streaming`.

A lake table is named `lake.<table>`: the name BUILD files declare (`table:lake.payments_clean`) and the
table of dbt's source `lake`. Every table is partitioned by the string column `ds` (`2024-05-01`).
"""

from __future__ import annotations

import re

LAKE_NAMESPACE = "lake"
PARTITION_COLUMN = "ds"
_TABLE_NAME = re.compile(r"^lake\.([a-z][a-z0-9_]*)$")


class TableNameError(ValueError):
    """A table name that is not `lake.<table>` (lower case, digits and underscores)."""


def table_id(name: str) -> str:
    """The bare table of `lake.<table>`; raise `TableNameError` for anything else."""
    match = _TABLE_NAME.match(name)
    if match is None:
        raise TableNameError(f"lake tables are named 'lake.<table>' in snake case, got {name!r}")
    return match.group(1)
