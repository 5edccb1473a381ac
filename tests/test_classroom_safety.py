"""Student copies and slides never destroy the teacher's notebooks or a learner's work.

Every refusal is checked byte for byte: a snapshot of every file in the target (and in the course's
notebooks folder) before, the same snapshot after. The "course" is a temporary copy of two real notebooks,
so a test that fails can never touch the real ones. The slides' JavaScript is a small stand-in with the
layout of the npm packages (tests/test_slides_offline.py uses the real ones), so these tests need no npm.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import classroom, output_folder

REAL_NOTEBOOKS = sorted(classroom.NOTEBOOK_DIR.glob("*.ipynb"))[:2]


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file, link and folder under `folders`: files by their bytes, links by their target."""
    snap = {}
    for folder in folders:
        if folder.is_file():
            snap[str(folder)] = folder.read_bytes()
            continue
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = Path(root) / name
                if path.is_symlink():
                    snap[str(path)] = b"link to " + os.readlink(path).encode()
                elif path.is_dir():
                    snap[str(path)] = b"folder"
                else:
                    snap[str(path)] = path.read_bytes()
    return snap


def refused(build, out_dir: Path, *watched: Path, match: str, **kwargs) -> str:
    """Run `build` expecting a ClassroomError; assert nothing under `watched` changed. Returns the message."""
    before = snapshot(*watched)
    with pytest.raises(classroom.ClassroomError, match=match) as info:
        build(out_dir, **kwargs)
    assert snapshot(*watched) == before, "a refused build changed files"
    message = str(info.value)
    assert "\n" not in message, "a refusal is one line"
    return message


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    """A temporary copy of two real notebooks stands in for the course's notebooks folder."""
    nb_dir = tmp_path / "course" / "notebooks"
    nb_dir.mkdir(parents=True)
    for path in REAL_NOTEBOOKS:
        shutil.copy(path, nb_dir)
    monkeypatch.setattr(classroom, "NOTEBOOK_DIR", nb_dir)
    return nb_dir


def tiny_notebook(path: Path, *sources: str) -> Path:
    """A small notebook: a markdown title slide, then one slide per source (code cells unless it starts '#')."""
    cells = [nbformat.v4.new_markdown_cell("# A tiny deck", metadata={"slideshow": {"slide_type": "slide"}})]
    for source in sources:
        new = nbformat.v4.new_markdown_cell if source.startswith("#") else nbformat.v4.new_code_cell
        cells.append(new(source, metadata={"slideshow": {"slide_type": "slide"}}))
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


BUILDS = {"student": classroom.build_student_copies, "slides": classroom.build_slides}


def stand_in_libraries(vendor: Path) -> Path:
    """A tiny `vendor` folder shaped like `npm ci` leaves it: each part the slides load, a folder holding two files."""
    for package, parts in classroom.SLIDE_LIBRARIES.items():
        for part in parts:
            path = vendor / "node_modules" / package / part
            is_folder = "." not in path.name and path.name != "LICENSE"
            for file in [path / "one.js", path / "fonts" / "two.woff"] if is_folder else [path]:
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(f"/* {package} {part} */\n")
    return vendor


@pytest.fixture(scope="session")
def libraries(tmp_path_factory) -> Path:
    return stand_in_libraries(tmp_path_factory.mktemp("vendor"))


@pytest.fixture(autouse=True)
def _stand_in_libraries(libraries, monkeypatch):
    monkeypatch.setattr(classroom, "VENDOR_DIR", libraries)


# --- The course's notebooks folder: refused under every spelling, even with --force ----------------------


def spell(nb_dir: Path, how: str, monkeypatch) -> Path:
    """The notebooks folder, or a folder inside it, written the way `how` says."""
    if how == "a link to it":
        (nb_dir.parent / "link").symlink_to(nb_dir, target_is_directory=True)
        return nb_dir.parent / "link"
    if how == "relative":
        monkeypatch.chdir(nb_dir.parent)
        return Path("notebooks")
    return {
        "itself": nb_dir,
        "via ..": nb_dir / ".." / "notebooks",
        "a new folder inside": nb_dir / "student",
        "an old folder inside": nb_dir / "old",
    }[how]


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize(
    "how", ["itself", "via ..", "relative", "a link to it", "a new folder inside", "an old folder inside"]
)
@pytest.mark.parametrize("command", ["student", "slides"])
def test_the_notebooks_folder_is_never_a_target(course, monkeypatch, command, how, force):
    (course / "old").mkdir()
    (course / "old" / "notes.md").write_text("the teacher's notes\n")
    out_dir = spell(course, how, monkeypatch)
    message = refused(BUILDS[command], out_dir, course.parent, match="notebooks folder", force=force)
    assert str(out_dir) in message and "even with --force" in message
    assert not (course / "student").exists()


