"""Quiz banks: one YAML file per notebook in ``data/quizzes/``, validated on load.

Schema (see ``data/quizzes/README.md`` for a worked example)::

    notebook: "01"                      # which notebook the bank belongs to: two digits, quoted
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

The file is named after the notebook (``01.yaml``); text that YAML would read as a number, a date or true/false
(``0.35``, ``2024-01-01``, ``yes``) is quoted; at most `MAX_OPTIONS` options; no aliases; under 1 MB
(``course_utils.quiz_yaml`` reads the file). ``python -m course_utils.quiz validate PATH...`` checks files and
exits non-zero on a bad one.
"""

from __future__ import annotations

import math
import re
import string
import sys
from dataclasses import dataclass
from pathlib import Path

from course_utils.paths import DATA_DIR
from course_utils.quiz_yaml import (
    QuizBankError,
    kind_of,
    line_of,
    number_field,
    read_bank_file,
    text_field,
    text_problem,
    wrong_type,
)

QUIZ_DIR = DATA_DIR / "quizzes"
TYPES = ("single", "multiple", "numeric")
MAX_OPTIONS = 10  # options per question; the quiz letters them A, B, ... J
LETTERS = string.ascii_uppercase[:MAX_OPTIONS]
_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_NOTEBOOK = re.compile(r"[0-9]{2}")
_BANK_KEYS = {"notebook", "title", "questions"}
_QUESTION_KEYS = {
    "id",
    "section",
    "type",
    "prompt",
    "options",
    "answer",
    "tolerance",
    "explanation",
    "measured",
    "hypothetical",
}
_OPTION_KEYS = {"text", "correct", "explanation"}


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
    measured: tuple[str, ...] = ()  # figures quoted from the notebook's executed outputs (tests check them)
    hypothetical: bool = False  # the question's other figures are made up, and its prompt says so

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
            except (TypeError, ValueError, OverflowError):
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


def _unknown(m: dict, allowed: set[str], prefix: str) -> list[str]:
    """One line per field of `m` that the schema does not know (usually a typo)."""
    return [
        f"{prefix}unknown field {key!r}{line_of(m, str(key))} (allowed: {', '.join(sorted(allowed))})"
        for key in sorted(set(m) - allowed, key=str)
    ]


def _check_numeric(q: dict, where: str) -> list[str]:
    problems = [f"{where}: a numeric question has no options{line_of(q, 'options')}"] if "options" in q else []
    problems += number_field(q, "answer", f"{where}: numeric 'answer'", f"{where}: missing field 'answer'{line_of(q)}")
    problems += number_field(
        q,
        "tolerance",
        f"{where}: 'tolerance'",
        f"{where}: missing field 'tolerance' (how far off still counts){line_of(q)}",
    )
    if not problems and q["tolerance"] < 0:
        problems.append(f"{where}: bad tolerance {q['tolerance']!r}: give a number >= 0{line_of(q, 'tolerance')}")
    return problems + text_field(
        q,
        "explanation",
        f"{where}: 'explanation'",
        f"{where}: missing field 'explanation' (how to get the answer){line_of(q)}",
    )


