"""Files and folders the hub creates: readable by the hub's user only (0600 in 0700 folders).

The database holds push webhook secrets and sealed packets, the log holds ids and outcomes, the
key folder holds the hub's private keys: none of them is for other users of the machine. Files
the hub made before this rule, or that a default umask left open, are tightened when the hub
opens them again.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["FILE_MODE", "FOLDER_MODE", "private_file", "private_folder", "private_sqlite"]

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> Path:
    """Create `path` and its missing parents as 0700; tighten `path` itself if it exists."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE)
        os.chmod(folder, FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened
    if path not in missing:
        os.chmod(path, FOLDER_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 in a 0700 folder unless it exists; tighten it if it does."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def private_sqlite(url: str) -> None:
    """Before SQLite opens the file at `url`: the file 0600 in a 0700 folder.

    SQLite gives its -wal and -shm files the main file's mode, so they follow; any left from an
    earlier run are tightened too. Does nothing for in-memory or non-SQLite URLs.
    """
    if not url.startswith("sqlite:///") or url == "sqlite:///:memory:":
        return
    database = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = database.with_name(database.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)
