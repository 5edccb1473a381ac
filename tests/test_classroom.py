"""Student copies: no solutions left, and they still run from top to bottom."""

from __future__ import annotations

import copy

import nbclient
import nbformat
import pytest

from course_utils import classroom

SOLVED = """def f(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION

check(f)
"""


def test_strip_solutions_keeps_indentation_and_the_rest():
    stripped = classroom.strip_solutions(SOLVED)
    assert "return 2 * x" not in stripped and "BEGIN SOLUTION" not in stripped
    assert "    # YOUR CODE HERE\n    raise NotImplementedError\n" in stripped
    assert stripped.startswith("def f(x):") and stripped.rstrip().endswith("check(f)")
    compile(stripped, "<cell>", "exec")


def test_unbalanced_markers_are_an_error():
    with pytest.raises(ValueError, match="Unbalanced"):
        classroom.strip_solutions("### BEGIN SOLUTION\nx = 1\n")


@pytest.mark.parametrize(
    "source, line",
    [
        ("### END SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION", 1),
        ("### BEGIN SOLUTION\n  ### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### END SOLUTION", 2),
        ("print('done')  ### END SOLUTION", 1),
    ],
)
def test_markers_out_of_order_are_a_classroom_error_naming_the_line(source, line):
    with pytest.raises(classroom.ClassroomError, match=f"line {line}:"):
        classroom.strip_solutions(source)


def test_markdown_regions_become_an_answer_prompt():
    source = "**Why does it work?**\n\n### BEGIN SOLUTION\nBecause the features transfer.\n### END SOLUTION\n\nNext."
    stripped = classroom.strip_solutions(source, "markdown")
    assert stripped == "**Why does it work?**\n\n*Your answer here.*\n\nNext."


def test_student_notebook_strips_markdown_and_names_the_cell_of_a_problem():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("Q?\n### BEGIN SOLUTION\nA.\n### END SOLUTION"),
            nbformat.v4.new_code_cell(SOLVED),
        ]
    )
    student = classroom.student_notebook(nb)
    assert student.cells[0].source == "Q?\n*Your answer here.*\n"
    assert "raise NotImplementedError" in student.cells[1].source
    nb.cells.append(nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nA."))
    with pytest.raises(classroom.ClassroomError, match=r"cell 3 \(counting cells from 1\), line 1:"):
        classroom.student_notebook(nb)


def test_solution_cells_become_a_note_and_outputs_are_cleared():
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")], execution_count=3
            ),
            nbformat.v4.new_code_cell(
                "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION", metadata={"tags": ["solution"]}
            ),
        ]
    )
    student = classroom.student_notebook(nb)
    assert student.cells[0].outputs == [] and student.cells[0].execution_count is None
    assert student.cells[1].cell_type == "markdown" and "teacher's copy" in student.cells[1].source
    assert student.cells[1].id == nb.cells[1].id, "the same note id on every build"
    assert nb.cells[0].outputs, "the original notebook must not be modified"


@pytest.fixture(scope="module")
def student_copies(tmp_path_factory):
    return classroom.build_student_copies(tmp_path_factory.mktemp("student"))


def test_student_copies_contain_no_solution(student_copies):
    assert student_copies, "no notebooks found"
    for path in student_copies:
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


def exercise_part(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The set-up cells (imports, parameters) and everything from the "Exercises" heading on.

    The experiments before the exercises already run under nbval; running them again here would double
    the suite's time for nothing. The exercises only need the set-up.
    """
    start = next(
        (
            i
            for i, c in enumerate(nb.cells)
            if c.cell_type == "markdown"
            and any(line.startswith("## ") and "Exercises" in line for line in c.source.splitlines())
        ),
        None,
    )
    assert start is not None, "every notebook has an '## N. Exercises' section"
    setup = [c for c in nb.cells[:start] if c.cell_type == "code"][:2]
    part = copy.deepcopy(nb)
    part.cells = setup + nb.cells[start:]
    return part


def test_student_copies_run_and_report_not_done(student_copies):
    for path in student_copies:
        nb = exercise_part(nbformat.read(path, as_version=4))
        client = nbclient.NotebookClient(
            nb, kernel_name="python3", timeout=900, resources={"metadata": {"path": str(path.parent)}}
        )
        client.execute()  # raises CellExecutionError if any cell fails
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert "Not done yet" in printed, f"{path.name}: the checkers should say the exercises are not done"
        assert "Correct!" not in printed, f"{path.name}: a solution survived in the student copy"


def test_slides_are_built_from_the_slide_metadata(tmp_path):
    classroom.build_slides(tmp_path)
    decks = sorted(tmp_path.glob("*.slides.html"))
    assert [d.name.replace(".slides.html", ".ipynb") for d in decks] == [
        p.name for p in sorted(classroom.NOTEBOOK_DIR.glob("*.ipynb"))
    ]
    for deck in decks:
        assert deck.read_text().count("<section") >= 5, f"{deck.name}: too few slides"