def _check_options(q: dict, where: str, kind: str) -> list[str]:
    problems = [
        f"{where}: {key!r} is for numeric questions; mark options with 'correct' instead{line_of(q, key)}"
        for key in ("answer", "tolerance")
        if key in q
    ]
    if "options" not in q:
        return [*problems, f"{where}: missing field 'options' (a list of at least two){line_of(q)}"]
    options = q["options"]
    if not isinstance(options, list):
        return [*problems, wrong_type(q, "options", f"{where}: 'options'", "a list of options (- text: ...)")]
    if len(options) < 2:
        got = f"got {len(options)}){line_of(q, 'options')}"
        return [*problems, f"{where}: options must be a list of at least two ({got}"]
    if len(options) > MAX_OPTIONS:
        problems.append(
            f"{where}: {len(options)} options, more than the {MAX_OPTIONS} the quiz can letter "
            f"(A-{LETTERS[-1]}): keep at most {MAX_OPTIONS}{line_of(q, 'options')}"
        )
    for i, o in enumerate(options, 1):
        label = f"{where}: option {i}"
        if not isinstance(o, dict):
            problems.append(f"{label} must be a mapping with text, correct, explanation, not {kind_of(o)}")
            continue
        problems += _unknown(o, _OPTION_KEYS, f"{label} has ")
        problems += text_field(o, "text", f"{label}: 'text'", f"{label} has no text{line_of(o)}")
        if "correct" not in o:
            problems.append(f"{label} needs 'correct: true' or 'correct: false'{line_of(o)}")
        elif not isinstance(o["correct"], bool):
            problems.append(wrong_type(o, "correct", f"{label}: 'correct'", "true or false, without quotes"))
        problems += text_field(o, "explanation", f"{label}: 'explanation'", f"{label} has no explanation{line_of(o)}")
    texts = [str(o.get("text")) for o in options if isinstance(o, dict)]
    if len(set(texts)) < len(texts):
        problems.append(f"{where}: two options have the same text{line_of(q, 'options')}")
    n_correct = sum(1 for o in options if isinstance(o, dict) and o.get("correct") is True)
    if kind == "single" and n_correct != 1:
        problems.append(
            f"{where}: a single-choice question needs exactly one correct option (has {n_correct})"
            f"{line_of(q, 'options')}"
        )
    if kind == "multiple" and n_correct < 1:
        problems.append(
            f"{where}: the answer is not among the options: no option is marked correct{line_of(q, 'options')}"
        )
    return problems


def _check_question(q: object, n: int, seen: set[str]) -> list[str]:
    """Problems with one question, each as "question ID: what is wrong"."""
    if not isinstance(q, dict):
        return [f"question #{n}: is {kind_of(q)}, expected a mapping with id, type, prompt, ..."]
    qid = q.get("id")
    where = f"question {qid!r}" if isinstance(qid, str) and qid.strip() else f"question #{n}"
    problems = text_field(q, "id", f"{where}: 'id'", f"{where}: missing field 'id'{line_of(q)}")
    if not problems and not _ID.fullmatch(qid):
        problems.append(f"{where}: id must be lowercase letters, digits and dashes{line_of(q, 'id')}")
    elif not problems and qid in seen:
        problems.append(f"{where}: duplicate id{line_of(q, 'id')}")
    elif not problems:
        seen.add(qid)
    problems += _unknown(q, _QUESTION_KEYS, f"{where}: ")
    problems += _check_figures(q, where)
    for key in ("section", "prompt"):
        problems += text_field(q, key, f"{where}: {key!r}", f"{where}: missing field {key!r}{line_of(q)}")
    if "type" not in q:
        return [*problems, f"{where}: missing field 'type' ({', '.join(TYPES)}){line_of(q)}"]
    if q["type"] not in TYPES:
        return [*problems, f"{where}: type is {q['type']!r}, expected one of {', '.join(TYPES)}{line_of(q, 'type')}"]
    if q["type"] == "numeric":
        return problems + _check_numeric(q, where)
    return problems + _check_options(q, where, q["type"])


def _check_figures(q: dict, where: str) -> list[str]:
    """`measured`: a list of figures as text (e.g. "0.66"); `hypothetical`: true or false."""
    problems = []
    if "measured" in q:
        figures = q["measured"]
        if not isinstance(figures, list) or not figures:
            problems.append(
                wrong_type(q, "measured", f"{where}: 'measured'", 'a non-empty list of quoted figures ("0.66")')
            )
        else:
            problems += [
                f"{where}: 'measured' item {i} must be a figure in quotes (\"0.66\"), not {kind_of(f)}"
                f"{line_of(q, 'measured')}"
                for i, f in enumerate(figures, 1)
                if not isinstance(f, str) or not f.strip()
            ]
    if "hypothetical" in q and not isinstance(q["hypothetical"], bool):
        problems.append(wrong_type(q, "hypothetical", f"{where}: 'hypothetical'", "true or false, without quotes"))
    return problems