# --- The output folder ------------------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("command", ["student", "slides"])
def test_an_existing_file_is_not_a_folder(course, tmp_path, command, force):
    out_file = tmp_path / "student.ipynb"
    out_file.write_text("a learner's file\n")
    message = refused(BUILDS[command], out_file, out_file, course, match="is a file, not a folder", force=force)
    assert str(out_file) in message


def test_a_folder_below_a_file_is_a_clear_error(course, tmp_path):
    (tmp_path / "build").write_text("not a folder\n")
    refused(classroom.build_student_copies, tmp_path / "build" / "student", tmp_path, match="Could not create")


@pytest.mark.parametrize("command", ["student", "slides"])
def test_a_learners_own_file_is_kept(course, tmp_path, command):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "my_notes.ipynb").write_text("{}")
    message = refused(BUILDS[command], out_dir, out_dir, course, match="did not write")
    assert "my_notes.ipynb" in message and "--force" in message and "empty folder" in message


def test_a_reused_folder_can_be_rebuilt_until_a_copy_is_edited(course, tmp_path):
    out_dir = tmp_path / "student"
    first = classroom.build_student_copies(out_dir)
    assert [p.name for p in first] == [p.name for p in REAL_NOTEBOOKS]
    assert classroom.build_student_copies(out_dir) == first, "an unedited build must be rebuilt (make student)"
    edited = first[1]
    nb = nbformat.read(edited, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("my_answer = 42"))  # a learner works in the copy
    nbformat.write(nb, edited)
    message = refused(classroom.build_student_copies, out_dir, out_dir, course, match="edited since")
    assert edited.name in message and first[0].name not in message


