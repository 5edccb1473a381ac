"""Quiz banks: one YAML file per notebook in ``data/quizzes/``, validated on load.

Schema (see ``data/quizzes/README.md`` for a worked example)::

    notebook: "01"                      # which notebook the bank belongs to
    title: What is transfer learning?
    questions:
      - id: definition                  # unique in the file: lowercase letters, digits, dashes
        section: What is Transfer Learning? > Definition   # the outline section it checks
        type: single                    # single | multiple | numeric
        prompt: Markdown text, code allowed
        options:                        # single and multiple: at least two
          - text: Markdown text
            correct: true               # single: exactly one; multiple: at least one
            explanation: why this option is right or wrong
      - id: gain
        section: ...
        type: numeric
        prompt: ...
        answer: 0.35                    # numeric: the answer...
        tolerance: 0.01                 # ...and how far off still counts (>= 0)
        explanation: how to get there

``python -m course_utils.quiz validate PATH...`` checks files and exits non-zero on a bad one.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from course_utils.paths import DATA_DIR

QUIZ_DIR = DATA_DIR / "quizzes"
TYPES = ("single", "multiple", "numeric")
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_QUESTION_KEYS = {"id", "section", "type", "prompt", "options", "answer", "tolerance", "explanation"}
_OPTION_KEYS = {"text", "correct", "explanation"}


class QuizBankError(ValueError):
    """A quiz bank is unreadable or breaks the schema; `problems` has one line per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Option:
    text: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class Question:
    id: str
    section: str
    type: str
    prompt: str
    options: tuple[Option, ...] = ()
    answer: float | None = None
    tolerance: float | None = None
    explanation: str = ""

    @property
    def correct(self) -> frozenset[int]:
        """Indices of the correct options."""
        return frozenset(i for i, o in enumerate(self.options) if o.correct)

    def is_right(self, response: int | list[int] | set[int] | float | str | None) -> bool:
        """Whether a response (an option index, a set of indices, or a number) answers the question."""
        if response is None:
            return False
        if self.type == "numeric":
            try:
                value = float(str(response).replace(",", ".")) if isinstance(response, str) else float(response)
            except (TypeError, ValueError):
                return False
            return math.isfinite(value) and abs(value - self.answer) <= self.tolerance + 1e-12
        chosen = {response} if isinstance(response, int) else set(response)
        return chosen == set(self.correct)


@dataclass(frozen=True)
class QuizBank:
    notebook: str
    title: str
    questions: tuple[Question, ...]
    path: Path


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_question(q: object, n: int, seen: set[str]) -> list[str]:
    """Problems with one question, each as "question ID: what is wrong"."""
    if not isinstance(q, dict):
        return [f"question #{n}: is a {type(q).__name__}, expected a mapping with id, type, prompt, ..."]
    qid = q.get("id")
    where = f"question {qid!r}" if _is_text(qid) else f"question #{n}"
    problems = []
    if not _is_text(qid):
        problems.append(f"{where}: missing field 'id'")
    elif not _ID.match(qid):
        problems.append(f"{where}: id must be lowercase letters, digits and dashes")
    elif qid in seen:
        problems.append(f"{where}: duplicate id")
    else:
        seen.add(qid)
    for key in sorted(set(q) - _QUESTION_KEYS):
        problems.append(f"{where}: unknown field {key!r} (allowed: {', '.join(sorted(_QUESTION_KEYS))})")
    for key in ("section", "prompt"):
        if not _is_text(q.get(key)):
            problems.append(f"{where}: missing field {key!r}" if key not in q else f"{where}: {key!r} must be text")
    kind = q.get("type")
    if kind not in TYPES:
        problems.append(f"{where}: type is {kind!r}, expected one of {', '.join(TYPES)}")
        return problems
    if kind == "numeric":
        if "options" in q:
            problems.append(f"{where}: a numeric question has no options")
        if not _is_number(q.get("answer")):
            problems.append(f"{where}: numeric 'answer' must be a number")
        tol = q.get("tolerance")
        if not _is_number(tol) or tol < 0:
            problems.append(f"{where}: bad tolerance {tol!r}: give a number >= 0")
        if not _is_text(q.get("explanation")):
            problems.append(f"{where}: missing field 'explanation' (how to get the answer)")
        return problems
    for key in ("answer", "tolerance"):
        if key in q:
            problems.append(f"{where}: {key!r} is for numeric questions; mark options with 'correct' instead")
    options = q.get("options")
    if not isinstance(options, list) or len(options) < 2:
        problems.append(f"{where}: options must be a list of at least two (got {options!r:.40})")
        return problems
    texts = []
    for i, o in enumerate(options, 1):
        if not isinstance(o, dict):
            problems.append(f"{where}: option {i} must be a mapping with text, correct, explanation")
            continue
        for key in sorted(set(o) - _OPTION_KEYS):
            problems.append(f"{where}: option {i} has unknown field {key!r}")
        if not _is_text(o.get("text")):
            problems.append(f"{where}: option {i} has no text")
        texts.append(o.get("text"))
        if not isinstance(o.get("correct"), bool):
            problems.append(f"{where}: option {i} needs 'correct: true' or 'correct: false'")
        if not _is_text(o.get("explanation")):
            problems.append(f"{where}: option {i} has no explanation")
    if len(set(map(str, texts))) < len(texts):
        problems.append(f"{where}: two options have the same text")
    n_correct = sum(1 for o in options if isinstance(o, dict) and o.get("correct") is True)
    if kind == "single" and n_correct != 1:
        problems.append(f"{where}: a single-choice question needs exactly one correct option (has {n_correct})")
    if kind == "multiple" and n_correct < 1:
        problems.append(f"{where}: the answer is not among the options: no option is marked correct")
    return problems


