"""Quiz banks: the schema validator, the command line, and the shipped banks."""

from __future__ import annotations

import copy

import pytest
import yaml

from course_utils import quiz

GOOD = {
    "notebook": "99",
    "title": "A test quiz",
    "questions": [
        {
            "id": "pick-one",
            "section": "What is Transfer Learning? > Definition",
            "type": "single",
            "prompt": "Which one?",
            "options": [
                {"text": "Right", "correct": True, "explanation": "Because."},
                {"text": "Wrong", "correct": False, "explanation": "Because not."},
            ],
        },
        {
            "id": "pick-some",
            "section": "Fine-tuning Techniques",
            "type": "multiple",
            "prompt": "Which ones?",
            "options": [
                {"text": "A", "correct": True, "explanation": "Yes."},
                {"text": "B", "correct": True, "explanation": "Yes."},
                {"text": "C", "correct": False, "explanation": "No."},
            ],
        },
        {
            "id": "a-number",
            "section": "Domain Adaptation",
            "type": "numeric",
            "prompt": "How many?",
            "answer": 36,
            "tolerance": 0.5,
            "explanation": "73 - 37.",
        },
    ],
}


def write(tmp_path, data, name="99.yaml"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True))
    return path


def broken(mutate):
    data = copy.deepcopy(GOOD)
    mutate(data)
    return data


def test_a_good_bank_loads(tmp_path):
    bank = quiz.load_bank(write(tmp_path, GOOD))
    assert bank.notebook == "99" and [q.id for q in bank.questions] == ["pick-one", "pick-some", "a-number"]
    assert bank.questions[0].correct == {0} and bank.questions[2].answer == 36


MALFORMED = {
    "missing id": (lambda d: d["questions"][0].pop("id"), "missing field 'id'"),
    "duplicate id": (lambda d: d["questions"][1].update(id="pick-one"), "duplicate id"),
    "bad id": (lambda d: d["questions"][1].update(id="Pick One!"), "lowercase letters"),
    "missing prompt": (lambda d: d["questions"][0].pop("prompt"), "missing field 'prompt'"),
    "missing section": (lambda d: d["questions"][0].pop("section"), "missing field 'section'"),
    "wrong type": (lambda d: d["questions"][0].update(type="essay"), "type is 'essay'"),
    "empty options": (lambda d: d["questions"][0].update(options=[]), "options must be a list of at least two"),
    "answer not among options": (
        lambda d: [o.update(correct=False) for o in d["questions"][1]["options"]],
        "the answer is not among the options",
    ),
    "two correct in single": (
        lambda d: d["questions"][0]["options"][1].update(correct=True),
        "exactly one correct option (has 2)",
    ),
    "option without explanation": (
        lambda d: d["questions"][0]["options"][1].pop("explanation"),
        "option 2 has no explanation",
    ),
    "correct not a bool": (
        lambda d: d["questions"][1]["options"][0].update(correct="yes"),
        "option 1: 'correct' must be true or false, without quotes, not text ('yes')",
    ),
    "negative tolerance": (lambda d: d["questions"][2].update(tolerance=-1), "bad tolerance -1"),
    "tolerance not a number": (
        lambda d: d["questions"][2].update(tolerance="a bit"),
        "'tolerance' must be a number, not text ('a bit')",
    ),
    "numeric answer missing": (lambda d: d["questions"][2].pop("answer"), "missing field 'answer'"),
    "numeric with options": (
        lambda d: d["questions"][2].update(options=GOOD["questions"][0]["options"]),
        "a numeric question has no options",
    ),
    "unknown field": (lambda d: d["questions"][0].update(answr=1), "unknown field 'answr'"),
    "duplicate option text": (
        lambda d: d["questions"][1]["options"][1].update(text="A"),
        "two options have the same text",
    ),
    "no questions": (lambda d: d.update(questions=[]), "'questions' must be a non-empty list"),
    "missing title": (lambda d: d.pop("title"), "missing field 'title'"),
    "question not a mapping": (lambda d: d["questions"].append("just text"), "question #4: is text ('just text')"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_each_malformed_bank_gets_one_clear_line(tmp_path, kind):
    mutate, expected = MALFORMED[kind]
    path = write(tmp_path, broken(mutate))
    with pytest.raises(quiz.QuizBankError) as err:
        quiz.load_bank(path)
    assert len(err.value.problems) == 1, err.value.problems
    line = err.value.problems[0]
    assert str(path) in line and expected in line and "\n" not in line


def test_problem_lines_name_the_question(tmp_path):
    path = write(tmp_path, broken(lambda d: d["questions"][1].update(type="essay")))
    with pytest.raises(quiz.QuizBankError, match="question 'pick-some': type is 'essay'"):
        quiz.load_bank(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("notebook: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "must hold a mapping"),
        ("", "the file is empty"),
    ],
)
def test_unreadable_or_wrong_shaped_files(tmp_path, text, expected):
    with pytest.raises(quiz.QuizBankError, match=expected):
        quiz.load_bank(write(tmp_path, text))


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(quiz.QuizBankError, match="unreadable file"):
        quiz.load_bank(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(quiz.QuizBankError, match="not a UTF-8 text file"):
        quiz.load_bank(binary)


def test_cli_exits_non_zero_on_a_bad_bank(tmp_path, capsys):
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = write(tmp_path / "good", GOOD)
    bad = write(tmp_path / "bad", broken(lambda d: d["questions"][0].pop("id")))
    assert quiz.main(["validate", str(good)]) == 0
    assert "ok, 3 questions" in capsys.readouterr().out
    assert quiz.main(["validate", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}: question #1: missing field 'id'" in out
    assert quiz.main(["nonsense"]) == 2


@pytest.mark.parametrize(
    "qid, response, right",
    [
        ("pick-one", 0, True),
        ("pick-one", 1, False),
        ("pick-one", None, False),
        ("pick-some", [0, 1], True),
        ("pick-some", [1, 0], True),
        ("pick-some", [0], False),
        ("pick-some", [0, 1, 2], False),
        ("a-number", 36.4, True),
        ("a-number", "35,6", True),
        ("a-number", 37, False),
        ("a-number", "many", False),
        ("a-number", float("nan"), False),
    ],
)
def test_grading(tmp_path, qid, response, right):
    bank = quiz.load_bank(write(tmp_path, GOOD))
    question = next(q for q in bank.questions if q.id == qid)
    assert question.is_right(response) is right


def test_every_shipped_bank_is_valid_and_big_enough():
    paths = sorted(quiz.QUIZ_DIR.glob("*.yaml"))
    assert paths, "no quiz banks shipped"
    for path in paths:
        bank = quiz.load_bank(path)
        minimum = 20 if bank.notebook == "08" else 6
        assert len(bank.questions) >= minimum, f"{path.name} has {len(bank.questions)} questions"
        assert bank.notebook == path.stem


def test_validate_copes_with_odd_field_names_and_ids():
    data = broken(lambda d: d.update({1: "x", None: "y"}))
    data["questions"][0]["id"] = "pick-one\n"
    problems = quiz.validate(data)
    assert "unknown field 1 (allowed: notebook, questions, title)" in problems
    assert "unknown field None (allowed: notebook, questions, title)" in problems
    assert any("id must be lowercase letters" in p for p in problems)
    assert quiz.validate(GOOD) == [] and quiz.validate(GOOD, file_name="99.yaml") == []
    assert "does not match the file name 'bank.yaml'" in quiz.validate(GOOD, file_name="bank.yaml")[0]
