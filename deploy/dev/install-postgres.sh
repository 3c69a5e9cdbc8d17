#!/usr/bin/env bash
# Install PostgreSQL's server binaries (Debian's package) when this machine has none.
# The test suite starts its own throwaway server from them; nothing here starts a service.
set -euo pipefail

if command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL's server is missing and this is not a Debian-like machine: install it (initdb, pg_ctl)." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing PostgreSQL's server from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
