#!/usr/bin/env bash
# Install Chromium (Debian's package) when this machine has none. The dashboard's browser test
# drives it headless through Playwright, with executable_path=/usr/bin/chromium; Playwright's own
# browser downloads are never used.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is missing and this is not a Debian-like machine: install it at /usr/bin/chromium." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing Chromium from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
