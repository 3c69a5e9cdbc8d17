"""A throwaway PostgreSQL server for the test suite, started from the machine's server binaries.

`make test` installs the binaries where missing (deploy/dev/install-postgres.sh). The server
listens on a Unix socket in its own temporary folder only, trusts local connections, and skips
fsync: it lives for one test session and holds nothing worth keeping.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the server would not start."""


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise PostgresUnavailable(
            f"{name} not found: run deploy/dev/install-postgres.sh (make test does)"
        )
    return found


def _major_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"\) (\d+)", out)
    return match.group(1) if match else out.strip()


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; as root, run it as the `postgres` account."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@dataclass
class PostgresServer:
    folder: Path
    port: int = 54329

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://hub@/{database}?host={self.socket_dir}&port={self.port}"

    @classmethod
    def start(cls) -> PostgresServer:
        """Initialise a cluster in a new temporary folder and start it.

        Raises PostgresUnavailable.
        """
        folder = Path(tempfile.mkdtemp(prefix="hub-pg-"))
        server = cls(folder=folder, port=54329 + os.getpid() % 1000)
        server.socket_dir.mkdir()
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            for path in (folder, server.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        data = folder / "data"
        server._run([_binary("initdb"), "-D", str(data), "-U", "hub", "-A", "trust", "-E", "UTF8",
                     "--no-sync", "--no-instructions"])  # fmt: skip
        options = (
            f"-k {server.socket_dir} -p {server.port} -c listen_addresses='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        server._run([_binary("pg_ctl"), "-D", str(data), "-o", options, "-l",
                     str(folder / "server.log"), "-w", "-t", "60", "start"])  # fmt: skip
        return server

    def _run(self, command: list[str]) -> None:
        result = subprocess.run(
            _as_server_user(command), capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise PostgresUnavailable(f"{command[0]} failed: {result.stderr.strip()[-500:]}")

    def stop(self) -> None:
        self._run([_binary("pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)

    def connection(self, database: str) -> str:
        """A libpq connection string for the server's own tools (pg_dump, pg_restore, psql)."""
        return f"host={self.socket_dir} port={self.port} user=hub dbname={database}"

    def tool(self, name: str) -> str:
        """One of PostgreSQL's client programs, of the server's major version: pg_dump refuses a
        newer server, and pg_restore reads only the dump formats of its own version and older.

        Raises PostgresUnavailable if the client's major version is not the server's.
        """
        found = _binary(name)
        versions = [_major_version(binary) for binary in (found, _binary("postgres"))]
        if versions[0] != versions[1]:
            raise PostgresUnavailable(
                f"{name} is of version {versions[0]}, the server {versions[1]}"
            )
        return found
