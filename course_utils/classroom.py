"""Classroom tools: solution-free student copies and reveal.js slides of the notebooks.

    python -m course_utils.classroom student [OUT_DIR]   # default build/student
    python -m course_utils.classroom slides [OUT_DIR]    # default build/slides

Solutions sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers). A cell
tagged ``solution`` is a worked solution as a whole: the student copy replaces it with a note. Markers
inside any other cell are replaced by ``# YOUR CODE HERE`` and ``raise NotImplementedError``, which the
checkers report as "not done yet". Outputs are cleared.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat

from course_utils.paths import REPO_DIR

NOTEBOOK_DIR = REPO_DIR / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*(\n|$)", re.M | re.S)
SOLUTION_NOTE = "*The worked solution is in the teacher's copy of this notebook.*"


def strip_solutions(source: str) -> str:
    """Replace every marked solution region by a stub, keeping its indentation."""
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"Unbalanced solution markers: {source.count(BEGIN)} BEGIN vs {source.count(END)} END.")
    return _REGION.sub(lambda m: f"{m[1]}# YOUR CODE HERE\n{m[1]}raise NotImplementedError\n", source)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A solution-free copy of a notebook, outputs cleared."""
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            out.cells.append(nbformat.v4.new_markdown_cell(SOLUTION_NOTE))
            continue
        cell = nbformat.from_dict(dict(cell))
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source)
            cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
    return out


def build_student_copies(out_dir: Path, notebooks: list[Path] | None = None) -> list[Path]:
    """Write a student copy of every notebook into `out_dir`; returns the written paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks or sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        target = out_dir / path.name
        nbformat.write(student_notebook(nbformat.read(path, as_version=4)), target)
        written.append(target)
    return written


def build_slides(out_dir: Path) -> None:
    """reveal.js slides of every notebook, from the cells' slide metadata (nbconvert)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [str(p) for p in sorted(NOTEBOOK_DIR.glob("*.ipynb"))]
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "slides", "--output-dir", str(out_dir), *notebooks], check=True
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("student", "slides"):
        print("usage: python -m course_utils.classroom {student|slides} [OUT_DIR]", file=sys.stderr)
        return 2
    out_dir = Path(args[1]) if len(args) > 1 else REPO_DIR / "build" / args[0]
    if args[0] == "student":
        for path in build_student_copies(out_dir):
            print(f"wrote {path}")
    else:
        build_slides(out_dir)
        print(f"Slides in {out_dir}: open the .slides.html files in a browser (reveal.js loads from its CDN).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
