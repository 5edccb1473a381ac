"""The embedded quiz: ``show_quiz("01")`` at the end of a notebook.

In JupyterLab it is a widget: pick an answer (mouse or keyboard: Tab, arrows, Space, Enter), press
*Check*, read the feedback and the explanation, retry as often as you like; the score updates and every
attempt is saved to your progress file. Where widgets cannot run (nbconvert HTML, GitHub's preview,
a terminal) the same output shows the questions as static HTML or text, answers in collapsed sections.
"""

from __future__ import annotations

import contextlib
import html
import io

import ipywidgets as widgets
import mistune
from IPython.display import display

from course_utils import progress
from course_utils.quiz import LETTERS, Question, QuizBank, QuizBankError, bank_path, load_bank

_OK, _NO = "var(--jp-success-color1, #1a7f37)", "var(--jp-error-color1, #cf222e)"
_BOX = (
    "border:1px solid var(--jp-border-color2, #ccc); border-radius:6px; padding:4px 12px; margin:6px 0;"
    "color:var(--jp-ui-font-color1, inherit); background:var(--jp-layout-color1, transparent)"
)


def _md(text: str) -> str:
    return mistune.html(text).strip()


def _md_inline(text: str) -> str:
    """Markdown without the paragraph wrapper, for text inside a list item."""
    rendered = _md(text)
    if rendered.startswith("<p>") and rendered.endswith("</p>") and rendered.count("<p>") == 1:
        return rendered[3:-4]
    return rendered


def _options_html(q: Question) -> str:
    items = "".join(
        f'<li style="margin:2px 0"><strong>{LETTERS[i]})</strong> {_md_inline(o.text)}</li>'
        for i, o in enumerate(q.options)
    )
    return f'<ul style="list-style:none; padding-left:0.5em">{items}</ul>'


def _answer_text(q: Question) -> str:
    if q.type == "numeric":
        return f"{q.answer:g} (within ±{q.tolerance:g})"
    return ", ".join(LETTERS[i] for i in sorted(q.correct))


