"""Nothing a learner or teacher writes is ever lost: bad input to quiz progress and to its CSV export.

Each test feeds one kind of bad input and checks the one-line message, the exit code, that no traceback reaches
the terminal, and that every file that was not the output kept its bytes.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import progress, progress_export, safe_files
from course_utils.progress_export import ExportError

STAMP = "2024-05-01T09:30:00.000+00:00"


def attempt(**fields: object) -> dict:
    """A valid stored attempt, with `fields` replaced."""
    return {
        "learner": "ada",
        "notebook": "01",
        "question_id": "q1",
        "correct": True,
        "response": 1,
        "timestamp": STAMP,
        **fields,
    }


def progress_file(path: Path, *attempts: dict) -> Path:
    path.write_text(json.dumps({"version": 1, "attempts": list(attempts)}), encoding="utf-8")
    return path


def rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def export(*args: str) -> int:
    return progress.main(["export", *args])


@pytest.fixture(autouse=True)
def fresh_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Your own progress file in tmp_path, and no answers or warnings left over from another test."""
    monkeypatch.setattr(progress, "_UNSAVED", {})
    monkeypatch.setattr(progress, "_WARNED", set())
    monkeypatch.setenv("COURSE_LEARNER", "ada")
    own = tmp_path / "own" / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(own))
    return own


@pytest.fixture
def learners(tmp_path: Path) -> tuple[Path, Path]:
    """Two learners' collected progress files: ada with one attempt, bob with two."""
    ada = progress_file(tmp_path / "ada.json", attempt())
    bob = progress_file(tmp_path / "bob.json", attempt(learner="bob"), attempt(learner="bob", question_id="q2"))
    return ada, bob


def symlink(link: Path, target: Path) -> None:
    """Make `link` point to `target`, or skip where symbolic links are not allowed (Windows without rights)."""
    try:
        link.symlink_to(target)
    except OSError:
        pytest.skip("symbolic links are not available here")


