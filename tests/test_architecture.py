"""The import graph points one way: no module imports a layer above its own, modules of one
layer do not import each other's packages, and the domain imports nothing of the stack's
adapters (no SQL driver, no event store, no Temporal). Every import counts, the ones inside
functions too."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Top to bottom; a module may import its own package and the layers below it.
LAYERS: list[set[str]] = [
    {"cli"},  # the command line: it starts the others
    {"api", "worker", "runtime"},  # the HTTP API, the worker process, the stack's supervisor
    {"simulation"},  # synthetic populations, sent through the application
    {"application"},  # the gateway to Temporal, the import use case, command files, staff
    {"activities"},
    {"workflows"},
    {"projections"},  # read models: views, reports, lists
    {"store"},  # the event store's adapters: the registry, key stores, the event codec
    {"domain"},  # commands, rules, refusals, aggregates: pure
    {"settings"},
    {"payload_codec", "logs"},
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
# What the domain may not import at all: it holds no SQL, no store and no engine.
NOT_IN_DOMAIN = {"sqlite3", "psycopg", "psycopg_pool", "temporalio", "eventsourcing.persistence",
                 "eventsourcing.sqlite", "eventsourcing.postgres", "fastapi", "structlog"}


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def ours(path: Path) -> str | None:
    top = path.relative_to(REPO).parts[0].removesuffix(".py")
    return top if top in LAYER_OF else None


def modules() -> list[Path]:
    return [p for p in REPO.rglob("*.py") if ours(p) is not None and ".venv" not in p.parts]


def test_every_package_of_ours_has_a_layer():
    tops = {p.relative_to(REPO).parts[0].removesuffix(".py") for p in REPO.glob("*")
            if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert tops - {"tests", "scripts"} <= set(LAYER_OF), tops - set(LAYER_OF)


def back_edges(path: Path, source: str) -> list[str]:
    """The imports of a module of package ``source`` that point up or sideways."""
    return [f"{path.name}:{line} imports {name}" for line, name in imports(path)
            if (target := name.split(".")[0]) in LAYER_OF and target != source
            and LAYER_OF[target] <= LAYER_OF[source]]


def test_no_module_imports_a_layer_above_its_own_or_a_sibling():
    found = []
    for path in modules():
        source = ours(path)
        assert source is not None
        found += [f"{path.relative_to(REPO).parent}/{edge}" for edge in back_edges(path, source)]
    assert not found, "imports against the layers:\n" + "\n".join(found)


def test_the_domain_imports_no_adapter():
    found = [f"{path.relative_to(REPO)}:{line} imports {name}" for path in (REPO / "domain").rglob("*.py")
             for line, name in imports(path)
             if any(name == banned or name.startswith(banned + ".") for banned in NOT_IN_DOMAIN)]
    assert not found, "\n".join(found)


def test_the_check_finds_back_edges(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom domain.rules import check\n\n\ndef later():\n"
                     "    from store.registry import JourneyRegistry\n", encoding="utf-8")
    assert back_edges(probe, "domain") == ["probe.py:6 imports store.registry"]  # up, inside a function
    assert back_edges(probe, "projections") == []  # down
    assert back_edges(probe, "store") == []  # its own package
    probe.write_text("from worker import build_worker\n", encoding="utf-8")
    assert back_edges(probe, "api") == ["probe.py:1 imports worker"]  # a sibling


def test_the_wheel_holds_every_package_of_ours_and_nothing_else(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    # From a clean copy: a build directory left in the clone would hide a package left out.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".venv", "build", "*.egg-info", "data", "test-artifacts", "__pycache__", ".git"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=600)
    [wheel] = tmp_path.glob("lnere-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(REPO)) for p in REPO.rglob("__init__.py")
                if ours(p) is not None and ".venv" not in p.parts}
    missing = sorted(p for p in packages if f"{p}/__init__.py" not in names)
    assert not missing, f"packages left out of the wheel: {missing}"
    assert not {n for n in names if n.startswith(("tests/", "scripts/"))}
    assert "api/static/codec.js" in names and "domain/processes/pel-2020-2021.json" in names