def static_html(bank: QuizBank) -> str:
    """The quiz as plain HTML: questions and options, answers and explanations in collapsed sections."""
    parts = [
        f'<div style="{_BOX}"><h3>Quiz · {html.escape(bank.title)}</h3>'
        f"<p><em>{len(bank.questions)} questions. Run this notebook in JupyterLab to answer them "
        "interactively and keep your score.</em></p>"
    ]
    for n, q in enumerate(bank.questions, 1):
        kind = {"single": "one answer", "multiple": "one or more answers", "numeric": "a number"}[q.type]
        parts.append(f"<p><strong>{n}.</strong> <small>({kind})</small></p>{_md(q.prompt)}")
        if q.options:
            parts.append(_options_html(q))
        why = (
            "".join(
                f"<li><strong>{LETTERS[i]}</strong> {'✓' if o.correct else '✗'} {_md_inline(o.explanation)}</li>"
                for i, o in enumerate(q.options)
            )
            or f"<li>{_md(q.explanation)}</li>"
        )
        parts.append(
            f"<details><summary>Answer</summary><p><strong>{_answer_text(q)}</strong></p><ul>{why}</ul></details>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def static_text(bank: QuizBank) -> str:
    """The quiz as plain text (a terminal): questions first, answers at the end."""
    lines = [f"Quiz · {bank.title} ({len(bank.questions)} questions; answers at the end)", ""]
    for n, q in enumerate(bank.questions, 1):
        lines.append(f"{n}. {q.prompt.strip()}")
        lines += [f"   {LETTERS[i]}) {o.text}" for i, o in enumerate(q.options)]
        lines.append("")
    lines.append("Answers")
    lines += [f"{n}. {_answer_text(q)}" for n, q in enumerate(bank.questions, 1)]
    return "\n".join(lines)


class QuestionCard(widgets.VBox):
    """One question: its input, a Check button, and feedback."""

    def __init__(self, bank: QuizBank, n: int, on_check):
        self.bank, self.question, self._on_check = bank, bank.questions[n], on_check
        self.attempts, self.correct = 0, False
        q = self.question
        kind = {"single": "pick one", "multiple": "pick all that apply", "numeric": "type a number"}[q.type]
        prompt = widgets.HTML(
            f"<strong>{n + 1}.</strong> <small>({kind})</small> {_md(q.prompt)}"
            + (_options_html(q) if q.options else "")
        )
        letters = list(LETTERS[: len(q.options)])
        if q.type == "single":
            self.input = widgets.ToggleButtons(
                options=letters, value=None, tooltips=[o.text for o in q.options], style={"button_width": "3em"}
            )
        elif q.type == "multiple":
            self.input = widgets.HBox(
                [widgets.Checkbox(description=letter, indent=False, layout={"width": "4em"}) for letter in letters]
            )
        else:
            self.input = widgets.Text(placeholder="your number", layout={"width": "14em"})
        button = widgets.Button(description="Check", button_style="primary", tooltip="Check your answer")
        button.on_click(lambda _: self.check())
        self.feedback = widgets.HTML()
        super().__init__(
            [prompt, self.input, button, self.feedback],
            layout={"border": "1px solid var(--jp-border-color2, #ccc)", "padding": "4px 10px", "margin": "6px 0"},
        )

    def response(self) -> int | list[int] | str | None:
        """What the learner has selected or typed."""
        if self.question.type == "single":
            return None if self.input.value is None else self.input.index
        if self.question.type == "multiple":
            return [i for i, box in enumerate(self.input.children) if box.value]
        return self.input.value.strip() or None

    def set_response(self, response: int | list[int] | float | str) -> None:
        """Select or type an answer programmatically (tests, demonstrations)."""
        if self.question.type == "single":
            self.input.index = int(response)
        elif self.question.type == "multiple":
            for i, box in enumerate(self.input.children):
                box.value = i in set(response)
        else:
            self.input.value = str(response)

    def check(self) -> bool:
        """Grade the current response, show feedback, record the attempt."""
        q, response = self.question, self.response()
        if response is None or response == []:
            self.feedback.value = "<em>Pick an answer first.</em>"
            return False
        self.attempts += 1
        self.correct = q.is_right(response)
        saving = io.StringIO()  # a button's printed output would go to JupyterLab's log, unseen: show it here
        with contextlib.redirect_stdout(saving):
            progress.record_attempt(self.bank.notebook, q.id, self.correct, response)
        said = saving.getvalue().strip()
        unsaved = len(progress.unsaved_attempts(progress.progress_path()))
        if unsaved and not said:  # said in full once; after that, a reminder under every answer
            said = f"{unsaved} of your answers are kept in memory only: they are not saved to your progress file."
        note = f"<p><small>{html.escape(said)}</small></p>" if said else ""
        self.feedback.value = self._feedback_html(response) + note
        self._on_check()
        return self.correct

    def _feedback_html(self, response) -> str:
        q = self.question
        head = (
            f'<span style="color:{_OK}"><strong>✓ Right.</strong></span>'
            if self.correct
            else f'<span style="color:{_NO}"><strong>✗ Not quite — try again.</strong></span>'
        )
        if q.type == "numeric":
            body = _md(q.explanation) if self.correct else "<p>Check your working and try again.</p>"
            return head + body
        chosen = {response} if isinstance(response, int) else set(response)
        shown = range(len(q.options)) if self.correct else sorted(chosen)
        items = "".join(
            f"<li><strong>{LETTERS[i]}</strong> {'✓' if q.options[i].correct else '✗'} "
            f"{_md_inline(q.options[i].explanation)}</li>"
            for i in shown
        )
        return f"{head}<ul>{items}</ul>"


class QuizWidget(widgets.VBox):
    """A notebook's whole quiz, with its score."""

    def __init__(self, bank: QuizBank):
        self.bank = bank
        self.score = widgets.HTML()
        self.cards = [QuestionCard(bank, n, self._update_score) for n in range(len(bank.questions))]
        title = widgets.HTML(f"<h3>Quiz · {html.escape(bank.title)}</h3>")
        super().__init__([title, self.score, *self.cards])
        self._update_score()

    def _update_score(self) -> None:
        right = sum(c.correct for c in self.cards)
        tried = sum(c.attempts > 0 for c in self.cards)
        self.score.value = f"<p>Score: <strong>{right} / {len(self.cards)}</strong> ({tried} answered)</p>"

    def answer(self, n: int, response: int | list[int] | float | str) -> bool:
        """Answer question `n` (0-based) programmatically and check it."""
        self.cards[n].set_response(response)
        return self.cards[n].check()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        bundle = super()._repr_mimebundle_(include=include, exclude=exclude) or {}
        bundle["text/plain"] = static_text(self.bank)
        bundle["text/html"] = static_html(self.bank)
        return bundle


def show_quiz(notebook: str) -> None:
    """Show notebook `notebook`'s quiz (e.g. "01"). The bank is validated first; a bad one is reported, not shown."""
    try:
        bank = load_bank(bank_path(notebook))
    except QuizBankError as err:
        print(f"The quiz of notebook {notebook} cannot be shown: its bank has {len(err.problems)} problem(s).")
        print("\n".join(err.problems))
        print("Fix the bank, check it with `python -m course_utils.quiz validate`, then run this cell again.")
        return
    display(QuizWidget(bank))