def one_line_error(capsys: pytest.CaptureFixture, *words: str) -> str:
    """The single line on stderr; it holds every one of `words` and no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, (word, err)
    return err


# --- the export's output: refused whenever it could destroy something ------------------------------------------


def test_forgotten_output_in_export_star_json_overwrites_nothing(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ada, bob = learners
    before = {p: p.read_bytes() for p in (ada, bob)}
    assert export(str(ada), str(bob)) == 2  # what `export *.json` expands to
    one_line_error(capsys, str(ada), ".csv", "export results.csv", "nothing was written")
    assert {p: p.read_bytes() for p in (ada, bob)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.json", "bob.json"]


def test_output_suffix_is_case_insensitive(learners: tuple[Path, Path], tmp_path: Path) -> None:
    assert export(str(tmp_path / "CLASS.CSV"), *map(str, learners)) == 0
    assert len(rows(tmp_path / "CLASS.CSV")) == 3


@pytest.mark.parametrize("link", ["same-path", "symlink", "hard-link"])
def test_output_that_is_an_input_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture, link: str
) -> None:
    source = progress_file(tmp_path / "ada.csv", attempt())  # a progress file that was given a .csv name
    before = source.read_bytes()
    out = tmp_path / "results.csv"
    if link == "same-path":
        out = tmp_path / "." / "ada.csv"
    elif link == "symlink":
        symlink(out, source)
    else:
        os.link(source, out)
    assert export(str(out), str(source), "--force") == 2
    one_line_error(capsys, str(out), "is being read", "choose a new name")
    assert source.read_bytes() == before


def test_output_that_is_your_own_progress_file_is_refused(
    learners: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    own = progress_file(tmp_path / "mine.csv", attempt(learner="teacher"))
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(own))
    before = own.read_bytes()
    assert export(str(own), *map(str, learners), "--force") == 2
    one_line_error(capsys, str(own), "your own quiz progress file")
    assert export(str(own)) == 2  # the one-argument form: export your own progress
    one_line_error(capsys, str(own), "is being read")
    with pytest.raises(ExportError, match="being read"):
        progress.export_csv(own, force=True)
    assert own.read_bytes() == before


def test_existing_output_is_replaced_only_with_force(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results.csv"
    out.write_text("last week's results\n")
    assert export(str(out), *map(str, learners)) == 2
    one_line_error(capsys, str(out), "already exists", "--force")
    assert out.read_text() == "last week's results\n"
    assert export(str(out)) == 2  # the one-argument form too
    one_line_error(capsys, "already exists")
    with pytest.raises(ExportError, match="already exists"):
        progress.export_csv(out)
    assert out.read_text() == "last week's results\n"
    assert export(str(out), *map(str, learners), "--force") == 0
    assert len(rows(out)) == 3


def test_output_that_is_a_folder_is_refused(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    folder = tmp_path / "results.csv"
    folder.mkdir()
    assert export(str(folder), *map(str, learners), "--force") == 2
    one_line_error(capsys, str(folder), "is a folder", "results.csv")
    assert list(folder.iterdir()) == []


def test_output_in_a_missing_folder_is_refused(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "no-such-folder" / "results.csv"
    assert export(str(out), *map(str, learners)) == 2
    one_line_error(capsys, "no-such-folder", "does not exist", "create it")
    assert not out.parent.exists()
    with pytest.raises(ExportError, match="does not exist"):
        progress.export_csv(out)


@pytest.mark.parametrize("name", ["ada.json", "results.csv.bak", "results", ".csv"])
def test_export_csv_refuses_a_name_without_csv(tmp_path: Path, name: str) -> None:
    with pytest.raises(ExportError, match=r"must end in \.csv"):
        progress.export_csv(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_output_whole_and_no_temp_file(
    learners: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results.csv"
    out.write_text("old\n")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safe_files.os, "replace", full_disk)
    assert export(str(out), *map(str, learners), "--force") == 2
    one_line_error(capsys, str(out), "No space left on device", "nothing was written")
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ada.json", "bob.json", "results.csv"]


def test_read_only_output_is_not_replaced_even_with_force(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "results.csv"
    out.write_text("handed in\n")
    out.chmod(0o444)
    assert export(str(out), *map(str, learners), "--force") == 2
    one_line_error(capsys, str(out), "read-only")
    assert out.read_text() == "handed in\n"


@pytest.mark.parametrize(
    "args", [[], ["export"], ["export", "--force"], ["export", "out.csv", "--overwrite"], ["show", "extra"], ["import"]]
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture) -> None:
    assert progress.main(args) == 2
    one_line_error(capsys, "usage:", "export OUT.csv")


# --- the export's inputs: read once, never modified, bad ones skipped by name ----------------------------------


def test_the_same_file_given_twice_is_read_once(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ada, bob = learners
    alias = tmp_path / "ada-link.json"
    symlink(alias, ada)
    out = tmp_path / "results.csv"
    assert export(str(out), str(ada), str(bob), str(tmp_path / "." / "ada.json"), str(alias)) == 0
    captured = capsys.readouterr()
    assert captured.err.count("read once") == 2 and "Traceback" not in captured.err
    assert f"{alias} is the same file as {ada}: it was read once" in captured.err
    assert f"{ada} was given twice: it was read once" in captured.err  # tmp_path / "." / "ada.json" is ada
    assert "3 attempts from 2 of 2 files" in captured.out
    assert [(r["learner"], r["question_id"]) for r in rows(out)] == [("ada", "q1"), ("bob", "q1"), ("bob", "q2")]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (attempt(notebook="1"), ["attempt #2", "'notebook'", "two digits"]),
        (attempt(notebook="01\n"), ["attempt #2", "'notebook'", "two digits"]),
        (attempt(notebook="\u0660\u0661"), ["attempt #2", "'notebook'"]),  # Arabic-Indic digits are not "01"
        (attempt(notebook="=1+1"), ["attempt #2", "'notebook'"]),
        (attempt(timestamp="yesterday"), ["attempt #2", "'timestamp'", "ISO-8601"]),
        (attempt(timestamp="=NOW()"), ["attempt #2", "'timestamp'", "ISO-8601"]),
        (attempt(timestamp="2024-13-01T00:00:00"), ["attempt #2", "'timestamp'"]),
        (attempt(correct="yes"), ["attempt #2", "'correct'", "true/false"]),
        ({"learner": "eve"}, ["attempt #2", "'notebook'", "missing"]),
        ("just text", ["attempt #2", "not an object"]),
    ],
    ids=[
        "one-digit-notebook",
        "notebook-newline",
        "notebook-other-digits",
        "notebook-formula",
        "timestamp-word",
        "timestamp-formula",
        "timestamp-month-13",
        "correct-text",
        "missing-fields",
        "not-an-object",
    ],
)
def test_input_with_a_bad_attempt_is_skipped_by_file_attempt_and_field(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, bad: object, words: list[str]
) -> None:
    eve = progress_file(tmp_path / "eve.json", attempt(learner="eve"), bad)
    before = eve.read_bytes()
    out = tmp_path / "results.csv"
    assert export(str(out), *map(str, learners), str(eve)) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and len(captured.err.splitlines()) == 1
    assert captured.err.startswith(f"Skipped {eve}: ") and "leave it out" in captured.err
    for word in words:
        assert word in captured.err
    assert "3 attempts from 2 of 3 files" in captured.out
    assert {r["learner"] for r in rows(out)} == {"ada", "bob"}  # the good files are all there
    assert eve.read_bytes() == before


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"version": 1, "attempts": ' + b"[" * 100_000, ["nested too deeply"]),
        (b'{"version": 1, "attempts": [' + b"7" * 5000 + b"]}", ["not valid JSON"]),  # too long for Python's int
        (b"\xff\xfe{", ["not valid JSON"]),
        (b"", ["not valid JSON"]),
        (b'{"version": 2, "attempts": []}', ['"version": 1']),
    ],
    ids=["deeply-nested", "huge-integer", "not-utf8", "empty", "other-version"],
)
def test_corrupt_input_is_skipped_and_left_untouched(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, content: bytes, words: list[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_bytes(content)
    out = tmp_path / "results.csv"
    assert export(str(out), str(broken), *map(str, learners)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and f"Skipped {broken}" in err
    for word in words:
        assert word in err
    assert broken.read_bytes() == content
    assert list(tmp_path.glob("broken.json.corrupt-*")) == []
    assert len(rows(out)) == 3


def test_missing_input_and_folder_input_are_skipped(
    learners: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "folder.json").mkdir()
    out = tmp_path / "results.csv"
    assert export(str(out), str(tmp_path / "gone.json"), str(tmp_path / "folder.json"), *map(str, learners)) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.splitlines()) == 2
    assert "gone.json: no such file" in err and "folder.json: not a file" in err


def test_a_file_name_with_a_newline_is_reported_on_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    odd = tmp_path / "eve\nnotes.json"
    odd.write_text("{")
    assert export(str(tmp_path / "results.csv"), str(odd)) == 2  # nothing could be read: nothing written
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 2 and "eve\\nnotes.json" in err.splitlines()[0]
    assert not (tmp_path / "results.csv").exists()


def test_invalid_unicode_in_an_input_is_exported_as_visible_escapes(tmp_path: Path) -> None:
    eve = tmp_path / "eve.json"  # JSON may spell a lone surrogate as an escape: the decoded text can't be UTF-8
    eve.write_text(
        '{"version": 1, "attempts": [{"learner": "eve\\udcff", "notebook": "01", "question_id": "q",'
        f' "correct": false, "response": "x\\ud800", "timestamp": "{STAMP}"}}]}}'
    )
    before = eve.read_bytes()
    out = tmp_path / "results.csv"
    assert export(str(out), str(eve)) == 0
    (row,) = rows(out)
    assert row["learner"] == "eve\\udcff" and json.loads(row["response"]) == "x\\ud800"
    assert eve.read_bytes() == before


# --- CSV injection: no cell may start a spreadsheet formula ----------------------------------------------------


def test_every_cell_that_could_start_a_formula_is_neutralised(tmp_path: Path) -> None:
    attacks = [
        attempt(learner='=HYPERLINK("http://x","ok")', question_id="@SUM(A1:A9)", response=-1),
        attempt(learner="+cmd|' /C calc'!A0", question_id="-2+3", response={"=": 1}),
        attempt(learner="\tada", question_id="\rq", response="=1+1"),
        attempt(learner="ada", question_id="q=1", response=[-1]),
    ]
    eve = progress_file(tmp_path / "eve.json", *attacks)
    out = tmp_path / "results.csv"
    assert export(str(out), str(eve)) == 0
    with open(out, newline="", encoding="utf-8") as f:
        cells = list(csv.reader(f))[1:]
    assert [c[0] for c in cells] == ['\'=HYPERLINK("http://x","ok")', "'+cmd|' /C calc'!A0", "'\tada", "ada"]
    assert [c[2] for c in cells] == ["'@SUM(A1:A9)", "'-2+3", "'\rq", "q=1"]
    assert [c[4] for c in cells] == ["'-1", '{"=": 1}', '"=1+1"', "[-1]"]
    for row in cells:
        assert not any(cell.startswith(progress_export.FORMULA_START) for cell in row)


def test_your_own_export_is_neutralised_too(tmp_path: Path) -> None:
    progress.record_attempt("02", "-q", True, response=-3, learner="@ada")
    out = tmp_path / "mine.csv"
    assert export(str(out)) == 0
    (row,) = rows(out)
    assert (row["learner"], row["question_id"], row["response"]) == ("'@ada", "'-q", "'-3")


# --- your own progress file: bad content is backed up, bad answers never block the next ones -------------------


@pytest.mark.parametrize(
    ("bad", "field"),
    [(attempt(notebook="1"), "notebook"), (attempt(timestamp="soon"), "timestamp")],
)
def test_own_file_with_a_bad_field_is_backed_up_and_reset(
    fresh_state: Path, capsys: pytest.CaptureFixture, bad: dict, field: str
) -> None:
    fresh_state.parent.mkdir()
    content = progress_file(fresh_state, attempt(), bad).read_bytes()
    progress.record_attempt("01", "q", True)
    (backup,) = fresh_state.parent.glob("progress.json.corrupt-*")
    assert backup.read_bytes() == content
    out = capsys.readouterr().out
    assert out.count("could not be read") == 1 and f"attempt #2: field '{field}'" in out and str(backup) in out
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["q"]


def test_deeply_nested_own_file_is_backed_up_and_reset(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    fresh_state.parent.mkdir()
    content = b'{"version": 1, "attempts": ' + b"[" * 100_000
    fresh_state.write_bytes(content)
    assert progress.load_progress()["attempts"] == []
    (backup,) = fresh_state.parent.glob("progress.json.corrupt-*")
    assert backup.read_bytes() == content
    out = capsys.readouterr().out
    assert "could not be read (not valid JSON: nested too deeply)" in out and "fresh one was started" in out
    progress.record_attempt("01", "q", True)
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["q"]


def test_huge_but_valid_own_file_is_kept(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    fresh_state.parent.mkdir()
    nested: object = 1
    for _ in range(50):
        nested = [nested]
    many = [attempt(question_id=f"q{i}", response="x" * 100) for i in range(20_000)]
    many.append(attempt(question_id="long", response="y" * 1_000_000))
    many.append(attempt(question_id="nested", response=nested))
    progress_file(fresh_state, *many)
    progress.record_attempt("01", "new", True)
    attempts = progress.load_progress()["attempts"]
    assert len(attempts) == 20_003 and attempts[-1]["question_id"] == "new"
    assert attempts[-2]["response"] == nested and len(attempts[-3]["response"]) == 1_000_000
    assert list(fresh_state.parent.glob("progress.json.corrupt-*")) == []
    assert capsys.readouterr().out == ""


def test_invalid_unicode_in_an_answer_is_saved_as_visible_escapes(
    fresh_state: Path, capsys: pytest.CaptureFixture
) -> None:
    progress.record_attempt("01", "q\udcff", True, response="caf\udce9", learner="ada\udcff")
    progress.record_attempt("01", "raw", False, response=b"\xff\x00ok")
    progress.record_attempt("01", "nested", True, response={b"k\xff": ["v\ud800", {1, 2}]})
    progress.record_attempt("01", "after", True)
    saved = json.loads(fresh_state.read_text(encoding="utf-8"))["attempts"]
    assert [a["question_id"] for a in saved] == ["q\\udcff", "raw", "nested", "after"]
    assert saved[0]["learner"] == "ada\\udcff" and saved[0]["response"] == "caf\\udce9"
    assert saved[1]["response"] == "\\xff\x00ok"
    assert saved[2]["response"] == {"k\\xff": ["v\\ud800", [1, 2]]}
    assert capsys.readouterr().out == ""
    assert progress._UNSAVED[fresh_state] == []


def test_a_learner_name_from_invalid_os_bytes_is_saved(fresh_state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_LEARNER", os.fsdecode(b"ren\xe9e"))  # Latin-1 bytes in a UTF-8 environment
    progress.record_attempt("03", "q", True)
    (saved,) = json.loads(fresh_state.read_text(encoding="utf-8"))["attempts"]
    assert saved["learner"] == "ren\\udce9e"


def test_deeply_nested_or_cyclic_answer_is_saved_as_text(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    deep: list = []
    inner = deep
    for _ in range(100_000):
        inner.append([])
        inner = inner[0]
    cycle: list = [1]
    cycle.append(cycle)
    progress.record_attempt("01", "deep", True, response=deep)
    progress.record_attempt("01", "cycle", True, response=cycle)
    saved = progress.load_progress()["attempts"]
    assert [a["question_id"] for a in saved] == ["deep", "cycle"]
    text = json.dumps(saved[0]["response"])
    assert text.startswith("[[[[") and '"' in text  # the outer levels as lists, the rest as text
    assert capsys.readouterr().out == ""


def test_held_answers_are_saved_with_the_next_and_a_huge_number_is_kept_as_text(
    fresh_state: Path, capsys: pytest.CaptureFixture
) -> None:
    blocker = fresh_state.parent
    blocker.write_text("a file where the folder should be")  # the first answer is held in memory
    progress.record_attempt("01", "held", True)
    assert "Could not save quiz progress" in capsys.readouterr().out
    blocker.unlink()
    progress.record_attempt("01", "huge", True, response=10**5000)  # too long for Python to write as text
    assert capsys.readouterr().out == ""
    progress.record_attempt("01", "after", False)
    saved = json.loads(fresh_state.read_text())["attempts"]
    assert [a["question_id"] for a in saved] == ["held", "huge", "after"]
    assert saved[1]["correct"] is True and saved[1]["response"] == "an integer of over 4000 digits"
    assert progress._UNSAVED[fresh_state] == []


class Ambiguous:
    """A value whose truth cannot be decided, like a NumPy array of several booleans."""

    def __bool__(self) -> bool:
        raise ValueError("the truth value of an array with more than one element is ambiguous")


def test_odd_values_never_stop_recording(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    progress.record_attempt("01", "ambiguous", Ambiguous())
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "'ambiguous'" in out and "ambiguous" in out.split("not saved")[1]
    progress.record_attempt("01", "big-key", True, response={10**5000: "x", "k": {10**5000 + 1}})
    progress.record_attempt(1, 10**5000, True, response={10**5000: "x"})  # as a key it becomes text
    progress.record_attempt("01", "after", True)
    saved = json.loads(fresh_state.read_text())["attempts"]
    assert [a["question_id"] for a in saved] == ["big-key", "<int that cannot be shown as text>", "after"]
    assert saved[0]["response"]["k"] == ["an integer of over 4000 digits"]
    assert saved[1]["notebook"] == "01" and saved[1]["response"] == {"<int that cannot be shown as text>": "x"}
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("notebook", ["intro", "123", "", "1\n"])
def test_attempt_with_a_bad_notebook_id_is_not_saved_and_the_file_stays_readable(
    fresh_state: Path, capsys: pytest.CaptureFixture, notebook: str
) -> None:
    progress.record_attempt(notebook, "q", True)
    assert "not two digits" in capsys.readouterr().out
    progress.record_attempt(7, "q", True)  # a notebook number is written as two digits
    assert [a["notebook"] for a in progress.load_progress()["attempts"]] == ["07"]
    assert list(fresh_state.parent.glob("progress.json.corrupt-*")) == []


def test_any_failure_to_save_keeps_answers_in_memory(
    fresh_state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    real_write = progress.write_json

    def broken_write(path: Path, data: object) -> None:
        raise TypeError("Object of type Widget is not JSON serializable")

    monkeypatch.setattr(progress, "write_json", broken_write)
    progress.record_attempt("01", "a", True)
    progress.record_attempt("01", "b", True)
    out = capsys.readouterr().out
    assert out.count("Could not save quiz progress") == 1 and "TypeError" in out and "this session only" in out
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["a", "b"]
    monkeypatch.setattr(progress, "write_json", real_write)
    progress.record_attempt("01", "c", True)
    assert [a["question_id"] for a in json.loads(fresh_state.read_text())["attempts"]] == ["a", "b", "c"]


# --- a read-only progress file is never replaced --------------------------------------------------------------


def test_read_only_own_file_is_read_but_not_replaced(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    fresh_state.parent.mkdir()
    content = progress_file(fresh_state, attempt(question_id="handed-in")).read_bytes()
    fresh_state.chmod(0o444)  # as root, os.access says writable: the mode bits say otherwise
    assert safe_files.is_read_only(fresh_state)
    progress.record_attempt("01", "a", True)
    progress.record_attempt("01", "b", True)
    out = capsys.readouterr().out
    assert out.count("Could not save quiz progress") == 1 and "read-only" in out and "this session only" in out
    assert fresh_state.read_bytes() == content
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["handed-in", "a", "b"]
    assert sorted(p.name for p in fresh_state.parent.iterdir()) == ["progress.json", "progress.json.lock"]


def test_corrupt_read_only_own_file_is_reported_but_not_moved(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    fresh_state.parent.mkdir()
    fresh_state.write_bytes(b"{half a file")
    fresh_state.chmod(0o444)
    progress.record_attempt("01", "a", True)
    assert progress.load_progress()["attempts"][0]["question_id"] == "a"
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1 and "could not be read" in out and "left as it is" in out
    assert fresh_state.read_bytes() == b"{half a file"
    assert list(fresh_state.parent.glob("progress.json.corrupt-*")) == []
    with pytest.raises(ExportError, match="Could not read the progress file"):
        progress.export_csv(fresh_state.parent / "mine.csv")
    assert fresh_state.read_bytes() == b"{half a file" and not (fresh_state.parent / "mine.csv").exists()


def test_exporting_a_corrupt_own_file_never_moves_it(fresh_state: Path, capsys: pytest.CaptureFixture) -> None:
    fresh_state.parent.mkdir()
    fresh_state.write_bytes(b"[1, 2]")
    out = fresh_state.parent / "mine.csv"
    assert export(str(out)) == 2
    one_line_error(capsys, str(fresh_state), "nothing was written")
    assert fresh_state.read_bytes() == b"[1, 2]" and not out.exists()
    assert list(fresh_state.parent.glob("progress.json.corrupt-*")) == []


# --- the real command line --------------------------------------------------------------------------------------


def test_command_line_refusals_reach_the_terminal_without_a_traceback(
    learners: tuple[Path, Path], tmp_path: Path
) -> None:
    ada, bob = learners
    before = ada.read_bytes()
    env = {**os.environ, "COURSE_PROGRESS_FILE": str(tmp_path / "own" / "progress.json")}
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-m", "course_utils.progress", "export"]
    forgot = subprocess.run([*command, str(ada), str(bob)], capture_output=True, env=env, cwd=root, timeout=60)
    assert forgot.returncode == 2 and forgot.stdout == b""
    assert b"Traceback" not in forgot.stderr and len(forgot.stderr.splitlines()) == 1
    assert b"must end in .csv" in forgot.stderr and ada.read_bytes() == before
    if os.name != "posix":
        return
    odd = os.fsencode(tmp_path) + b"/r\xe9sultats.json"  # an undecodable file name, as a shell may pass it
    skipped = subprocess.run(
        [*command, str(tmp_path / "out.csv"), odd, str(bob)], capture_output=True, env=env, cwd=root, timeout=60
    )
    assert skipped.returncode == 1 and b"Traceback" not in skipped.stderr
    assert b"no such file" in skipped.stderr and b"2 attempts from 1 of 2 files" in skipped.stdout


def test_force_never_replaces_a_csv_with_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A mistyped pattern (no file read) or a mistyped COURSE_PROGRESS_FILE keeps last week's CSV."""
    out = tmp_path / "class.csv"
    out.write_text("last week's results\n")
    assert export(str(out), str(tmp_path / "collected" / "*.jsn"), "--force") == 2
    assert "nothing was written" in capsys.readouterr().err
    assert export(str(out), "--force") == 2  # your own progress file does not exist
    err = capsys.readouterr().err
    assert "no progress file" in err and "Traceback" not in err
    assert out.read_text() == "last week's results\n"
