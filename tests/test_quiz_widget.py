"""The quiz widget answered programmatically, and its static fallback."""

from __future__ import annotations

import json

import pytest
import yaml

from course_utils import paths, quiz, quiz_widget
from tests.test_quiz import GOOD


@pytest.fixture
def bank(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    path = tmp_path / "99.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    return quiz.load_bank(path)


def attempts(tmp_path):
    return json.loads((tmp_path / "progress.json").read_text())["attempts"]


def test_right_and_wrong_answers_give_feedback_and_score(bank, tmp_path):
    w = quiz_widget.QuizWidget(bank)
    assert "0 / 3" in w.score.value
    assert w.answer(0, 1) is False
    assert "Not quite" in w.cards[0].feedback.value and "Because not." in w.cards[0].feedback.value
    assert w.answer(0, 0) is True  # retry
    assert "Right" in w.cards[0].feedback.value and "Because." in w.cards[0].feedback.value
    assert w.answer(1, [0, 1]) is True and w.answer(2, "36.2") is True
    assert "3 / 3" in w.score.value
    assert w.cards[0].attempts == 2
    saved = attempts(tmp_path)
    assert [(a["question_id"], a["correct"]) for a in saved] == [
        ("pick-one", False),
        ("pick-one", True),
        ("pick-some", True),
        ("a-number", True),
    ]


def test_no_answer_is_not_an_attempt(bank, tmp_path):
    w = quiz_widget.QuizWidget(bank)
    assert w.cards[0].check() is False
    assert "Pick an answer" in w.cards[0].feedback.value and w.cards[0].attempts == 0
    assert not (tmp_path / "progress.json").exists()


def test_numeric_wrong_answer_hides_the_explanation(bank):
    w = quiz_widget.QuizWidget(bank)
    assert w.answer(2, "40") is False
    assert "73 - 37" not in w.cards[2].feedback.value


def test_static_fallback_has_every_question_and_collapsed_answers(bank):
    html = quiz_widget.static_html(bank)
    assert html.count("<details>") == 3 and "Which ones?" in html and "A, B" in html and "36" in html
    text = quiz_widget.static_text(bank)
    assert text.index("How many?") < text.index("Answers") and "1. A" in text


def test_the_widget_carries_its_static_fallback(bank):
    bundle = quiz_widget.QuizWidget(bank)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"] == quiz_widget.static_html(bank)
    assert bundle["text/plain"] == quiz_widget.static_text(bank)


def test_show_quiz_displays_a_good_bank(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(quiz, "QUIZ_DIR", tmp_path)
    monkeypatch.setattr(quiz_widget, "display", shown.append)
    (tmp_path / "99.yaml").write_text(yaml.safe_dump(GOOD))
    quiz_widget.show_quiz("99")
    assert len(shown) == 1 and isinstance(shown[0], quiz_widget.QuizWidget) and shown[0].bank.notebook == "99"


def test_show_quiz_reports_a_bad_bank_instead_of_raising(tmp_path, monkeypatch, capsys):
    shown = []
    monkeypatch.setattr(quiz, "QUIZ_DIR", tmp_path)
    monkeypatch.setattr(quiz_widget, "display", shown.append)
    bad = tmp_path / "99.yaml"
    bad.write_text(yaml.safe_dump(GOOD).replace("prompt: Which one?", "prompt: 0.35"))
    assert quiz_widget.show_quiz("99") is None and shown == []
    out = capsys.readouterr().out.splitlines()
    assert "cannot be shown" in out[0] and "1 problem" in out[0]
    assert out[1].startswith(f"{bad}: question 'pick-one': 'prompt' must be text: quote it (\"0.35\")")
    assert "python -m course_utils.quiz validate" in out[2] and len(out) == 3
    quiz_widget.show_quiz("42")  # no bank at all: one line too, no traceback
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"{tmp_path / '42.yaml'}: unreadable file (No such file or directory)"


def test_every_shipped_bank_builds_a_widget(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    for path in sorted(quiz.QUIZ_DIR.glob("*.yaml")):
        bank = quiz.load_bank(path)
        widget = quiz_widget.QuizWidget(bank)
        assert len(widget.cards) == len(bank.questions)
        assert quiz_widget.static_html(bank).count("<details>") == len(bank.questions)


def test_a_progress_file_that_cannot_be_saved_is_said_in_the_feedback(bank, tmp_path, monkeypatch):
    """A button's prints would land in JupyterLab's log console: the learner sees the warning under the answer."""
    locked_file = tmp_path / "read-only.json"
    locked_file.write_text('{"version": 1, "attempts": []}')
    locked_file.chmod(0o444)
    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(locked_file))
    w = quiz_widget.QuizWidget(bank)
    assert w.answer(0, 0) is True
    feedback = w.cards[0].feedback.value
    assert "Right" in feedback and "Could not save quiz progress" in feedback and "read-only" in feedback
    assert w.answer(0, 1) is False  # later attempts still work, kept in memory, and the learner is reminded
    assert "2 of your answers are kept in memory only" in w.cards[0].feedback.value
    assert locked_file.read_text() == '{"version": 1, "attempts": []}'


@pytest.mark.parametrize("path", sorted(quiz.QUIZ_DIR.glob("[0-9][0-9].yaml")), ids=lambda p: p.stem)
def test_each_notebook_shows_its_bank_as_it_stands(path):
    """A bank edited after its notebook ran leaves a stale quiz in the stored outputs: re-run the quiz cell."""
    notebook = next(paths.REPO_DIR.glob(f"notebooks/{path.stem}_*.ipynb"))
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    (cell,) = [c for c in cells if c["cell_type"] == "code" and f'show_quiz("{path.stem}")' in "".join(c["source"])]
    bank = quiz.load_bank(path)
    (shown,) = [o["data"] for o in cell["outputs"] if "text/html" in o.get("data", {})]
    stale = f"{notebook.name}'s quiz output differs from {path.name}: run its show_quiz cell again."
    assert "".join(shown["text/html"]) == quiz_widget.static_html(bank), stale
    assert "".join(shown["text/plain"]) == quiz_widget.static_text(bank), stale
