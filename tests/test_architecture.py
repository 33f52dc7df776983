"""The import graph points one way: no module imports a layer above its own, modules of one
layer do not import each other's packages, and the domain imports nothing of the stack's
adapters (no SQL driver, no event store, no Temporal). Every import counts, the ones inside
functions too. Everything is imported as the one package ``lnere`` (``lnere.domain``, …): never
by a folder's own name, which would load a second copy of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

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
    {"payload_codec", "logs", "metrics", "tracing"},
]
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
# What the domain may not import at all: it holds no SQL, no store and no engine.
NOT_IN_DOMAIN = {"sqlite3", "psycopg", "psycopg_pool", "temporalio", "eventsourcing.persistence",
                 "eventsourcing.sqlite", "eventsourcing.postgres", "fastapi", "structlog"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import; ``from lnere import logs`` names ``lnere.logs``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "lnere":
                found += [(node.lineno, f"lnere.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def ours(path: Path) -> str | None:
    top = path.relative_to(REPO).parts[0].removesuffix(".py")
    return top if top in LAYER_OF else None


def modules() -> list[Path]:
    return [p for p in REPO.rglob("*.py") if ours(p) is not None and ".venv" not in p.parts]


def test_every_package_of_ours_has_a_layer_and_is_in_lnere():
    tops = {p.relative_to(REPO).parts[0].removesuffix(".py") for p in REPO.glob("*")
            if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert tops - {"tests", "scripts", "lnere"} <= set(LAYER_OF), tops - set(LAYER_OF)
    # lnere/ names each of them, by a link to the folder or module at the top.
    links = {p.name.removesuffix(".py"): p for p in (REPO / "lnere").iterdir() if p.name != "__init__.py"
             and p.name != "__pycache__"}
    assert set(links) == set(LAYER_OF), set(links) ^ set(LAYER_OF)
    assert all(p.is_symlink() and p.resolve().parent == REPO for p in links.values())


def package_of(name: str) -> str | None:
    """The layer's package an import names (``lnere.store.registry`` -> ``store``)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "lnere" and len(parts) > 1 and parts[1] in LAYER_OF else None


def back_edges(path: Path, source: str) -> list[str]:
    """The imports of a module of package ``source`` that point up or sideways."""
    return [f"{path.name}:{line} imports {name}" for line, name in imports(path)
            if (target := package_of(name)) is not None and target != source
            and LAYER_OF[target] <= LAYER_OF[source]]


def short_names(path: Path) -> list[str]:
    """Imports of ours by a folder's own name (``domain.rules``) instead of the package's."""
    return [f"{path}:{line} imports {name}" for line, name in imports(path) if name.split(".")[0] in LAYER_OF]


def test_everything_imports_the_package_by_its_name():
    scripts_and_tests = [*(REPO / "tests").rglob("*.py"), *(REPO / "scripts").rglob("*.py")]
    found = [edge for path in [*modules(), *scripts_and_tests] for edge in short_names(path)]
    assert not found, "import lnere's modules as lnere.<package>:\n" + "\n".join(found)


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
    probe.write_text("import json\nfrom lnere.domain.rules import check\n\n\ndef later():\n"
                     "    from lnere.store.registry import JourneyRegistry\n", encoding="utf-8")
    assert back_edges(probe, "domain") == ["probe.py:6 imports lnere.store.registry"]  # up, inside a function
    assert back_edges(probe, "projections") == []  # down
    assert back_edges(probe, "store") == []  # its own package
    probe.write_text("from lnere.worker import build_worker\n", encoding="utf-8")
    assert back_edges(probe, "api") == ["probe.py:1 imports lnere.worker"]  # a sibling
    probe.write_text("from lnere import logs\nimport settings\n", encoding="utf-8")
    assert [edge.split(":")[-1] for edge in short_names(probe)] == ["2 imports settings"]


def test_the_wheel_holds_every_package_of_ours_and_nothing_else(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    # From a clean copy: a build directory left in the clone would hide a package left out.
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", "build", "*.egg-info", "data", "test-artifacts", "__pycache__", ".git"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path),
                    str(source)], check=True, capture_output=True, timeout=600)
    [wheel] = tmp_path.glob("lnere-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {str(p.parent.relative_to(REPO)) for p in REPO.rglob("__init__.py")
                if ours(p) is not None and ".venv" not in p.parts}
    missing = sorted(p for p in packages if f"lnere/{p}/__init__.py" not in names)
    assert not missing, f"packages left out of the wheel: {missing}"
    modules_ = {f"lnere/{p.name}" for p in REPO.glob("*.py") if ours(p) is not None}
    assert modules_ <= names, modules_ - names
    # One top-level name: nothing generic (api, cli, settings, …) lands in site-packages.
    assert {n.split("/")[0] for n in names if not n.startswith("lnere-")} == {"lnere"}
    assert "lnere/api/static/codec.js" in names and "lnere/domain/processes/pel-2020-2021.json" in names


def test_every_module_the_sandbox_passes_through_exists():
    """A passthrough name that matches no module the workflows load passes nothing through:
    each new workflow run would import it again (they went dead once, when the folders became
    ``lnere.*``). Not found on the path, but loaded: a folder's own name is found from the
    repository's root and never loaded."""
    import sys

    from lnere.worker import PASSTHROUGH_MODULES

    missing = [name for name in PASSTHROUGH_MODULES if name not in sys.modules]
    assert not missing, f"the workflow sandbox passes through modules the workflows do not load: {missing}"
