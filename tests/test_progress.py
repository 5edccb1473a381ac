"""Quiz progress file: records, summaries, atomic and locked writes, corrupt files, CSV export, dashboard."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
from datetime import datetime, timedelta
from pathlib import Path

import matplotlib
import pytest

from course_utils import progress, progress_export, quiz

matplotlib.use("Agg")

BANK = """\
notebook: "01"
title: Test bank
questions:
  - id: {qid}
    section: A > B
    type: single
    prompt: Which?
    options:
      - {{text: Right, correct: true, explanation: "yes"}}
      - {{text: Wrong, correct: false, explanation: "no"}}
"""


@pytest.fixture
def pfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data" / "progress.json"
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(path))
    monkeypatch.setenv("COURSE_LEARNER", "ada")
    return path


def test_path_comes_from_env_var_else_user_data_dir(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress.progress_path() == pfile
    monkeypatch.delenv("COURSE_PROGRESS_FILE")
    default = progress.progress_path()
    assert default.name == "progress.json" and progress.APP_NAME in default.parts


def test_record_and_reload(pfile: Path) -> None:
    progress.record_attempt("01", "definition", True, response=2)
    progress.record_attempt("01", "pick-two", False, response={3, 1}, learner="bob")
    data = json.loads(pfile.read_text())
    assert data["version"] == 1 and len(data["attempts"]) == 2
    first, second = progress.load_progress()["attempts"]
    assert (first["learner"], first["notebook"], first["question_id"]) == ("ada", "01", "definition")
    assert first["correct"] is True
    assert first["response"] == 2
    assert second["learner"] == "bob" and second["correct"] is False and second["response"] == [1, 3]
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() == timedelta(0)
    assert abs(datetime.now(stamp.tzinfo) - stamp) < timedelta(minutes=1)


def test_learner_defaults_to_os_user(pfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_LEARNER")
    monkeypatch.setattr(progress.getpass, "getuser", lambda: "os-user")
    progress.record_attempt("02", "q", True)
    assert progress.load_progress()["attempts"][0]["learner"] == "os-user"


def test_summary_counts_the_latest_attempt(pfile: Path) -> None:
    history = [("a", False), ("a", True), ("b", False), ("b", True), ("c", True), ("c", False), ("gone", True)]
    for qid, correct in history:
        progress.record_attempt("03", qid, correct)
    progress.record_attempt("04", "d", True)  # another notebook: ignored
    summary = progress.notebook_summary("03", ["a", "b", "c", "d"])
    assert summary["answered"] == 3  # d never tried in 03; "gone" is not in the bank
    assert summary["correct"] == 2  # a and b were fixed, c was broken on the latest attempt
    assert summary["attempts"] == 6
    assert summary["score"] == pytest.approx(0.5)
    assert progress.notebook_summary("05", [])["score"] == 0.0


def test_write_is_atomic(pfile: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for i in range(3):
        progress.record_attempt("01", f"q{i}", True)
    assert sorted(p.name for p in pfile.parent.iterdir()) == ["progress.json", "progress.json.lock"]
    before = pfile.read_bytes()
    calls = []
    monkeypatch.setattr(progress.os, "fsync", lambda fd: calls.append("fsync"))

    def failing_replace(src: str, dst: str) -> None:
        calls.append("replace")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(progress.os, "replace", failing_replace)
    progress.record_attempt("01", "q3", True)
    assert calls == ["fsync", "replace"]  # data reaches the disk before the rename
    assert pfile.read_bytes() == before  # a failed write leaves the old file whole...
    assert sorted(p.name for p in pfile.parent.iterdir()) == ["progress.json", "progress.json.lock"]  # ...no temp
    assert "No space left on device" in capsys.readouterr().out
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["q0", "q1", "q2", "q3"]


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"version": 1, "attempts": {"a": 1}}',
        b'{"version": 99, "attempts": []}',
        b'{"version": 1, "attempts": [{"notebook": "01"}]}',
    ],
    ids=["invalid-json", "not-utf8", "list", "attempts-not-list", "unknown-version", "attempt-missing-fields"],
)
def test_corrupt_file_is_backed_up_and_reset(pfile: Path, capsys: pytest.CaptureFixture, content: bytes) -> None:
    pfile.parent.mkdir(parents=True)
    pfile.write_bytes(content)
    progress.record_attempt("01", "q", True)
    backups = list(pfile.parent.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == content
    out = capsys.readouterr().out
    assert out.count("could not be read") == 1 and str(backups[0]) in out
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["q"]
    assert json.loads(pfile.read_text())["version"] == 1
    assert capsys.readouterr().out == ""  # the reset file reads cleanly


def test_loading_a_corrupt_file_backs_it_up_too(pfile: Path, capsys: pytest.CaptureFixture) -> None:
    pfile.parent.mkdir(parents=True)
    pfile.write_text("{")
    assert progress.load_progress()["attempts"] == []
    assert len(list(pfile.parent.glob("progress.json.corrupt-*"))) == 1
    assert "moved to" in capsys.readouterr().out


def test_unwritable_location_keeps_answers_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")  # blocks even for root, unlike chmod
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(blocker / "progress.json"))
    progress.record_attempt("01", "a", True)
    progress.record_attempt("01", "b", False)
    out = capsys.readouterr().out
    assert out.count("Could not save quiz progress") == 1 and "this session only" in out
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["a", "b"]
    blocker.unlink()  # the location becomes writable: the held answers are saved with the next one
    progress.record_attempt("01", "c", True)
    saved = json.loads((blocker / "progress.json").read_text())["attempts"]
    assert [a["question_id"] for a in saved] == ["a", "b", "c"]
    assert [a["question_id"] for a in progress.load_progress()["attempts"]] == ["a", "b", "c"]


def _record_many(path: str, worker: int, n: int) -> None:
    os.environ["COURSE_PROGRESS_FILE"] = path
    for i in range(n):
        progress.record_attempt("01", f"w{worker}-q{i}", i % 2 == 0, learner=f"worker{worker}")


def test_concurrent_writers_lose_nothing(pfile: Path, capsys: pytest.CaptureFixture) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_record_many, args=(str(pfile), w, 50)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=60)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    attempts = progress.load_progress()["attempts"]
    assert len(attempts) == 200
    assert len({a["question_id"] for a in attempts}) == 200
    assert "could not be read" not in capsys.readouterr().out


def test_export_csv_round_trip(pfile: Path, tmp_path: Path) -> None:
    progress.record_attempt("01", "definition", True, response=2)
    progress.record_attempt("02", "pick", False, response={1, 0})
    progress.record_attempt("02", "gain", True, response="0,35")
    out = tmp_path / "out.csv"
    assert progress.export_csv(out) == 3
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header, *rows = list(reader)
    assert tuple(header) == progress_export.CSV_COLUMNS
    assert len(rows) == 3
    first = dict(zip(header, rows[0], strict=True))
    assert (first["learner"], first["notebook"], first["question_id"]) == ("ada", "01", "definition")
    assert first["correct"] == "true"
    assert json.loads(first["response"]) == 2
    assert json.loads(rows[1][4]) == [0, 1] and rows[1][3] == "false"
    assert json.loads(rows[2][4]) == "0,35"
    assert rows[0][5] == progress.load_progress()["attempts"][0]["timestamp"]


def test_cli_export_merges_learners(
    pfile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    files = {"ada": tmp_path / "ada.json", "bob": tmp_path / "bob.json"}
    for learner, path in files.items():
        monkeypatch.setenv("COURSE_PROGRESS_FILE", str(path))
        progress.record_attempt("01", "q1", True, learner=learner)
        if learner == "bob":
            progress.record_attempt("01", "q2", False, learner=learner)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    out = tmp_path / "class.csv"
    assert progress.main(["export", str(out), str(files["ada"]), str(files["bob"])]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["learner"], r["question_id"]) for r in rows] == [("ada", "q1"), ("bob", "q1"), ("bob", "q2")]
    assert "3 attempts from 2 of 2 files" in capsys.readouterr().out
    missing = tmp_path / "missing.json"
    assert progress.main(["export", str(out), str(files["ada"]), str(broken), str(missing), "--force"]) == 1
    err = capsys.readouterr().err
    assert f"Skipped {broken}: not valid JSON" in err and f"Skipped {missing}: no such file" in err
    assert broken.read_text() == "{"  # a teacher's files are never modified
    with open(out, newline="", encoding="utf-8") as f:
        assert len(list(csv.DictReader(f))) == 1
    assert progress.main([]) == 2


def test_cli_show(pfile: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quiz, "QUIZ_DIR", pfile.parent / "no-banks")
    progress.record_attempt("02", "q", True)
    assert progress.main(["show"]) == 0
    out = capsys.readouterr().out
    assert str(pfile) in out and "1 attempts" in out
    assert any(line.split()[:6] == ["02", "1", "1", "1", "1", "100%"] for line in out.splitlines())


def test_dashboard_without_progress(pfile: Path, capsys: pytest.CaptureFixture) -> None:
    assert progress.dashboard({"01": ["a"]}) is None
    assert "No quiz answers recorded yet" in capsys.readouterr().out


def test_dashboard_draws_scores(pfile: Path, capsys: pytest.CaptureFixture) -> None:
    import matplotlib.pyplot as plt

    progress.record_attempt("01", "a", True)
    progress.record_attempt("01", "b", False)
    progress.record_attempt("03", "x", True)
    fig = progress.dashboard({"01": ["a", "b", "c", "d"], "03": ["x"]})
    ax = fig.axes[0]
    heights = {t.get_text(): bar.get_height() for t, bar in zip(ax.get_xticklabels(), ax.patches, strict=True)}
    assert list(heights) == list(progress.NOTEBOOKS)
    assert heights["01"] == pytest.approx(0.25) and heights["03"] == 1.0 and heights["02"] == 0.0
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    out = capsys.readouterr().out
    assert "25%" in out and "100%" in out
    plt.close(fig)


def test_dashboard_reads_banks_and_skips_broken_ones(
    pfile: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import matplotlib.pyplot as plt

    banks = tmp_path / "quizzes"
    banks.mkdir()
    (banks / "01.yaml").write_text(BANK.format(qid="only"))
    (banks / "02.yaml").write_text("questions: [")
    monkeypatch.setattr(quiz, "QUIZ_DIR", banks)
    progress.record_attempt("01", "only", True)
    progress.record_attempt("02", "seen", False)
    fig = progress.dashboard()
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights[:2] == [1.0, 0.0] and len(heights) == 8
    out = capsys.readouterr().out
    assert "02.yaml could not be read" in out and "01.yaml" not in out  # the valid bank is read, not guessed
    plt.close(fig)
