"""Where passphrases and other secret key material come from: a protected file, or a systemd
credential, never an environment variable or a value in a configuration file.

A secret file must be readable by its owner only: a file that group or others can read is
refused, since whoever could read it could open every report the key opens. A systemd service
gets its credentials (`LoadCredential=NAME:/etc/credstore/NAME`) as files under
`$CREDENTIALS_DIRECTORY`, which only the service can read; that variable holds a folder, not a
secret.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path

from keys.keypair import KeyFileError

CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PASSPHRASE_BYTES = 32


def read_secret_file(path: Path) -> bytes:
    """The bytes of a secret file. Raises KeyFileError if it is unreadable or others may read it."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read secret file ({exc.strerror})") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path}: refused, group or others may read it (mode {stat.S_IMODE(mode):04o}); "
            "chmod 600 it"
        )
    return data


def read_passphrase(path: Path) -> bytes:
    """A passphrase: the secret file's content without its line end. Raises KeyFileError."""
    passphrase = read_secret_file(path).rstrip(b"\r\n")
    if not passphrase:
        raise KeyFileError(f"{path}: the passphrase file is empty")
    return passphrase


def credential_path(name: str) -> Path:
    """The file of a systemd credential. Raises KeyFileError if no credentials were passed."""
    if not _CREDENTIAL_NAME.fullmatch(name):
        raise KeyFileError(f"not a credential name: {name!r}")
    folder = os.environ.get(CREDENTIALS_ENV)
    if not folder:
        raise KeyFileError(
            f"credential {name}: ${CREDENTIALS_ENV} is not set (LoadCredential= in the unit)"
        )
    return Path(folder) / name


def create_passphrase_file(path: Path) -> bytes:
    """Return the passphrase in `path`, first writing a random one (mode 0600) if there is none.

    A generated passphrase has 256 bits, so the strength of the key file's KDF does not matter.
    Raises KeyFileError if an existing file is unusable.
    """
    if path.exists():
        return read_passphrase(path)
    passphrase = secrets.token_urlsafe(_PASSPHRASE_BYTES).encode("ascii")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(passphrase + b"\n")
    return passphrase
