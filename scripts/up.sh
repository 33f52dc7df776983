#!/usr/bin/env bash
# README command 1: install (first time) and bring the embedded stack up. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/lnere up "$@"