def _check_notebook(data: dict, file_name: str | None) -> list[str]:
    """The notebook field: two digits as text, and the bank's file named after it."""
    if "notebook" not in data:
        return ["missing field 'notebook' (the notebook's number as text, e.g. notebook: \"01\")"]
    nb = data["notebook"]
    if isinstance(nb, int) and not isinstance(nb, bool) and 0 <= nb < 100:
        source = getattr(data, "sources", {}).get("notebook", str(nb))
        return [
            f"'notebook' must be text: quote it (\"{nb:02d}\"); YAML reads {source} as the number {nb}"
            f"{line_of(data, 'notebook')}"
        ]
    problem = text_problem(data, "notebook", "'notebook'")
    if problem:
        return [problem]
    if not _NOTEBOOK.fullmatch(nb):
        return [
            f"'notebook' is {nb!r}: write the notebook's two-digit number in quotes, e.g. \"01\""
            f"{line_of(data, 'notebook')}"
        ]
    if file_name is not None and file_name != f"{nb}.yaml":
        return [
            f"notebook {nb!r} does not match the file name {file_name!r}: name the file {nb}.yaml "
            f"(the course finds a notebook's bank by its number){line_of(data, 'notebook')}"
        ]
    return []


def validate(data: object, file_name: str | None = None) -> list[str]:
    """Every problem of a parsed bank, one line each (empty when the bank is valid).

    With `file_name` (e.g. "01.yaml"), also check that the file is named after the bank's notebook.
    """
    if not isinstance(data, dict):
        return [f"the file must hold a mapping with 'notebook', 'title' and 'questions', not {kind_of(data)}"]
    problems = _unknown(data, _BANK_KEYS, "")
    problems += _check_notebook(data, file_name)
    problems += text_field(data, "title", "'title'", "missing field 'title'")
    if "questions" not in data:
        return [*problems, "missing field 'questions' (a list of questions)"]
    questions = data["questions"]
    if not isinstance(questions, list):
        return [*problems, wrong_type(data, "questions", "'questions'", "a list of questions (- id: ...)")]
    if not questions:
        return [*problems, f"'questions' must be a non-empty list{line_of(data, 'questions')}"]
    seen: set[str] = set()
    for n, q in enumerate(questions, 1):
        problems += _check_question(q, n, seen)
    return problems


def load_bank(path: Path | str) -> QuizBank:
    """Read and validate one bank; raise QuizBankError with one line per problem."""
    path = Path(path)
    data = read_bank_file(path)
    problems = validate(data, file_name=path.name)
    if problems:
        raise QuizBankError([f"{path}: {p}" for p in problems])
    questions = tuple(
        Question(
            id=q["id"],
            section=q["section"],
            type=q["type"],
            prompt=q["prompt"],
            options=tuple(Option(o["text"], o["correct"], o["explanation"]) for o in q.get("options", [])),
            answer=float(q["answer"]) if "answer" in q else None,
            tolerance=float(q["tolerance"]) if "tolerance" in q else None,
            explanation=q.get("explanation", ""),
            measured=tuple(q.get("measured", ())),
            hypothetical=q.get("hypothetical", False),
        )
        for q in data["questions"]
    )
    return QuizBank(notebook=data["notebook"], title=data["title"], questions=questions, path=path)


def bank_path(notebook: str) -> Path:
    """The bank of a notebook, e.g. ``bank_path("01")``."""
    return QUIZ_DIR / f"{notebook}.yaml"


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.quiz validate [PATH...]``: check banks (all of data/quizzes by default)."""
    args = sys.argv[1:] if argv is None else argv
    usage = "usage: python -m course_utils.quiz validate [PATH...]"
    if args[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    if not args or args[0] != "validate":
        print(f"unknown command {args[0]!r}\n{usage}" if args else usage, file=sys.stderr)
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
            print("\n".join(err.problems))
        except Exception as err:  # a bug in the checks must still end in one line, never a traceback
            bad += 1
            first = (str(err).splitlines() or [""])[0]
            print(f"{path}: could not be checked ({type(err).__name__}: {first}); please report this")
        else:
            print(f"{path}: ok, {len(bank.questions)} questions")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
