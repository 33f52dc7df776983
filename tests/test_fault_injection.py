"""The reduced fault-injection run (scripts/fault_injection.py): an import of 300 journeys while
the worker, the projection runner and the Temporal dev server are each killed with SIGKILL and
restarted, then every milestone to the definitive list fired while each is killed once more
inside a bulk milestone; the script audits every journey's events (milestones and deliveries
included) and final stage against its commands, and the projection against a recount."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import backend_env

REPO = Path(__file__).resolve().parent.parent


def test_kill_9_of_every_component_loses_and_duplicates_nothing(postgres_cluster):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fault_injection.py"), "--journeys", "300", "--faults", "3",
         "--seed", "3", "--milestone-faults", "3"],
        capture_output=True, text=True, timeout=900, cwd=REPO, env={**os.environ, **backend_env(postgres_cluster)},
    )
    table = dict(re.findall(r"^\s*(\S.*?)\s{2,}(\d+(?:\.\d+)?)$", result.stdout, re.MULTILINE))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    for component in ("worker", "projection runner", "temporal server"):
        assert table[f"kill -9 {component}"] == "2", table
    # Each milestone kill fell while the milestone was being applied, and at least one of the
    # import's kills while an import was running (the script tells which, at the moment it kills).
    assert len(re.findall(r"kill -9 .* during (definitive_list|list_for_review_issued|registration_closed) "
                          r"\(in progress\)", result.stdout)) == 3, result.stdout
    assert re.search(r"kill -9 .* during an import \(in progress\)", result.stdout), result.stdout
    assert table["journeys"] == "300"
    for discrepancy in ("events lost", "events duplicated", "journeys with other events than their commands imply",
                        "journeys in another stage than expected", "projection differs from the recount",
                        "commands refused"):
        assert table[discrepancy] == "0", (discrepancy, table)
    assert "RESULT: no discrepancies" in result.stdout


def test_two_workers_share_the_journeys_and_losing_one_loses_nothing(postgres_cluster):
    """Two worker processes on one task queue; the chaos kills each of them once (and the
    runner and the server) while the import runs; every journey ends as its commands imply."""
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fault_injection.py"), "--journeys", "200", "--faults", "4",
         "--seed", "4", "--workers", "2"],
        capture_output=True, text=True, timeout=900, cwd=REPO, env={**os.environ, **backend_env(postgres_cluster)},
    )
    table = dict(re.findall(r"^\s*(\S.*?)\s{2,}(\d+(?:\.\d+)?)$", result.stdout, re.MULTILINE))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert table["kill -9 worker 1"] == "1" and table["kill -9 worker 2"] == "1", table
    assert re.search(r"kill -9 worker \d during an import \(in progress\)", result.stdout), result.stdout
    for discrepancy in ("events lost", "events duplicated", "journeys with other events than their commands imply",
                        "journeys in another stage than expected", "projection differs from the recount"):
        assert table[discrepancy] == "0", (discrepancy, table)
