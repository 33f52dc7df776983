#!/usr/bin/env bash
# README command 2: install (first time) and run every test against real components with the
# SQLite stores, then again with PostgreSQL 15 each test that touches storage (tests/conftest.py
# leaves out those that open no store or are marked any_backend); LNERE_TEST_BACKEND=sqlite or
# =postgres runs only that one. Arguments go to pytest. The linter runs first: a finding fails
# the run.
#
# Temporal's Python SDK can abort while the interpreter finalizes, after pytest has already
# finished (sdk-python #300). pytest's own exit status is written to a file by
# tests/conftest.py; when the process dies of a signal after writing it, that status is the
# verdict. Any other failure, or an abort before pytest finished, stays a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/system_packages.sh || exit 1
bash scripts/setup.sh || exit 1
echo "== ruff (configured in pyproject.toml) =="
.venv/bin/ruff check . || { echo "ruff found the issues above: fix them before the tests run"; exit 1; }
echo "== mypy (configured in pyproject.toml) =="
.venv/bin/mypy || { echo "mypy found the issues above: fix them before the tests run"; exit 1; }
status_file=$(mktemp)
trap 'rm -f "$status_file"' EXIT

run_suite() {
  local backend=$1
  shift
  : > "$status_file"
  echo "== tests with the $backend backend =="
  LNERE_TEST_BACKEND="$backend" LNERE_PYTEST_STATUS_FILE="$status_file" .venv/bin/python -m pytest \
    --durations=25 "$@"
  local rc=$?
  local recorded
  recorded=$(cat "$status_file" 2>/dev/null || true)
  if [ "$rc" -ge 128 ] && [ -n "$recorded" ]; then
    echo "pytest finished with status $recorded; the interpreter then died with $rc at exit (sdk-python #300): the verdict is pytest's status."
    rc=$recorded
  fi
  if [ "$rc" -eq 5 ]; then
    echo "no test was collected: that is a failure"
    rc=1
  fi
  return "$rc"
}

verdict=0
for backend in ${LNERE_TEST_BACKEND:-sqlite postgres}; do
  run_suite "$backend" "$@" || verdict=1
done
exit "$verdict"
