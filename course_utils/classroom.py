"""Classroom builds: solution-free student copies and reveal.js slides of the notebooks.

    python -m course_utils.classroom student [OUT_DIR] [--force]   # default build/student
    python -m course_utils.classroom slides [OUT_DIR] [--force]    # default build/slides

The slides work offline: the JavaScript they load (reveal.js 4, require.js, jQuery, MathJax 2) is copied into
``OUT_DIR/lib``, so the folder can be zipped or served as it is. ``make slides-deps`` installs it from npm into
``vendor/node_modules`` (``vendor/package.json`` pins the versions); without it the slides load it from the
internet (a CDN), and the build says so.

Solutions sit between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers), each marker
at the start of its own line. A cell tagged ``solution`` is a worked solution as a whole: the student copy
replaces it with a note. Markers inside a code cell are replaced by ``# YOUR CODE HERE`` and
``raise NotImplementedError``, which the checkers report as "not done yet"; inside a markdown cell, by
"*Your answer here.*". Outputs are cleared.

Nobody's work is overwritten: the course's own notebooks folder is never a target; a folder that holds
anything these builds did not write (or that was edited since) is refused unless ``--force``. They
remember what they wrote in ``OUT_DIR/.course-classroom.json`` (a sha256 per file), so ``make student``
and ``make slides`` can run again. Every notebook is checked before any file is written, and each file
is replaced atomically, so an interrupted run never leaves half a notebook.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path, PurePosixPath

import nbformat

from course_utils.output_folder import ClassroomError, check_out_dir, is_within, write_files
from course_utils.paths import REPO_DIR

NOTEBOOK_DIR = REPO_DIR / "notebooks"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
SOLUTION_NOTE = "*The worked solution is in the teacher's copy of this notebook.*"
ANSWER_PROMPT = "*Your answer here.*"
CELL = "cell {} (counting cells from 1)"
BUILDS = {"student": "student copies", "slides": "slides"}  # command -> what it writes
VENDOR_DIR = REPO_DIR / "vendor"  # the slides' JavaScript, installed by `make slides-deps` (npm ci)
LIB = "lib"  # the folder next to the slides that holds its copy
SLIDE_LIBRARIES = {  # npm package -> the parts of it the slides load (a folder: every file in it)
    "reveal.js": ("LICENSE", "dist/reveal.js", "dist/reveal.css", "dist/theme", "plugin/notes"),
    "requirejs": ("require.js",),
    "jquery": ("LICENSE.txt", "dist/jquery.min.js"),
    "mathjax": (
        "LICENSE",
        "MathJax.js",
        "config/TeX-AMS_CHTML-full.js",
        "config/Safe.js",
        "extensions",
        "jax/element",
        "jax/input/TeX",
        "jax/output/CommonHTML",
        "fonts/HTML-CSS/TeX/woff",
    ),
}
LOCAL_URLS = [  # nbconvert's options that point the slides at that copy, relative so that the folder can move
    f"--SlidesExporter.reveal_url_prefix={LIB}/reveal.js",
    f"--SlidesExporter.require_js_url={LIB}/requirejs/require.js",
    f"--SlidesExporter.jquery_url={LIB}/jquery/dist/jquery.min.js",
    f"--SlidesExporter.mathjax_url={LIB}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe",
]
REVEAL_CDN = "https://unpkg.com/reveal.js@4.6.1"  # when it is not installed: the version vendor/package.json pins
# White, headings as written, fonts that come with reveal.js (nbconvert's default theme, "simple", asks Google's)
THEME = "--SlidesExporter.reveal_theme=white_contrast_compact_verbatim_headers"


# --- Solution markers -------------------------------------------------------------------------------


def _marker_problem(source: str) -> tuple[int, str] | None:
    """The first misplaced solution marker in `source`: (line, counted from 1, and what is wrong), or None."""
    open_line = None
    for n, line in enumerate(source.splitlines(), 1):
        text = line.lstrip(" \t")
        marker = next((m for m in (BEGIN, END) if text.startswith(m)), None)
        rest = text[len(marker) :] if marker else line
        if BEGIN in rest or END in rest:
            return n, "a solution marker must start its own line (only spaces before it)"
        if marker == BEGIN and open_line is not None:
            return n, f"`{BEGIN}` again before the `{END}` of line {open_line} (regions cannot nest)"
        if marker == END and open_line is None:
            return n, f"unbalanced markers: `{END}` comes before any `{BEGIN}`"
        if marker:
            open_line = n if marker == BEGIN else None
    if open_line is not None:
        return open_line, f"unbalanced markers: `{BEGIN}` has no `{END}` after it"
    return None


def strip_solutions(source: str, cell_type: str = "code") -> str:
    """Replace every marked solution region by a stub (code) or an answer prompt (markdown), keeping its indent."""
    if problem := _marker_problem(source):
        raise ClassroomError(f"Unbalanced or misplaced solution markers, line {problem[0]}: {problem[1]}.")
    out, inside = [], False
    for line in source.splitlines(keepends=True):
        text = line.lstrip(" \t")
        if text.startswith(BEGIN):
            indent, inside = line[: len(line) - len(text)], True
            stub = ["# YOUR CODE HERE", "raise NotImplementedError"] if cell_type == "code" else [ANSWER_PROMPT]
            out += [f"{indent}{s}\n" for s in stub]
        elif text.startswith(END):
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A solution-free copy of a notebook, outputs cleared; the original is left as it is."""
    for i, cell in enumerate(nb.cells, 1):
        if problem := _marker_problem(cell.source):
            raise ClassroomError(f"{CELL.format(i)}, line {problem[0]}: {problem[1]}.")
    out = nbformat.v4.new_notebook(metadata=nb.metadata)
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            note = nbformat.v4.new_markdown_cell(SOLUTION_NOTE)
            if "id" in cell:
                note.id = cell.id  # the same id every time: rebuilt copies differ only where the notebook did
            out.cells.append(note)
            continue
        cell = nbformat.from_dict(dict(cell))
        cell.source = strip_solutions(cell.source, cell.cell_type)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        out.cells.append(cell)
    return out


