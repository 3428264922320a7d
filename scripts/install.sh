#!/usr/bin/env bash
# Install everything spoolscribe and its tests need on a fresh Debian/Ubuntu machine:
# system packages (FFmpeg and espeak-ng for test media, Chromium for the browser test, systemd for
# `systemd-analyze verify`, PostgreSQL and libfaketime for the PostgreSQL and two-host tests), then a virtual environment in .venv with spoolscribe and its test extra.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(ffmpeg espeak-ng chromium chromium-driver systemd postgresql faketime)
if command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
else
  echo "install.sh: no apt-get here; install these yourself: ${packages[*]}" >&2
fi

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "installed: $(.venv/bin/spoolscribe --help >/dev/null && echo spoolscribe) in .venv"
