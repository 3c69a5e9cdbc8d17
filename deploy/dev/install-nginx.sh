#!/usr/bin/env bash
# Install nginx (Debian's package) when this machine has none: the deployment test runs the hub
# behind it with TLS on loopback. Nothing here starts a service.
set -euo pipefail

if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "nginx is missing and this is not a Debian-like machine: install nginx." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing nginx from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light >/dev/null \
  || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx >/dev/null
# Debian's package may start a default server on port 80; the tests run their own.
(command -v service >/dev/null 2>&1 && $SUDO service nginx stop >/dev/null 2>&1) || true
