"""Collecting a class's progress from the hub's homes, and handing the course out to a learner's home.

`python -m course_utils.progress collect HOMES OUT_DIR` copies each learner's ``.course/progress.json`` out of their
home, checked, so that `export` can merge them; the hub's `give_course` copies the notebooks into a learner's home
on each start without ever touching a notebook the learner already has.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from course_utils import progress
from course_utils.progress_export import HOME_PROGRESS, ExportError, collect

REPO = Path(__file__).resolve().parent.parent


def attempt(learner: str, question: str = "q1", correct: bool = True) -> dict:
    return {
        "learner": learner,
        "notebook": "01",
        "question_id": question,
        "correct": correct,
        "response": 1,
        "timestamp": "2024-05-01T09:30:00+00:00",
    }


def save(homes: Path, name: str, attempts: list[dict] | str) -> Path:
    """A learner's progress file in their home, as their kernel writes it (or raw text, to break it)."""
    path = homes / name / HOME_PROGRESS
    path.parent.mkdir(parents=True, exist_ok=True)
    text = attempts if isinstance(attempts, str) else json.dumps({"version": 1, "attempts": attempts})
    path.write_text(text, encoding="utf-8")
    return path


def collected(out: Path, name: str) -> list[dict]:
    return json.loads((out / f"{name}.json").read_text(encoding="utf-8"))["attempts"]


@pytest.fixture
def homes(tmp_path):
    folder = tmp_path / "homes"
    save(folder, "ana", [attempt("ana", correct=False), attempt("ana")])
    save(folder, "ben", [attempt("ben")])
    (folder / "chloe").mkdir()  # signed in, answered nothing yet
    return folder


def test_each_learners_file_is_collected_under_their_name(homes, tmp_path):
    out = tmp_path / "collected"
    done, refused = collect(homes, out)
    assert refused == []
    assert done == ["ana: 2 attempts collected", "ben: 1 attempt collected", "chloe: no answers yet"]
    assert [a["correct"] for a in collected(out, "ana")] == [False, True]
    assert sorted(p.name for p in out.iterdir()) == ["ana.json", "ben.json"]
    assert progress.main(["export", str(tmp_path / "class.csv"), *map(str, sorted(out.iterdir()))]) == 0
    assert len((tmp_path / "class.csv").read_text(encoding="utf-8").splitlines()) == 1 + 3


def test_a_malformed_file_is_refused_with_its_name_and_the_others_collected(homes, tmp_path, capsys):
    save(homes, "ben", '{"version": 1, "attempts": [')
    assert progress.main(["collect", str(homes), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "ben: not collected" in err and "not valid JSON" in err and "fix or remove it" in err
    assert collected(tmp_path / "out", "ana") and not (tmp_path / "out" / "ben.json").exists()


def test_attempts_recorded_for_another_learner_are_refused(homes, tmp_path):
    save(homes, "ben", [attempt("ben"), attempt("ana", question="q9")])
    _, refused = collect(homes, tmp_path / "out")
    assert len(refused) == 1 and "recorded for 'ana', not 'ben'" in refused[0]
    assert not (tmp_path / "out" / "ben.json").exists()


def test_collecting_again_adds_new_answers_but_never_drops_collected_ones(homes, tmp_path):
    out = tmp_path / "out"
    collect(homes, out)
    save(homes, "ana", [attempt("ana", correct=False), attempt("ana"), attempt("ana", question="q2")])
    done, refused = collect(homes, out)
    assert "ana: 3 attempts collected (2 before)" in done and "ben: 1 attempt, unchanged" in done and not refused
    save(homes, "ana", [attempt("ana", question="q2")])  # the learner started their file afresh
    _, refused = collect(homes, out)
    assert len(refused) == 1 and "no longer holds every attempt" in refused[0] and "--force" in refused[0]
    assert len(collected(out, "ana")) == 3
    _, refused = collect(homes, out, force=True)
    assert not refused and len(collected(out, "ana")) == 1


def test_a_collected_copy_that_cannot_be_read_is_kept_unless_forced(homes, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "ana.json").write_text("my notes", encoding="utf-8")
    _, refused = collect(homes, out)
    assert len(refused) == 1 and "cannot be read" in refused[0]
    assert (out / "ana.json").read_text(encoding="utf-8") == "my notes"


@pytest.mark.parametrize("where", ["inside", "missing"])
def test_collect_refuses_a_folder_learners_could_change_or_no_homes(homes, tmp_path, capsys, where):
    args = [str(homes), str(homes / "ana" / "out")] if where == "inside" else [str(tmp_path / "no"), str(tmp_path)]
    assert progress.main(["collect", *args]) == 2
    err = capsys.readouterr().err
    assert ("inside the learners' homes" if where == "inside" else "not a folder of learners' homes") in err
    with pytest.raises(ExportError):
        collect(*args)


def test_collect_without_two_folders_prints_the_usage(capsys):
    assert progress.main(["collect", "homes"]) == 2
    assert "collect HOMES OUT_DIR" in capsys.readouterr().err


def course_hub():
    """hub/course_hub.py, loaded from its file (it is a script beside the hub's config, not a package)."""
    spec = importlib.util.spec_from_file_location("course_hub", REPO / "hub" / "course_hub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_learner_gets_the_notebooks_once_and_keeps_their_edits(tmp_path):
    source, home = tmp_path / "handout", tmp_path / "homes" / "ana"
    source.mkdir()
    for name in ("01_a.ipynb", "02_b.ipynb"):
        (source / name).write_text(f'{{"from": "{name}"}}', encoding="utf-8")
    give = course_hub().give_course
    assert [p.name for p in give(home, source)] == ["01_a.ipynb", "02_b.ipynb"]
    (home / "notebooks" / "01_a.ipynb").write_text("ana's work", encoding="utf-8")
    (home / "notebooks" / "02_b.ipynb").unlink()
    assert [p.name for p in give(home, source)] == ["02_b.ipynb"]  # a deleted notebook comes back
    assert (home / "notebooks" / "01_a.ipynb").read_text(encoding="utf-8") == "ana's work"


def test_a_class_list_with_a_name_that_cannot_be_a_folder_is_refused(tmp_path, monkeypatch):
    hub = course_hub()
    names = tmp_path / "class.txt"
    names.write_text("# class 4B\nAna\nben\n", encoding="utf-8")
    monkeypatch.setenv("COURSE_HUB_LEARNERS", str(names))
    assert hub.learners_allowed() == {"ana", "ben"}
    names.write_text("ana\n../teacher\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="cannot be a learner's name"):
        hub.learners_allowed()


def test_on_a_hub_attempts_are_recorded_for_the_hub_user(tmp_path, monkeypatch):
    """In a Kubernetes hub every learner's system user is `jovyan`: the hub's user name is the learner's."""
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    monkeypatch.delenv("COURSE_LEARNER", raising=False)
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    progress.record_attempt("01", "q1", True, 1)
    monkeypatch.setenv("COURSE_LEARNER", "ana-b")  # set by the teacher: it wins
    progress.record_attempt("01", "q1", True, 1)
    assert [a["learner"] for a in progress.load_progress()["attempts"]] == ["ana", "ana-b"]
