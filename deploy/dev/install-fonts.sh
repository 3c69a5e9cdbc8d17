#!/usr/bin/env bash
# Install what the PDF readings need beside the Python packages, when this machine lacks it:
# the Noto fonts of Thai, Khmer, Lao, Burmese and Arabic (Debian's fonts-noto-core, at
# /usr/share/fonts/truetype/noto/; connectors/readings/fonts.py names the files), and pdftoppm
# (poppler-utils), with which the readings' test turns page 1 into a picture to look at.
set -euo pipefail

NOTO=/usr/share/fonts/truetype/noto
needed=()
for font in Thai Khmer Lao Myanmar Arabic; do
  if [ ! -f "$NOTO/NotoSans$font-Regular.ttf" ]; then
    needed=(fonts-noto-core)
  fi
done
command -v pdftoppm >/dev/null 2>&1 || needed+=(poppler-utils)
if [ ${#needed[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing ${needed[*]} and this is not a Debian-like machine: put the Noto fonts in $NOTO and install pdftoppm." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "installing ${needed[*]} from Debian's packages"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
