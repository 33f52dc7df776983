#!/usr/bin/env bash
# README command 2: install (first time), then three lanes, each test in one of them:
#   fast      the domain and the workflows (tests marked fast: no server but Temporal's
#             time-skipping test server), first, so a broken rule fails in a minute or two;
#   sqlite    every other test, against real components with the SQLite stores;
#   postgres  with PostgreSQL 15, each test that touches storage (tests/conftest.py leaves out
#             those that open no store or are marked any_backend or fast).
# LNERE_TEST_LANES="fast" (or any of the three, space-separated) runs only those. Arguments go
# to pytest. The linters and the manual's strict build run first: a finding fails the run.
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
echo "== the manual's site (mkdocs.yml), strictly: a broken link fails =="
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$site" \
  || { rm -rf "$site"; echo "the documentation does not build: fix the links above"; exit 1; }
rm -rf "$site"
status_file=$(mktemp)
trap 'rm -f "$status_file"' EXIT

run_lane() {
  local lane=$1 backend=sqlite scope=full
  shift
  case "$lane" in
    fast) scope=fast ;;
    postgres) backend=postgres scope="" ;;
  esac
  : > "$status_file"
  echo "== the $lane lane =="
  local started=$SECONDS
  LNERE_TEST_BACKEND="$backend" LNERE_TEST_LANE="$scope" LNERE_PYTEST_STATUS_FILE="$status_file" \
    .venv/bin/python -m pytest --durations=25 "$@"
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
  echo "== the $lane lane took $((SECONDS - started)) s =="
  return "$rc"
}

verdict=0
for lane in ${LNERE_TEST_LANES:-fast sqlite postgres}; do
  run_lane "$lane" "$@" || verdict=1
done
exit "$verdict"
