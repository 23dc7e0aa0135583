"""Versioned, append-only migrations for the warehouse, recorded in a ledger table.

Migrations are the numbered ``migrations/NNNN_name.sql`` files of this package. Each statement
in them is idempotent (``IF NOT EXISTS``), so two processes migrating at once, or a migration
interrupted half-way, converge on the same schema; the ledger (a ReplacingMergeTree keyed on the
version) records each file once with its checksum, and a changed applied file is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources

from klaviyo_analytics.warehouse.client import Warehouse
from klaviyo_analytics.warehouse.errors import MigrationError
from klaviyo_analytics.warehouse.query import tokenize
from klaviyo_analytics.warehouse.tables import Table

LEDGER = "schema_migrations"
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

_LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS {LEDGER} (
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the file's text, to detect edits after it was applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        """The file split into statements at semicolons outside strings and comments."""
        out: list[str] = []
        current: list[str] = []
        for tok in tokenize(self.sql):
            if tok.text == ";" and tok.kind == "other":
                out.append("".join(current))
                current = []
            else:
                current.append(tok.text)
        out.append("".join(current))
        return [s.strip() for s in out if _has_code(s)]


def _has_code(sql: str) -> bool:
    return any(t.kind not in ("ws", "comment") for t in tokenize(sql))


@dataclass(frozen=True)
class MigrationStatus:
    """Where one migration stands in a database."""

    version: int
    name: str
    applied_at: datetime | None

    @property
    def applied(self) -> bool:
        """True once recorded in the ledger."""
        return self.applied_at is not None


def available_migrations() -> list[Migration]:
    """The migrations shipped with this package, in version order."""
    folder = resources.files("klaviyo_analytics.warehouse").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def _ledger(warehouse: Warehouse) -> dict[int, tuple[str, datetime]]:
    warehouse.command(_LEDGER_DDL)
    rows = warehouse.rows(f"SELECT version, checksum, applied_at FROM {LEDGER} FINAL")
    return {int(v): (str(c), a) for v, c, a in rows}


def status(warehouse: Warehouse) -> list[MigrationStatus]:
    """Every known migration with its applied time (None when pending)."""
    applied = _ledger(warehouse)
    return [
        MigrationStatus(m.version, m.name, applied[m.version][1] if m.version in applied else None)
        for m in available_migrations()
    ]


def migrate(warehouse: Warehouse, dry_run: bool = False) -> list[Migration]:
    """Apply every pending migration in order.

    Args:
        warehouse: the target database (created if missing).
        dry_run: only return what would run.

    Returns:
        The migrations applied (or, with ``dry_run``, pending).

    Raises:
        MigrationError: an applied migration's file was edited afterwards.
    """
    warehouse.ensure_database()
    applied = _ledger(warehouse)
    pending: list[Migration] = []
    for migration in available_migrations():
        if migration.version in applied:
            if applied[migration.version][0] != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} was changed after it "
                    "was applied; restore it and add a new numbered migration instead"
                )
            continue
        pending.append(migration)
    if dry_run:
        return pending
    for migration in pending:
        for statement in migration.statements():
            warehouse.command(statement)
        warehouse.insert_rows(
            LEDGER,
            [[migration.version, migration.name, migration.checksum, datetime.now(UTC)]],
            ["version", "name", "checksum", "applied_at"],
        )
    return pending


def row_counts(warehouse: Warehouse) -> dict[str, int | None]:
    """Deduplicated (FINAL) row count of each of the 12 tables; None if it does not exist yet."""
    existing = {
        str(r[0])
        for r in warehouse.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}",
            {"db": warehouse.database},
        )
    }
    counts: dict[str, int | None] = {}
    for table in Table:
        counts[table.value] = (
            int(warehouse.scalar(f"SELECT count() FROM {table.value} FINAL"))
            if table.value in existing
            else None
        )
    return counts
