"""Hostile or careless quiz banks: each is refused with one clear line, quickly, and the file is left untouched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from course_utils import quiz, quiz_yaml

GOOD = """\
notebook: "01"
title: A test quiz
questions:
  - id: pick-one
    section: Definition
    type: single
    prompt: Which one?
    options:
      - text: Right
        correct: true
        explanation: Because.
      - text: Wrong
        correct: false
        explanation: Because not.
  - id: a-number
    section: Benefit
    type: numeric
    prompt: How many?
    answer: 36
    tolerance: 0.5
    explanation: 73 - 37.
"""

ROOT = Path(__file__).resolve().parents[1]


def edited(old: str, new: str) -> str:
    """GOOD with one exact piece of text replaced."""
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


def refusal(path: Path) -> str:
    """The one problem line `load_bank` gives for `path`; checks the file is named and left byte for byte as it was."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(quiz.QuizBankError) as err:
        quiz.load_bank(path)
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert line.startswith(f"{path}: ") and "\n" not in line and "Traceback" not in line
    assert (path.read_bytes() if path.is_file() else None) == before
    return line


@contextmanager
def time_limit(seconds: float):
    """Fail instead of hanging (or eating memory) if the block runs longer than `seconds` (POSIX only)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def stop(*_):
        raise TimeoutError(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bank_file(tmp_path: Path, text: str | bytes, name: str = "01.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_the_base_bank_is_good(tmp_path):
    bank = quiz.load_bank(bank_file(tmp_path, GOOD))
    assert bank.notebook == "01" and [q.id for q in bank.questions] == ["pick-one", "a-number"]


def _options(n: int) -> str:
    return "".join(
        f"      - text: Option {i}\n        correct: {str(i == 0).lower()}\n        explanation: E{i}.\n"
        for i in range(n)
    )


OPTIONS = (
    "      - text: Right\n        correct: true\n        explanation: Because.\n"
    "      - text: Wrong\n        correct: false\n        explanation: Because not.\n"
)

# name: (bank text, what the one line must contain)
BAD_BANKS = {
    "too many options": (
        edited(OPTIONS, _options(quiz.MAX_OPTIONS + 1)),
        ["question 'pick-one'", f"{quiz.MAX_OPTIONS + 1} options", f"at most {quiz.MAX_OPTIONS}"],
    ),
    "notebook unquoted": (edited('notebook: "01"', "notebook: 01"), ["'notebook' must be text: quote it (\"01\")"]),
    "notebook one digit": (edited('notebook: "01"', 'notebook: "1"'), ["'notebook' is '1'", "two-digit", '"01"']),
    "notebook not the file name": (
        edited('notebook: "01"', 'notebook: "02"'),
        ["notebook '02' does not match the file name '01.yaml'", "02.yaml"],
    ),
    "two questions lists": (GOOD + "questions: []\n", ["line 22", "'questions' appears twice", "first at line 3"]),
    "a question with two prompts": (
        edited("    prompt: How many?\n", "    prompt: How many?\n    prompt: How few?\n"),
        ["line 19", "'prompt' appears twice", "first at line 18"],
    ),
    "prompt read as a number": (
        edited("prompt: Which one?", "prompt: 0.35"),
        ["question 'pick-one': 'prompt' must be text: quote it (\"0.35\")", "line 7"],
    ),
    "section read as true": (
        edited("section: Definition", "section: yes"),
        ["question 'pick-one': 'section' must be text: quote it (\"yes\")"],
    ),
    "title read as false": (edited("title: A test quiz", "title: No"), ["'title' must be text: quote it (\"No\")"]),
    "option text read as true": (
        edited("text: Wrong", "text: on"),
        ["question 'pick-one': option 2: 'text' must be text: quote it (\"on\")"],
    ),
    "prompt read as 1e3": (
        edited("prompt: How many?", "prompt: 1e3"),
        ["question 'a-number': 'prompt' must be text: quote it (\"1e3\")"],
    ),
    "explanation read as a date": (
        edited("explanation: 73 - 37.", "explanation: 2024-01-01"),
        ["question 'a-number': 'explanation' must be text: quote it (\"2024-01-01\")", "a date"],
    ),
    "id read as a number": (edited("id: a-number", "id: 1e3"), ["question #2: 'id' must be text: quote it (\"1e3\")"]),
    "empty prompt": (edited("prompt: Which one?", "prompt:"), ["question 'pick-one': 'prompt' is empty"]),
    "options a mapping": (
        edited(OPTIONS, "      text: Right\n      correct: true\n      explanation: Because.\n"),
        ["question 'pick-one': 'options' must be a list of options", "not a mapping"],
    ),
    "explanation a list": (
        edited("explanation: Because not.", "explanation: [a, b]"),
        ["question 'pick-one': option 2: 'explanation' must be text, not a list"],
    ),
    "correct quoted": (
        edited("correct: false", 'correct: "false"'),
        ["option 2: 'correct' must be true or false, without quotes, not text ('false')"],
    ),
    "tolerance quoted": (
        edited("tolerance: 0.5", 'tolerance: "0.5"'),
        ["question 'a-number': 'tolerance' must be a number, not text ('0.5'): remove the quotes"],
    ),
    "answer read as true": (
        edited("answer: 36", "answer: yes"),
        ["question 'a-number': numeric 'answer' must be a number, not true/false"],
    ),
    "answer not a number": (edited("answer: 36", "answer: .nan"), ["'answer' must be a finite number, not nan"]),
    "answer too large for a float": (
        edited("answer: 36", "answer: " + "9" * 400),
        ["question 'a-number': numeric 'answer' must be a number of ordinary size, not one of 400 digits"],
    ),
    "unknown top-level field": (GOOD + "author: me\n", ["unknown field 'author'", "line 22"]),
    "field name read as true": (
        edited("    type: single\n", "    type: single\n    on: 1\n"),
        ["line 7", "field name 'on' is read by YAML as true/false"],
    ),
    "merge key": (edited("    type: single\n", "    type: single\n    <<: {hint: x}\n"), ["line 7", "merge keys"]),
    "an alias": (
        edited("text: Wrong", "text: &w Wrong").replace("explanation: Because not.", "explanation: *w"),
        ["line 14", "aliases (*name) are not allowed"],
    ),
    "invalid YAML": (edited("prompt: Which one?", "prompt: Which: one?"), ["not valid YAML at line 7", "quote"]),
    "a list, not a mapping": ("- notebook: '01'\n", ["must hold a mapping", "not a list"]),
}


@pytest.mark.parametrize("kind", sorted(BAD_BANKS))
def test_a_bad_bank_is_refused_with_one_clear_line(tmp_path, kind):
    text, expected = BAD_BANKS[kind]
    line = refusal(bank_file(tmp_path, text))
    for part in expected:
        assert part in line, (part, line)
    assert "missing" not in line  # a field that is there is never reported as missing


def test_exactly_max_options_work_in_the_widget(tmp_path, monkeypatch):
    from course_utils import quiz_widget

    monkeypatch.setenv("COURSE_PROGRESS_FILE", str(tmp_path / "progress.json"))
    bank = quiz.load_bank(bank_file(tmp_path, edited(OPTIONS, _options(quiz.MAX_OPTIONS))))
    assert quiz_widget.LETTERS is quiz.LETTERS and len(quiz.LETTERS) == quiz.MAX_OPTIONS
    card = quiz_widget.QuizWidget(bank).cards[0]
    assert len(card.input.options) == quiz.MAX_OPTIONS
    assert f"{quiz.LETTERS[-1]})" in quiz_widget.static_text(bank)


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path):
    bomb = 'notebook: "01"\ntitle: Bomb\nx: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    bomb += "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    bomb += "questions:\n  - id: q\n    section: s\n    type: single\n    prompt: '?'\n    options:\n"
    bomb += "      - {text: *h, correct: true, explanation: e}\n      - {text: b, correct: false, explanation: e}\n"
    path = bank_file(tmp_path, bomb)
    assert path.stat().st_size < 1500  # about 1 KB, 9**8 "lol"s if expanded
    start = time.perf_counter()
    with time_limit(5):
        line = refusal(path)
    assert time.perf_counter() - start < 1.0
    assert "line 4" in line and "aliases (*name) are not allowed" in line


@pytest.mark.parametrize("text", ["[" * 10_000 + "]" * 10_000, "notebook: " + "[" * 10_000, "a:\n" + "- - - " * 3_000])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path, text):
    with time_limit(10):
        line = refusal(bank_file(tmp_path, text))
    assert f"nested more than {quiz_yaml.MAX_DEPTH} levels deep" in line and ": line " in line


def test_a_recursion_error_is_caught_too(tmp_path, monkeypatch):
    monkeypatch.setattr(quiz_yaml, "MAX_DEPTH", 10**9)
    with time_limit(10):
        line = refusal(bank_file(tmp_path, "[" * 10_000 + "]" * 10_000))
    assert "nested too deeply" in line


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"#" * (quiz_yaml.MAX_BANK_BYTES + 1), "larger than 1,000,000 bytes"),
        (b"\xff\xfe\x00g\x00a\x00r\x00b", "not a UTF-8 text file (byte 0xff at offset 0)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a UTF-8 text file"),
        (b'notebook: "01"\x00\x00', "contains NUL bytes"),
        (b"", "the file is empty"),
        (b"# only a comment\n\n", "the file is empty"),
    ],
)
def test_files_that_are_not_banks_get_one_line(tmp_path, content, expected):
    assert expected in refusal(bank_file(tmp_path, content))


def test_a_bank_just_under_the_size_limit_is_read(tmp_path):
    text = GOOD + "#" * (quiz_yaml.MAX_BANK_BYTES - len(GOOD) - 1) + "\n"
    assert len(text.encode()) == quiz_yaml.MAX_BANK_BYTES
    assert len(quiz.load_bank(bank_file(tmp_path, text)).questions) == 2


def test_a_folder_and_a_missing_file(tmp_path):
    folder = tmp_path / "01.yaml"
    folder.mkdir()
    assert "is a folder" in refusal(folder)
    assert "unreadable file" in refusal(tmp_path / "02.yaml")


def test_a_byte_order_mark_is_fine(tmp_path):
    assert quiz.load_bank(bank_file(tmp_path, b"\xef\xbb\xbf" + GOOD.encode())).notebook == "01"


def test_the_command_line_on_nasty_banks_never_shows_a_traceback(tmp_path):
    bomb = bank_file(tmp_path, 'a: &a ["x", "x"]\nb: &b [*a, *a]\nnotebook: "01"\n')
    (tmp_path / "deep").mkdir()
    deep = bank_file(tmp_path / "deep", "[" * 10_000)
    binary = bank_file(tmp_path, b"\xff\xd8\xff\xe0", "03.yaml")
    run = subprocess.run(
        [sys.executable, "-m", "course_utils.quiz", "validate", str(bomb), str(deep), str(binary)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stdout + run.stderr and run.stderr == ""
    lines = run.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{bomb}: line 2") and "aliases" in lines[0]
    assert lines[1].startswith(f"{deep}: ") and "nested" in lines[1]
    assert lines[2].startswith(f"{binary}: not a UTF-8 text file")


def test_the_command_line_usage(capsys):
    assert quiz.main(["check"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'check'" in err and "usage: python -m course_utils.quiz validate" in err
    assert quiz.main([]) == 2 and "usage" in capsys.readouterr().err
    assert quiz.main(["--help"]) == 0 and "usage" in capsys.readouterr().out


def test_the_command_line_reports_an_unexpected_error_in_one_line(tmp_path, monkeypatch, capsys):
    def broken(data, file_name=None):
        raise KeyError("oops")

    monkeypatch.setattr(quiz, "validate", broken)
    path = bank_file(tmp_path, GOOD)
    assert quiz.main(["validate", str(path)]) == 1
    assert capsys.readouterr().out == f"{path}: could not be checked (KeyError: 'oops'); please report this\n"
