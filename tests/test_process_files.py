"""Process files: their JSON Schema (docs/process-file.schema.json) is the model's and current;
INE's packaged processes meet it; ``lnere process check`` reads a file as lnere loads it, and a
file that is not one exits 2 naming each field and the reason."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from lnere.cli.main import process_schema

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "docs" / "process-file.schema.json"
PACKAGED = sorted((REPO / "domain" / "processes").glob("*.json"))


def lnere(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lnere.cli.main", *args], capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_the_schema_is_the_models_and_the_packaged_processes_meet_it():
    assert json.loads(SCHEMA.read_text(encoding="utf-8")) == process_schema(), "lnere process schema > " + str(SCHEMA)
    assert len(PACKAGED) == 2
    for path in PACKAGED:
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), process_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"id": "x"}, process_schema())


def test_process_check_reads_a_file_as_lnere_loads_it(tmp_path):
    good = lnere("process", "check", str(PACKAGED[1]))
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["id"] == "pel-2020-2021"
    broken = json.loads(PACKAGED[1].read_text(encoding="utf-8"))
    broken["timezone"] = "Mars/Olympus"
    del broken["election_day"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    refused = lnere("process", "check", str(path))
    assert refused.returncode == 2
    assert "timezone: Value error, unknown timezone 'Mars/Olympus'" in refused.stderr, refused.stderr
    assert "election_day: Field required" in refused.stderr
    assert lnere("process", "check", str(tmp_path / "missing.json")).returncode == 2