# --- Reading notebooks --------------------------------------------------------------------------------


def _label(path: Path) -> str:
    """How a message names a file: relative to the course folder when it is inside it."""
    with suppress(ValueError):
        return path.resolve().relative_to(REPO_DIR).as_posix()
    return str(path)


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read and check one notebook, or say in one line what is wrong with the file."""
    label = _label(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as e:
        raise ClassroomError(f"{label} cannot be read ({e.__class__.__name__}: {e}).") from None
    except json.JSONDecodeError as e:
        raise ClassroomError(
            f"{label} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
            "open it in Jupyter or restore it from version control."
        ) from None
    if not isinstance(data, dict) or not {"cells", "nbformat"} <= data.keys():
        raise ClassroomError(f"{label} is JSON but not a Jupyter notebook (it needs 'cells' and 'nbformat').")
    try:
        nb = nbformat.convert(nbformat.reader.reads(text), 4)  # joins sources saved as lists of lines
        with warnings.catch_warnings():  # a cell saved without an id gets one; no need to say so
            warnings.simplefilter("ignore", nbformat.warnings.MissingIDFieldWarning)
            nbformat.validate(nb)
        return nb
    except Exception as e:  # nbformat reports a malformed notebook with several exception types
        reason = (str(e).strip().splitlines() or [e.__class__.__name__])[0][:200]
        raise ClassroomError(f"{label} is not a valid Jupyter notebook: {reason.rstrip('.')}.") from None


def _course_notebooks(notebooks: list[Path] | None) -> list[Path]:
    """The given notebooks, or every notebook of the course; two with one name would overwrite each other."""
    paths = [Path(p) for p in notebooks] if notebooks else sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    if not paths:
        raise ClassroomError(f"No notebooks (*.ipynb) in {NOTEBOOK_DIR}: nothing to build.")
    names = [p.name for p in paths]
    if twice := sorted({n for n in names if names.count(n) > 1}):
        raise ClassroomError(f"Two notebooks are named {twice[0]}: their copies would overwrite each other.")
    return paths


# --- The two builds ------------------------------------------------------------------------------------


def _notebooks_checked(
    notebooks: list[Path] | None, out_dir: Path, command: str, force: bool, convert: Callable | None = None
) -> dict[Path, nbformat.NotebookNode]:
    """Check the folder, then read (and `convert`) every notebook, all before anything is written."""
    paths = _course_notebooks(notebooks)
    check_out_dir(out_dir, NOTEBOOK_DIR, command, BUILDS[command], force)
    same_folder = (p for p in paths if command == "student" and is_within(out_dir, p.parent, inside=False))
    if source := next(same_folder, None):
        raise ClassroomError(
            f"{out_dir} holds the notebooks being copied ({source.name}): the student copies "
            "would replace them (even with --force). Choose another folder."
        )
    checked = {}
    for path in paths:
        try:
            nb = _read_notebook(path)
            checked[path] = convert(nb) if convert else nb
        except ClassroomError as e:
            label = _label(path)
            message = str(e) if str(e).startswith(label) else f"{label}, {e}"
            raise ClassroomError(f"{message} Nothing was written.") from None
    return checked


def build_student_copies(out_dir: Path, notebooks: list[Path] | None = None, *, force: bool = False) -> list[Path]:
    """Write a student copy of every notebook into `out_dir`; returns the written paths.

    Refuses (ClassroomError) the notebooks folder, a file, or a folder with someone's work unless `force`;
    every notebook is checked before any file is written.
    """
    out_dir = Path(out_dir)
    copies = _notebooks_checked(notebooks, out_dir, "student", force, student_notebook)
    files = {path.name: (nbformat.writes(nb) + "\n").encode() for path, nb in copies.items()}
    return write_files(out_dir, files, NOTEBOOK_DIR, "student", BUILDS["student"], force)


def slide_libraries(vendor: Path) -> dict[str, bytes]:
    """The files of the slides' JavaScript, named as they go under OUT_DIR (``lib/...``), read from `vendor`.

    Raises ClassroomError naming the first package or file that is not installed.
    """
    files = {}
    for package, parts in SLIDE_LIBRARIES.items():
        root = vendor / "node_modules" / package
        for part in parts:
            path = root / part
            for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
                try:
                    files[f"{LIB}/{package}/{file.relative_to(root).as_posix()}"] = file.read_bytes()
                except OSError:
                    missing = package if not root.is_dir() else f"{package}/{part}"
                    raise ClassroomError(f"{missing} is not installed in {_label(vendor)}/node_modules") from None
    return files


def build_slides(out_dir: Path, notebooks: list[Path] | None = None, *, force: bool = False) -> list[Path]:
    """reveal.js slides of every notebook, from the cells' slide metadata (nbconvert); returns the written paths.

    The same folder rules as `build_student_copies`: nbconvert writes into a temporary folder first, and the
    JavaScript copied into ``lib/`` counts as written by the build. Without that JavaScript installed, the slides
    load it from a CDN, and a warning line on stderr says how to make them work offline.
    """
    out_dir = Path(out_dir)
    paths = list(_notebooks_checked(notebooks, out_dir, "slides", force))
    try:
        files, urls = slide_libraries(VENDOR_DIR), LOCAL_URLS
    except ClassroomError as e:
        files, urls = {}, [f"--SlidesExporter.reveal_url_prefix={REVEAL_CDN}"]
        print(
            f"classroom: warning: {e}, so these slides load their JavaScript (reveal.js, MathJax) from the "
            "internet and need a connection to show. For offline slides, install Node.js, run `make slides-deps` "
            "and build again.",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="course-slides-") as tmp:
        done = subprocess.run(
            [sys.executable, "-m", "nbconvert", "--to", "slides", THEME, *urls, "--output-dir", tmp, *map(str, paths)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            last = ([line for line in done.stderr.splitlines() if line.strip()] or ["no message"])[-1]
            raise ClassroomError(f"nbconvert could not make the slides ({last.strip()}). Nothing was written.")
        files |= {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return _write_with_folders(out_dir, files, force)


def _write_with_folders(out_dir: Path, files: dict[str, bytes], force: bool) -> list[Path]:
    """`write_files` for names in subfolders (``lib/...``): makes the folders first, removes them again if refused.

    A subfolder that is a link is refused even with --force: the files would land wherever it points.
    """
    inside = {out_dir / folder for name in files for folder in PurePosixPath(name).parents} - {out_dir}
    if link := next((f for f in sorted(inside) if f.is_symlink()), None):
        raise ClassroomError(
            f"{link} is a link: the slides' JavaScript would be written where it points (even with "
            "--force). Remove the link or choose another folder."
        )
    made = []
    try:
        for folder in [*reversed(out_dir.parents), out_dir, *sorted(inside, key=lambda f: len(f.parts))]:
            if not folder.is_dir():
                folder.mkdir()
                made.append(folder)
        return write_files(out_dir, files, NOTEBOOK_DIR, "slides", BUILDS["slides"], force)
    except BaseException as e:
        for folder in reversed(made):  # a refused build leaves no empty folder behind
            with suppress(OSError):
                folder.rmdir()
        if isinstance(e, OSError):
            raise ClassroomError(
                f"Could not create the folder {e.filename or out_dir}: {e.strerror or e}. Choose another."
            ) from None
        raise


# --- Command line --------------------------------------------------------------------------------------

USAGE = "usage: python -m course_utils.classroom {student|slides} [OUT_DIR] [--force]"


def main(argv: list[str] | None = None) -> int:
    """The command line: one line on stderr and a non-zero exit for anything refused."""
    args = sys.argv[1:] if argv is None else list(argv)
    force, positional, options_done = False, [], False
    for arg in args:
        if arg == "--" and not options_done:
            options_done = True
        elif arg in ("-h", "--help") and not options_done:
            print(__doc__)
            return 0
        elif arg == "--force" and not options_done:
            force = True
        elif arg.startswith("-") and not options_done:
            print(f"{USAGE}\nclassroom: unknown option {arg}", file=sys.stderr)
            return 2
        else:
            positional.append(arg)
    if not positional or positional[0] not in BUILDS or len(positional) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    command = positional[0]
    out_dir = Path(positional[1]) if len(positional) > 1 else REPO_DIR / "build" / command
    build = build_student_copies if command == "student" else build_slides
    try:
        written = build(out_dir, force=force)
    except ClassroomError as e:
        print(f"classroom: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("classroom: interrupted; every file written so far is complete, run the command again.", file=sys.stderr)
        return 130
    library = [p for p in written if p.relative_to(out_dir).parts[0] == LIB]
    for path in written:
        if path not in library:
            print(f"wrote {path}")
    if command == "slides":
        where = (
            f"the {len(library)} files in {out_dir / LIB} with them, so they work offline"
            if library
            else "reveal.js from its CDN, so they need the internet"
        )
        print(f"Slides in {out_dir}: open the .slides.html files in a browser (they load {where}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