@pytest.mark.parametrize(
    "what", ["a checkpoint folder", "a link", "a link to a folder", "a made-up manifest entry", "a broken manifest"]
)
def test_anything_not_written_here_is_refused(course, tmp_path, what):
    out_dir = tmp_path / "student"
    written = classroom.build_student_copies(out_dir)
    manifest = out_dir / output_folder.MANIFEST
    if what == "a checkpoint folder":
        (out_dir / ".ipynb_checkpoints").mkdir()
        (out_dir / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    elif what == "a link":
        (out_dir / "teacher.ipynb").symlink_to(course / REAL_NOTEBOOKS[0].name)
    elif what == "a link to a folder":
        (out_dir / "course").symlink_to(course, target_is_directory=True)
    elif what == "a made-up manifest entry":
        (out_dir / "mine.py").write_text("print('mine')\n")
        data = json.loads(manifest.read_text())
        data["files"]["mine.py"] = "0" * 64
        manifest.write_text(json.dumps(data))
    else:
        manifest.write_text("{ not json")
    message = refused(classroom.build_student_copies, out_dir, out_dir, course, match="did not write")
    assert "--force" in message
    if what == "a broken manifest":
        assert written[0].name in message, "without a readable manifest no file counts as the build's"


def test_force_overwrites_same_names_only_and_never_through_a_link(course, tmp_path):
    out_dir = tmp_path / "student"
    out_dir.mkdir()
    (out_dir / "mine.txt").write_text("keep me\n")
    teacher = course / REAL_NOTEBOOKS[0].name
    (out_dir / teacher.name).symlink_to(teacher)
    before = snapshot(course)
    refused(classroom.build_student_copies, out_dir, out_dir, course, match="did not write")
    classroom.build_student_copies(out_dir, force=True)
    assert snapshot(course) == before, "the teacher's notebook behind the link must not change"
    assert (out_dir / "mine.txt").read_text() == "keep me\n"
    copy = out_dir / teacher.name
    assert not copy.is_symlink() and "BEGIN SOLUTION" not in copy.read_text()
    assert "mine.txt" not in json.loads((out_dir / output_folder.MANIFEST).read_text())["files"]
    refused(classroom.build_student_copies, out_dir, out_dir, course, match="mine.txt")


def test_an_interrupted_build_leaves_whole_files_and_can_be_rerun(course, tmp_path, monkeypatch):
    out_dir = tmp_path / "student"
    old = {p.name: p.read_bytes() for p in classroom.build_student_copies(out_dir)}
    for path in course.glob("*.ipynb"):  # the teacher revises both notebooks
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_markdown_cell("Revised."))
        nbformat.write(nb, path)
    real_replace, calls = os.replace, []

    def interrupted(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        classroom.build_student_copies(out_dir)
    monkeypatch.setattr(os, "replace", real_replace)
    first, second = (out_dir / p.name for p in REAL_NOTEBOOKS)
    assert "Revised." in nbformat.read(first, as_version=4).cells[0].source
    assert second.read_bytes() == old[second.name], "the interrupted file must still be the whole old copy"
    assert not [p for p in out_dir.iterdir() if p.name.endswith(".tmp")], "no temporary file left behind"
    classroom.build_student_copies(out_dir)  # the manifest knows both files: no --force needed
    assert "Revised." in nbformat.read(second, as_version=4).cells[0].source


# --- The notebooks are checked before anything is written -------------------------------------------------

BAD_MARKERS = {
    "END before BEGIN (code)": ("x = 1\n### END SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", 2, "comes before"),
    "nested BEGIN (markdown)": ("## Why?\n### BEGIN SOLUTION\na\n### BEGIN SOLUTION\nb\n### END SOLUTION", 4, "nest"),
    "no END (markdown)": ("## Why?\n\n### BEGIN SOLUTION\nBecause.", 3, "has no"),
    "marker inside a line (code)": ("x = 1  ### BEGIN SOLUTION\n### END SOLUTION", 1, "start its own line"),
}


@pytest.mark.parametrize("case", BAD_MARKERS)
def test_misplaced_markers_name_notebook_cell_and_line_and_write_nothing(course, tmp_path, case):
    source, line, problem = BAD_MARKERS[case]
    tiny_notebook(course / "09_bad.ipynb", "print('fine')", source)  # after two good notebooks
    out_dir = tmp_path / "student"
    message = refused(classroom.build_student_copies, out_dir, course, tmp_path, match=problem)
    assert f"09_bad.ipynb, cell 3 (counting cells from 1), line {line}:" in message
    assert "Nothing was written" in message and not out_dir.exists()


@pytest.mark.parametrize(
    "text",
    ['{ "cells": [', "", "[1, 2]", '{"cells": [], "nbformat": 4}'],
    ids=["cut short", "empty", "a list", "no metadata"],
)
@pytest.mark.parametrize("command", ["student", "slides"])
def test_a_broken_notebook_is_one_clear_line(course, tmp_path, command, text):
    (course / "09_broken.ipynb").write_text(text)
    out_dir = tmp_path / "out"
    message = refused(BUILDS[command], out_dir, course, tmp_path, match="09_broken.ipynb")
    assert "JSON" in message or "notebook" in message
    assert not out_dir.exists()


def test_the_folder_of_the_notebooks_given_is_never_a_target(tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    lesson = tiny_notebook(source / "lesson.ipynb", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    message = refused(
        classroom.build_student_copies, source, source, match="notebooks being copied", notebooks=[lesson], force=True
    )
    assert "lesson.ipynb" in message


def test_two_notebooks_with_one_name_are_refused(course, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    shutil.copy(REAL_NOTEBOOKS[0], other)
    notebooks = [course / REAL_NOTEBOOKS[0].name, other / REAL_NOTEBOOKS[0].name]
    with pytest.raises(classroom.ClassroomError, match="Two notebooks are named"):
        classroom.build_student_copies(tmp_path / "student", notebooks)
    assert not (tmp_path / "student").exists()


# --- Slides: the same rules, nbconvert writes into a temporary folder first -------------------------------


def test_slides_follow_the_same_folder_rules(tmp_path):
    deck = tiny_notebook(tmp_path / "tiny.ipynb", "print('hello')", "## A second point")
    out_dir = tmp_path / "slides"
    written = classroom.build_slides(out_dir, [deck])
    decks = [p for p in written if p.parent == out_dir]
    assert [p.name for p in decks] == ["tiny.slides.html"] and "<section" in decks[0].read_text()
    assert classroom.build_slides(out_dir, [deck]) == written, "an unedited deck must be rebuilt (make slides)"
    decks[0].write_text(decks[0].read_text().replace("A second point", "My own point"))
    message = refused(classroom.build_slides, out_dir, out_dir, match="edited since", notebooks=[deck])
    assert "tiny.slides.html" in message


def test_the_javascript_copied_next_to_the_slides_counts_as_written_by_the_build(tmp_path, libraries):
    deck = tiny_notebook(tmp_path / "tiny.ipynb", "print('hello')")
    out_dir = tmp_path / "slides"
    written = classroom.build_slides(out_dir, [deck])
    copied = {p.relative_to(out_dir).as_posix(): p.read_bytes() for p in written if p.parent != out_dir}
    assert copied == classroom.slide_libraries(libraries)
    assert "lib/reveal.js/dist/theme/fonts/two.woff" in copied, "folders are copied with their subfolders"
    manifest = json.loads((out_dir / output_folder.MANIFEST).read_text())["files"]
    assert set(manifest) == set(copied) | {"tiny.slides.html"}
    html = (out_dir / "tiny.slides.html").read_text()
    assert 'src="lib/requirejs/require.js"' in html and '"lib/reveal.js/dist/reveal.js"' in html

    reveal = out_dir / "lib" / "reveal.js" / "dist" / "reveal.js"
    reveal.write_text("/* the teacher's own build of reveal.js */\n")
    message = refused(classroom.build_slides, out_dir, out_dir, match="edited since", notebooks=[deck])
    assert "lib/reveal.js/dist/reveal.js" in message
    (out_dir / "lib" / "my-plugin.js").write_text("// the teacher's plugin\n")
    refused(classroom.build_slides, out_dir, out_dir, match="my-plugin.js", notebooks=[deck])
    classroom.build_slides(out_dir, [deck], force=True)
    assert reveal.read_bytes() == copied["lib/reveal.js/dist/reveal.js"], "--force restores the copy"
    assert (out_dir / "lib" / "my-plugin.js").read_text() == "// the teacher's plugin\n", "others are kept"


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
@pytest.mark.parametrize("what", ["a link to a folder", "a file"])
def test_the_javascript_is_never_written_through_a_link_or_over_a_file(tmp_path, what, force):
    deck = tiny_notebook(tmp_path / "tiny.ipynb", "print('hello')")
    out_dir, teacher = tmp_path / "slides", tmp_path / "teacher"
    out_dir.mkdir()
    teacher.mkdir()
    (teacher / "notes.md").write_text("the teacher's notes\n")
    if what == "a file":
        (out_dir / "lib").write_text("a file named lib\n")
    else:
        (out_dir / "lib").symlink_to(teacher, target_is_directory=True)
    problem = "did not write" if not force else "Could not create" if what == "a file" else "is a link"
    message = refused(classroom.build_slides, out_dir, out_dir, teacher, match=problem, notebooks=[deck], force=force)
    assert "lib" in message


def test_vendor_pins_the_libraries_the_slides_load_and_the_cdn_serves_the_same_reveal_js():
    vendor = classroom.REPO_DIR / "vendor"
    pins = json.loads((vendor / "package.json").read_text())["dependencies"]
    assert set(pins) == set(classroom.SLIDE_LIBRARIES) and pins["reveal.js"].startswith("4.")  # nbconvert 7's
    assert classroom.REVEAL_CDN.endswith(f"/reveal.js@{pins['reveal.js']}")
    locked = json.loads((vendor / "package-lock.json").read_text())["packages"]
    assert {name.removeprefix("node_modules/"): p["version"] for name, p in locked.items() if name} == pins
    sources = [p["resolved"] for p in locked.values() if "resolved" in p]
    assert all(url.startswith("https://registry.npmjs.org/") for url in sources), "npm's registry only"


@pytest.mark.parametrize("missing", ["everything", "reveal.js", "mathjax/MathJax.js"])
def test_without_the_javascript_the_slides_use_the_cdn_and_say_so_in_one_line(tmp_path, monkeypatch, capsys, missing):
    vendor = stand_in_libraries(tmp_path / "vendor")
    if missing == "everything":
        shutil.rmtree(vendor)
    elif missing == "reveal.js":
        shutil.rmtree(vendor / "node_modules" / "reveal.js")
    else:
        (vendor / "node_modules" / missing).unlink()
    monkeypatch.setattr(classroom, "VENDOR_DIR", vendor)
    deck = tiny_notebook(tmp_path / "tiny.ipynb", "print('hello')")
    written = classroom.build_slides(tmp_path / "slides", [deck])
    assert [p.name for p in written] == ["tiny.slides.html"] and not (tmp_path / "slides" / "lib").exists()
    assert "https://unpkg.com/reveal.js" in written[0].read_text()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning" in err and "make slides-deps" in err and "internet" in err
    assert f"{'reveal.js' if missing == 'everything' else missing} is not installed in {vendor}" in err


def test_a_file_that_appears_while_slides_are_made_is_kept(tmp_path, monkeypatch):
    deck = tiny_notebook(tmp_path / "tiny.ipynb", "print('hello')")
    out_dir = tmp_path / "slides"

    def nbconvert_while_a_learner_saves(command, **kwargs):
        out_dir.mkdir(exist_ok=True)
        (out_dir / "tiny.slides.html").write_text("my annotated slides")
        output_dir = Path(command[command.index("--output-dir") + 1])
        (output_dir / "tiny.slides.html").write_text("<section>new</section>")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(classroom.subprocess, "run", nbconvert_while_a_learner_saves)
    with pytest.raises(classroom.ClassroomError, match="did not write"):
        classroom.build_slides(out_dir, [deck])
    assert (out_dir / "tiny.slides.html").read_text() == "my annotated slides"
    assert sorted(p.name for p in out_dir.iterdir()) == ["tiny.slides.html"], "no folder for lib/ left behind"


# --- The command line ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["teacher"], ["student", "--frce"], ["student", "a", "b"], ["-x"]])
def test_a_wrong_command_line_prints_the_usage(argv, capsys):
    assert classroom.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_a_refusal_is_one_line_and_a_non_zero_exit(course, tmp_path, capsys):
    assert classroom.main(["student", str(course)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(course) in err and "choose another folder" in err.lower()


@pytest.mark.parametrize("installed", [True, False], ids=["javascript installed", "no javascript"])
def test_the_slides_command_lists_the_decks_and_says_whether_they_work_offline(
    tmp_path, monkeypatch, capsys, installed
):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    tiny_notebook(nb_dir / "tiny.ipynb", "print('hello')")
    monkeypatch.setattr(classroom, "NOTEBOOK_DIR", nb_dir)
    if not installed:
        monkeypatch.setattr(classroom, "VENDOR_DIR", tmp_path / "vendor")
    out_dir = tmp_path / "slides"
    assert classroom.main(["slides", str(out_dir)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"wrote {out_dir / 'tiny.slides.html'}" and len(lines) == 2, "one line per deck, then where"
    if installed:
        count = sum(p.is_file() for p in (out_dir / "lib").rglob("*"))
        assert f"the {count} files in {out_dir / 'lib'} with them, so they work offline" in lines[1] and err == ""
    else:
        assert "from its CDN, so they need the internet" in lines[1] and "make slides-deps" in err


def test_the_real_command_shows_no_traceback(tmp_path):
    out_dir = tmp_path / "student"
    out_dir.mkdir()
    (out_dir / "homework.ipynb").write_text("my work\n")
    before = snapshot(out_dir)
    done = subprocess.run(
        [sys.executable, "-m", "course_utils.classroom", "student", str(out_dir)],
        capture_output=True,
        text=True,
        cwd=classroom.REPO_DIR,
        timeout=120,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "homework.ipynb" in done.stderr and "--force" in done.stderr
    assert snapshot(out_dir) == before


def test_a_file_that_cannot_be_written_is_the_one_named(course, tmp_path):
    """The manifest is written after a failure too; the message must still name the notebook that failed."""
    out_dir = tmp_path / "student"
    first = classroom.build_student_copies(out_dir)[0]
    first.chmod(0o444)  # a copy the teacher locked
    try:
        message = refused(classroom.build_student_copies, out_dir, first, match="Could not write", force=True)
    finally:
        first.chmod(0o644)
    assert first.name in message and output_folder.MANIFEST not in message
