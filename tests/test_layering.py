"""The import rules of docs/architecture.md, checked on the source: who may import whom, and no heavy
imports at module top level in the light modules (the CLI must start without torch)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["kg", "encoders", "fusion", "data", "pipelines"]
ALLOWED = {  # subpackage -> the other subpackages it may import
    "kg": set(),
    "encoders": set(),
    "data": {"kg"},
    "fusion": {"encoders", "data"},
    "pipelines": {"kg", "encoders", "fusion", "data"},
}
HEAVY = {"torch", "torch_geometric", "transformers", "spacy"}
LIGHT_TOP_LEVEL = ["kg", "pipelines/cli.py"]  # where heavy modules may only be imported inside functions
HEAVY_BY_NATURE = {"kg/linking.py"}  # a spaCy component: imported only by those who use spaCy


def _modules(sub: str):
    return sorted((ROOT / sub).rglob("*.py"))


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, int]]:
    """(absolute module name, line) for every import in `path`; relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(ROOT).with_suffix("")
    package = ["kgreason", *rel.parts[:-1]] if rel.name != "__init__" else ["kgreason", *rel.parts[:-1]]
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                found.append((".".join(base + ([node.module] if node.module else [])), node.lineno))
            else:
                found.append((node.module, node.lineno))
    return found


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_subpackage_imports_follow_the_layers(sub):
    offending = []
    for path in _modules(sub):
        for module, line in _imports(path):
            parts = module.split(".")
            if parts[0] == "kgreason" and len(parts) > 1 and parts[1] != sub and parts[1] not in ALLOWED[sub]:
                offending.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offending, "import rule broken:\n" + "\n".join(offending)


def test_nothing_imports_pipelines():
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for sub in SUBPACKAGES
        if sub != "pipelines"
        for path in _modules(sub)
        for module, line in _imports(path)
        if module.startswith("kgreason.pipelines")
    ]
    assert not offending


@pytest.mark.parametrize("target", LIGHT_TOP_LEVEL)
def test_no_heavy_imports_at_top_level(target):
    paths = [ROOT / target] if target.endswith(".py") else _modules(target)
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {module} at top level"
        for path in paths
        if str(path.relative_to(ROOT)) not in HEAVY_BY_NATURE
        for module, line in _imports(path, top_level_only=True)
        if module.split(".")[0] in HEAVY
    ]
    assert not offending


def test_the_rule_checker_catches_a_violation(tmp_path, monkeypatch):
    fake = ROOT / "kg" / "_layering_probe.py"
    assert not fake.exists()
    try:
        fake.write_text("from ..pipelines import cli\n")
        with pytest.raises(AssertionError, match="imports kgreason.pipelines"):
            test_subpackage_imports_follow_the_layers("kg")
    finally:
        fake.unlink()


def test_every_subpackage_is_listed_in_pyproject():
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        "kgreason." + ".".join(p.parent.relative_to(ROOT).parts)
        for sub in SUBPACKAGES
        for p in (ROOT / sub).rglob("__init__.py")
    }
    assert on_disk == set(config["packages"]) and set(config["package-dir"]) == on_disk
