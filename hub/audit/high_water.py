"""The size of the newest tree head this hub signed, kept beside its key, outside the database.

A database restored from a backup rolls the log back; this file does not roll back with it, so
the hub notices that its log is behind a head it signed and refuses to sign a smaller one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.errors import ProofInvalid
from hub.files import private_file

__all__ = ["check_not_behind", "remember_signed", "signed_size"]


def signed_size(path: Path) -> int:
    """The size of the newest tree head this hub signed; 0 before the first (or no file)."""
    if not path.exists():
        return 0
    return int(json.loads(path.read_text(encoding="utf-8"))["tree_size"])


def check_not_behind(path: Path, size: int) -> None:
    """Raise ProofInvalid if the log holds fewer entries than a head this hub signed."""
    signed = signed_size(path)
    if size < signed:
        raise ProofInvalid(
            f"the audit log holds {size} entries but this hub signed a tree head of {signed}: "
            "the database was restored from before that head. Not signing. Tell the "
            "coordinators the log was rolled back, then remove the newest-signed-head file "
            "beside the hub key to sign again from the restored log"
        )


def remember_signed(path: Path, size: int) -> None:
    """Record SIZE as the newest signed head (never lowering it)."""
    if size <= signed_size(path):
        return
    draft = path.with_suffix(".tmp")
    private_file(draft)
    draft.write_text(json.dumps({"tree_size": size}), encoding="utf-8")
    os.replace(draft, path)
