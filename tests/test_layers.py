"""The layering, checked on the imports themselves (module level, in functions, and under
TYPE_CHECKING alike): records at the bottom, the face at the top, nothing importing upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FOLDERS = {
    "orch": "orch",
    "nodes": "orch.nodes",
    "graphs": "orch.graphs",
    "routers": "orch.routers",
    "eval": "orch.eval",
}

LAYERS = [  # (layer, module prefixes), bottom first
    ("records", ("orch.errors", "orch.settings", "orch.yamlio", "orch.items", "orch.records", "orch.config")),
    ("records", ("orch.mlflow_config", "orch.summary", "orch.testing", "orch.locks", "orch.spans", "orch.store_urls")),
    ("backends", ("orch.backends",)),
    ("tracking", ("orch.tracking",)),
    ("nodes", ("orch.nodes",)),
    ("routers", ("orch.routers",)),
    ("graphs", ("orch.graphs",)),
    ("app", ("orch.app",)),
    ("eval", ("orch.eval",)),
    ("api", ("orch.api",)),
    ("serve", ("orch.serve",)),
    ("cli", ("orch.cli", "orch.__main__")),
]
ALLOWED = {
    "records": {"records"},
    "backends": {"records", "backends"},
    "tracking": {"records", "tracking"},
    "nodes": {"records", "backends", "nodes"},
    "routers": {"records", "backends", "nodes", "routers"},
    "graphs": {"records", "backends", "nodes", "routers", "graphs"},
    "app": {"records", "backends", "tracking", "nodes", "routers", "graphs", "app"},
    "eval": {"records", "backends", "tracking", "nodes", "routers", "graphs", "app", "eval"},
    "api": {"records", "backends", "tracking", "nodes", "routers", "graphs", "app", "eval", "api"},
    "serve": {"records", "backends", "tracking", "nodes", "routers", "graphs", "app", "eval", "api", "serve"},
    "cli": {"records", "backends", "tracking", "nodes", "routers", "graphs", "app", "eval", "api", "serve", "cli"},
}


def layer_of(module: str) -> str:
    if module == "orch":  # the package's face: the public API
        return "api"
    for layer, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize(("module", "path"), sorted(modules().items()), ids=sorted(modules()))
def test_no_module_imports_a_layer_above_its_own(module: str, path: Path) -> None:
    own = layer_of(module)
    upwards = [name for name in imports(path) if name.startswith("orch") and layer_of(name) not in ALLOWED[own]]
    assert not upwards, f"{module} ({own}) imports {upwards}"


def test_only_the_tracking_package_imports_mlflow() -> None:
    importers = [m for m, path in modules().items() if any(n.split(".")[0] == "mlflow" for n in imports(path))]
    assert importers and all(m.startswith("orch.tracking.") for m in importers), importers


def test_the_layer_map_covers_every_module() -> None:
    assert {layer_of(m) for m in modules()} <= set(ALLOWED)


def test_every_package_is_listed_for_the_wheel() -> None:
    """setuptools installs only the listed packages: a folder left out works editable and breaks a wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"orch"} | {f"orch.{p.parent.name}" for p in (ROOT / "orch").glob("*/__init__.py")}
    found |= {FOLDERS[p.parent.name] for p in ROOT.glob("*/__init__.py") if p.parent.name in FOLDERS}
    assert found - {"orch.tests"} <= listed, sorted(found - listed)
