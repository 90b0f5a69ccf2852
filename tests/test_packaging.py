"""The distribution's metadata, its conda environment and the layering of its packages."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few packages differently from PyPI.
CONDA_NAMES = {"torch": "pytorch"}


def _split_requirement(text: str) -> tuple[str, str]:
    """Return (normalised name, specifier without spaces) of a requirement string."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", text)
    if match is None:
        raise ValueError(f"cannot parse requirement {text!r}")
    name = match.group(1).lower().replace("_", "-")
    return name, match.group(3).replace(" ", "")


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def _conda_dependencies() -> dict[str, str]:
    """Parse the dependency list of environment.yml (a flat list of conda specs)."""
    specs: dict[str, str] = {}
    in_list = False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped:
            continue
        if not line.startswith(" "):
            in_list = stripped == "dependencies:"
            continue
        if in_list:
            item = stripped.strip()
            if not item.startswith("- "):
                raise ValueError(f"unexpected line in environment.yml: {line!r}")
            name, spec = _split_requirement(item[2:])
            specs[name] = spec
    return specs


def test_conda_environment_matches_pyproject() -> None:
    project = _pyproject()["project"]
    wanted = [*project["dependencies"]]
    for extra in ("test", "notebooks"):
        wanted += project["optional-dependencies"][extra]
    conda = _conda_dependencies()

    for requirement in wanted:
        name, spec = _split_requirement(requirement)
        conda_name = CONDA_NAMES.get(name, name)
        assert conda_name in conda, f"{conda_name} is missing from environment.yml"
        assert conda[conda_name] == spec, (
            f"{conda_name}: environment.yml asks {conda[conda_name]!r}, pyproject {spec!r}"
        )

    known = {CONDA_NAMES.get(_split_requirement(r)[0], _split_requirement(r)[0]) for r in wanted}
    extra = set(conda) - known - {"python"}
    assert not extra, f"environment.yml lists packages pyproject.toml does not: {sorted(extra)}"


def test_environment_uses_conda_forge_only() -> None:
    text = (ROOT / "environment.yml").read_text()
    channels = re.search(r"channels:\n((?:\s+-.*\n)+)", text)
    assert channels is not None
    names = [line.strip()[2:].strip() for line in channels.group(1).splitlines()]
    assert names[0] == "conda-forge"
    assert "defaults" not in names


def test_torch_range_admits_the_cpu_build_and_cuda_releases() -> None:
    deps = dict(_split_requirement(r) for r in _pyproject()["project"]["dependencies"])
    assert deps["torch"] == ">=2.4,<2.14"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("estimators", {"models", "app", "panel", "holoviews", "bokeh"}),
        ("models", {"app", "panel", "holoviews", "bokeh"}),
    ],
)
def test_packages_depend_one_way(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & forbidden)
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imported_modules(path) & forbidden
    }
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def test_importing_the_runner_does_not_load_panel() -> None:
    code = (
        "import sys, estimators, models, app.runner\n"
        "loaded = [m for m in ('panel', 'holoviews', 'bokeh') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
