#!/usr/bin/env bash
# Install promtool (in Debian's prometheus package) when this machine has none: the alert rules'
# test runs `promtool check rules` and `promtool test rules` on deploy/prometheus/. Nothing here
# keeps a service running.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "promtool is missing and this is not a Debian-like machine: install Prometheus." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing promtool from Debian's packages (prometheus)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# Debian's package may start the server; the tests only need promtool.
(command -v service >/dev/null 2>&1 && $SUDO service prometheus stop >/dev/null 2>&1) || true
