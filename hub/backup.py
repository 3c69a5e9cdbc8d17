"""Backup and restore of the embedded SQLite database with SQLite's online backup API.

PostgreSQL is backed up with its own tools (pg_dump / pg_restore, deploy/README.md).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from hub.errors import ConfigurationError
from hub.files import private_file

__all__ = ["backup_sqlite", "restore_sqlite", "sqlite_path"]


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite database URL. Raises ConfigurationError for another engine."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ConfigurationError(
            "hub db backup/restore handle the embedded SQLite database; back up PostgreSQL "
            "with pg_dump and restore it with pg_restore (deploy/README.md)"
        )
    return Path(url.database)


def _copy(source: Path, target: Path) -> None:
    # The online backup API copies a consistent snapshot while the hub keeps writing.
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def backup_sqlite(database_url: str, out: Path) -> None:
    """Copy the live database to OUT (mode 0600). Raises ConfigurationError if OUT exists."""
    if out.exists():
        raise ConfigurationError(f"{out} exists: name a new file for the backup")
    private_file(out)
    _copy(sqlite_path(database_url), out)


def restore_sqlite(database_url: str, backup: Path) -> None:
    """Replace the database's content by a backup's (stop the hub processes first).

    Raises ConfigurationError if the backup is missing.
    """
    if not backup.is_file():
        raise ConfigurationError(f"no backup file at {backup}")
    _copy(backup, sqlite_path(database_url))
