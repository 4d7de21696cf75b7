#!/usr/bin/env bash
# format.sh - every C file of the tree is laid out as .clang-format (and
# .clang-format-headers) say; `make format` rewrites the ones that are not.
# This is how `make check` runs `make format-check`.
set -eu
cd "$(dirname "$0")/../.."
exec make --no-print-directory -s format-check
