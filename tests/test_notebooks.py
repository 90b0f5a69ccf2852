"""The notebooks are committed without outputs, match their sources and carry a time limit.

Executing them is the job of nbmake (``pytest --nbmake notebooks/``); these checks are static
and take well under a second.
"""

import importlib.util
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
EXPECTED = [
    "00_explorer",
    "01_single_neuron",
    "02_leaky_relu",
    "03_szt",
    "04_spiral",
    "05_estimators",
    "06_mnist_cnn",
]


def _load_builder():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOKS / "build_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _notebook(name):
    return json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))


def test_every_notebook_and_source_exists():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == EXPECTED
    assert sorted(p.stem for p in (NOTEBOOKS / "src").glob("*.py")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_has_no_outputs(name):
    for cell in _notebook(name)["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == []
            assert cell.get("execution_count") is None


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_has_a_time_limit_and_the_full_switch(name):
    notebook = _notebook(name)
    timeout = notebook["metadata"]["execution"]["timeout"]
    assert 60 <= timeout <= 600
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert re.search(r"^FULL = False$", code, flags=re.MULTILINE)


def test_notebooks_match_their_sources():
    assert _load_builder().main(["--check"]) == 0


def test_builder_splits_cells_and_strips_comment_marks():
    cells, timeout = _load_builder().parse_source(
        "# timeout: 77\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n# %%\ny = 2\n"
    )
    assert timeout == 77
    assert [c.cell_type for c in cells] == ["markdown", "code", "code"]
    assert cells[0].source == "# Title\n\ntext"
    assert cells[1].source == "x = 1"
