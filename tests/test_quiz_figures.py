"""Every figure a quiz question quotes as the course's measurement is printed by its executed notebook.

A question that quotes figures lists them under `measured` (each must appear in the outputs of the notebook the
bank belongs to, as committed: seed 0), or says `hypothetical: true` and tells the learner in its prompt that its
figures are made up. A decimal figure or a percentage in a prompt or an option that is neither fails the test,
so a number copied from an old run cannot hide in a quiz. Code (fenced or inline) is not scanned: `lr=3e-4`
is a setting, not a result. The quiz cell's own output is left out, since it prints the questions themselves.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from course_utils import quiz

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?%|(?<![\w.])\d+\.\d+(?![\w.]*\d)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.DOTALL)


def figures_in(text: str) -> list[str]:
    """Decimal figures and percentages in markdown text, code left out ("0.66", "12%")."""
    return [f.replace(" ", "") for f in FIGURE.findall(CODE.sub(" ", text))]


def outputs_of(notebook: Path) -> str:
    """The text every code cell printed, except the quiz cell's."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or "show_quiz(" in "".join(cell["source"]):
            continue
        for out in cell.get("outputs", []):
            text = out.get("text") or out.get("data", {}).get("text/plain") or ""
            texts.append("".join(text))
    return "\n".join(texts)


def printed(figure: str, outputs: str) -> bool:
    """Whether `figure` appears in `outputs` as a whole number (0.66 is not found inside 10.665)."""
    return re.search(rf"(?<![\d.]){re.escape(figure)}(?![\d])", outputs) is not None


BANKS = [p.stem for p in sorted(quiz.QUIZ_DIR.glob("[0-9][0-9].yaml"))]


@pytest.mark.parametrize("number", BANKS)
def test_quoted_figures_come_from_the_executed_notebook(number: str) -> None:
    bank = quiz.load_bank(quiz.bank_path(number))
    notebook = next(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    outputs = outputs_of(notebook)
    problems = []
    for q in bank.questions:
        shown = q.prompt + "\n" + "\n".join(o.text for o in q.options)
        everything = shown + "\n" + q.explanation + "\n" + "\n".join(o.explanation for o in q.options)
        for figure in q.measured:
            if not printed(figure, outputs):
                problems.append(f"{q.id}: measured figure {figure} is not in {notebook.name}'s outputs")
            if figure not in everything:
                problems.append(f"{q.id}: measured figure {figure} is not quoted by the question (stale list?)")
        if q.hypothetical and "hypothetical" not in q.prompt.lower():
            problems.append(f"{q.id}: hypothetical: true, but the prompt does not tell the learner so")
        if not q.hypothetical:
            unlisted = sorted(set(figures_in(shown)) - set(q.measured))
            if unlisted:
                problems.append(f"{q.id}: figures {', '.join(unlisted)} are neither `measured` nor hypothetical")
    assert not problems, "\n".join(problems)


def test_figures_in_finds_decimals_and_percentages_outside_code() -> None:
    text = "Accuracy 0.66 (12% better, 3.5 % worse) with `lr=0.001` and\n```python\nx = 0.5\n```\nat 80 steps."
    assert figures_in(text) == ["0.66", "12%", "3.5%"]


def test_printed_matches_whole_figures_only() -> None:
    assert printed("0.66", "accuracy 0.66, chance 0.10")
    assert not printed("0.66", "accuracy 10.665")
    assert not printed("0.6", "accuracy 0.66")
