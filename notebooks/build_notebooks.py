"""Build the notebooks in this folder from their Python sources in ``src/``.

Each source is a plain Python file cut into cells by ``# %%`` lines; a ``# %% [markdown]``
cell holds markdown written as comment lines (``# `` is stripped). The notebooks are written
without outputs, with the kernel of this environment and a per-cell time limit in their
metadata (``execution.timeout``, read by nbmake)::

    python notebooks/build_notebooks.py            # rebuild every notebook
    python notebooks/build_notebooks.py --check    # fail if a notebook differs from its source

A source may set its own time limit with a first line ``# timeout: SECONDS``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "src"
DEFAULT_TIMEOUT = 300
_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?\s*$")
_TIMEOUT = re.compile(r"^# timeout: (?P<seconds>\d+)\s*$")


def parse_source(text: str) -> tuple[list[nbformat.NotebookNode], int]:
    """Return the cells of a percent-format source and its per-cell time limit (seconds)."""
    lines = text.splitlines()
    timeout = DEFAULT_TIMEOUT
    if lines and (match := _TIMEOUT.match(lines[0])):
        timeout = int(match["seconds"])
        lines = lines[1:]

    cells = []
    kind, body = None, []

    def flush() -> None:
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if kind is None or not body:
            return
        if kind == "markdown":
            text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                             for line in body)
            cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            cells.append(nbformat.v4.new_code_cell("\n".join(body)))

    for line in lines:
        match = _MARKER.match(line)
        if match:
            flush()
            kind, body = ("markdown" if match["markdown"] else "code"), []
        else:
            body.append(line)
    flush()
    return cells, timeout


def build(source: Path) -> nbformat.NotebookNode:
    """Return the notebook of one source file, without outputs."""
    cells, timeout = parse_source(source.read_text(encoding="utf-8"))
    for index, cell in enumerate(cells):
        # Stable ids keep rebuilt notebooks identical when the source did not change.
        cell["id"] = f"{source.stem[:2]}-{index:03d}"
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "execution": {"timeout": timeout},
    }
    return notebook


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) every notebook; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("names", nargs="*", help="sources to build (default: all)")
    args = parser.parse_args(argv)

    sources = sorted(SOURCES.glob("*.py"))
    if args.names:
        sources = [s for s in sources if s.stem in args.names or s.name in args.names]
    stale = []
    for source in sources:
        target = HERE / f"{source.stem}.ipynb"
        text = nbformat.writes(build(source)) + "\n"
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            target.write_text(text, encoding="utf-8")
    if stale:
        print("out of date with src/: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
