#!/usr/bin/env bash
# deps.sh - install the Debian packages certbus needs, when they are missing
# (`make deps` runs it; `make check` and `make demo` run that first). With
# --with-fuzz, also clang and its libFuzzer runtime (`make fuzz`).
# Idempotent: does nothing when every package is installed. Runs apt-get as
# root, or through sudo when not root.
set -euo pipefail

packages=(
    build-essential pkg-config
    libzmq3-dev libczmq-dev
    libprotobuf-c-dev protobuf-c-compiler
    libsodium-dev libsqlite3-dev sqlite3
    libpq-dev postgresql
    libcmocka-dev libmicrohttpd-dev libjansson-dev
    python3 clang-format
)
if [ "${1:-}" = "--with-fuzz" ]; then
    packages+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
