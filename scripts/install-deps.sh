#!/bin/bash
# scripts/install-deps.sh — installs the Debian 12 packages mmpipe builds and tests with.
# Runs apt-get only when something is missing; uses sudo when not root.
set -euo pipefail
PKGS=(build-essential cmake pkg-config
      libsqlite3-dev sqlite3 libcjson-dev libpng-dev libjpeg62-turbo-dev
      libavformat-dev libavcodec-dev libswresample-dev libavutil-dev
      libpoppler-glib-dev
      clang libclang-rt-14-dev python3 python3-numpy util-linux)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "installing: ${missing[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
