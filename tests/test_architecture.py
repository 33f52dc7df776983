"""The import graph points one way: no module imports a layer above its own, modules of one
layer do not import each other's packages, and the domain imports nothing of the stack's
adapters (no SQL driver, no event store, no Temporal) — import-linter's contracts in
pyproject.toml, which count every import, the ones inside functions too. Everything is
imported as the one package ``lnere`` (``lnere.domain``, …): never by a folder's own name,
which would load a second copy of it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent

# The layers, top to bottom, as the import-linter contract in pyproject.toml declares them (one
# home): a module may import its own package and the layers below it.
def _layers() -> list[set[str]]:
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [{name.strip().removeprefix("lnere.") for name in layer.split("|")} for layer in contract["layers"]]


LAYERS = _layers()
LAYER_OF = {name: depth for depth, names in enumerate(LAYERS) for name in names}
# eventsourcing's store adapters, which the import-linter contract cannot name (subpackages of an
# external package): the domain holds no store.
NOT_IN_DOMAIN = {"eventsourcing.persistence", "eventsourcing.sqlite", "eventsourcing.postgres",
                 "eventsourcing.application"}


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


def short_names(path: Path) -> list[str]:
    """Imports of ours by a folder's own name (``domain.rules``) instead of the package's."""
    return [f"{path}:{line} imports {name}" for line, name in imports(path) if name.split(".")[0] in LAYER_OF]


def test_everything_imports_the_package_by_its_name():
    scripts_and_tests = [*(REPO / "tests").rglob("*.py"), *(REPO / "scripts").rglob("*.py")]
    found = [edge for path in [*modules(), *scripts_and_tests] for edge in short_names(path)]
    assert not found, "import lnere's modules as lnere.<package>:\n" + "\n".join(found)


def test_the_import_contracts_hold_and_can_fail(tmp_path):
    """import-linter's contracts (pyproject.toml): the layers, and the domain's purity. The same
    tool with the layers turned upside down finds the imports that break them."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_logo=True, no_cache=True) == 0
    upside_down = "\n".join(f"    {' | '.join(f'lnere.{n}' for n in sorted(layer))}" for layer in reversed(LAYERS))
    config = tmp_path / "upside-down.ini"
    config.write_text(f"[importlinter]\nroot_package = lnere\n\n[importlinter:contract:layers]\nname = upside down\n"
                      f"type = layers\nlayers =\n{upside_down}\n", encoding="utf-8")
    assert lint_imports(config_filename=str(config), no_logo=True, no_cache=True) == 1


def test_the_domain_imports_no_adapter():
    found = [f"{path.relative_to(REPO)}:{line} imports {name}" for path in (REPO / "domain").rglob("*.py")
             for line, name in imports(path)
             if any(name == banned or name.startswith(banned + ".") for banned in NOT_IN_DOMAIN)]
    assert not found, "\n".join(found)


def test_the_check_finds_imports_by_a_folders_own_name(tmp_path):
    probe = tmp_path / "probe.py"
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