def validate(data: object) -> list[str]:
    """Every problem of a parsed bank, one line each (empty when the bank is valid)."""
    if not isinstance(data, dict):
        return [f"the file must hold a mapping with 'notebook', 'title' and 'questions' (got {type(data).__name__})"]
    problems = []
    for key in ("notebook", "title"):
        if not _is_text(data.get(key)):
            problems.append(f"missing field {key!r}")
    questions = data.get("questions")
    if not isinstance(questions, list) or not questions:
        return [*problems, "'questions' must be a non-empty list"]
    seen: set[str] = set()
    for n, q in enumerate(questions, 1):
        problems += _check_question(q, n, seen)
    return problems


def load_bank(path: Path | str) -> QuizBank:
    """Read and validate one bank; raise QuizBankError with one line per problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise QuizBankError([f"{path}: unreadable file ({err.strerror or err})"]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(err, "problem", None) or (str(err).splitlines()[0] if str(err) else type(err).__name__)
        hint = "; quote text that contains ': '" if "mapping values" in str(what) else ""
        raise QuizBankError([f"{path}: not valid YAML{where} ({what}{hint})"]) from None
    problems = validate(data)
    if problems:
        raise QuizBankError([f"{path}: {p}" for p in problems])
    questions = tuple(
        Question(
            id=q["id"], section=q["section"], type=q["type"], prompt=q["prompt"],
            options=tuple(Option(o["text"], o["correct"], o["explanation"]) for o in q.get("options", [])),
            answer=float(q["answer"]) if "answer" in q else None,
            tolerance=float(q["tolerance"]) if "tolerance" in q else None,
            explanation=q.get("explanation", ""),
        )
        for q in data["questions"]
    )
    return QuizBank(notebook=str(data["notebook"]), title=data["title"], questions=questions, path=path)


def bank_path(notebook: str) -> Path:
    """The bank of a notebook, e.g. ``bank_path("01")``."""
    return QUIZ_DIR / f"{notebook}.yaml"


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.quiz validate [PATH...]``: check banks (all of data/quizzes by default)."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "validate":
        print("usage: python -m course_utils.quiz validate [PATH...]", file=sys.stderr)
        return 2
    paths = [Path(p) for p in args[1:]] or sorted(QUIZ_DIR.glob("*.yaml"))
    if not paths:
        print(f"No quiz banks found in {QUIZ_DIR}.", file=sys.stderr)
        return 1
    bad = 0
    for path in paths:
        try:
            bank = load_bank(path)
        except QuizBankError as err:
            bad += 1
            for line in err.problems:
                print(line)
        else:
            print(f"{path}: ok, {len(bank.questions)} questions")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
