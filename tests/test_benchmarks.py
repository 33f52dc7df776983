"""Every benchmark script this suite owns runs here at a tiny size, so a change that breaks one
fails CI instead of rotting until someone measures (its figures are not judged: only that it
runs whole and prints its table)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Not storage's subject here: each script makes its own stores.
pytestmark = pytest.mark.any_backend


def test_the_documents_benchmark_runs_whole_at_a_tiny_size():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark_documents.py"), "--citizens", "3",
                           "--through-milestones", "5"], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| filesystem") or line.startswith("| s3")]
    assert len(rows) == 2 and all("| 9 |" in row for row in rows), done.stdout
    assert "5 included." in done.stdout


def test_the_desk_benchmark_runs_whole_at_a_tiny_size():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark_desk.py"), "--journeys", "2000",
                           "--requests", "10", "--decisions", "12", "--reviewers", "4"],
                          capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "| inbox, a state and a channel | 10 |" in done.stdout, done.stdout
    assert "4 reviewers at once: 12 decisions" in done.stdout and "lost 0, doubled 0" in done.stdout, done.stdout


def test_the_api_benchmark_runs_whole_at_a_tiny_size():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "benchmark_api.py"), "--journeys", "2000",
                           "--requests", "10", "--lags", "3"], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "| review inbox, first page of 50 | 10 |" in done.stdout, done.stdout
    assert "long-polling dashboard answered" in done.stdout, done.stdout
