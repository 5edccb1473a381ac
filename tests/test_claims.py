"""A lesson's claims (`course_utils.claims`) and how `bench/run_notebooks.py` counts and tabulates them.

The bench helpers are tested on hand-made notebooks and log rows: no notebook is executed here.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import nbclient
import nbformat
import pytest

from course_utils.claims import CLAIMS_LOG, ClaimFailed, claim, read_log

BENCH = Path(__file__).resolve().parents[1] / "bench" / "run_notebooks.py"


@pytest.fixture(scope="module")
def bench():
    """bench/run_notebooks.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("run_notebooks", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def log(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_LOG, str(path))
    return path


# --- course_utils.claims ----------------------------------------------------------------------------------------


def test_a_claim_that_holds_returns_its_margin(monkeypatch):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    assert claim("fine-tuning beats feature extraction", 0.80, 0.75) == pytest.approx(0.05)


def test_a_cell_that_ends_with_a_claim_shows_no_unrounded_margin():
    """nbval compares every output: a cell ending in a claim must not echo its float, yet a print shows it."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('from course_utils.claims import claim\nclaim("a beats b", 0.9, 0.8123456)'),
        nbformat.v4.new_code_cell('lead = claim("a beats b", 0.9, 0.8)\nprint(f"{lead:+.2f}", lead + 1 > 1)\nlead'),
    ]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=60).execute()
    assert nb.cells[0].outputs == []
    assert [output.get("text") for output in nb.cells[1].outputs] == ["+0.10 True\n"]


def test_a_claim_that_fails_raises_with_the_statement_and_both_numbers(monkeypatch):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    with pytest.raises(ClaimFailed, match=r"fine-tuning beats scratch: 0\.6 should be above 0\.7"):
        claim("fine-tuning beats scratch", 0.6, 0.7)
    with pytest.raises(ClaimFailed):  # equal is not above
        claim("a tie is not a win", 0.7, 0.7)
    assert issubclass(ClaimFailed, AssertionError)  # nbval and pytest report it as a failed assert


def test_above_false_asks_for_a_value_below_the_bound(monkeypatch):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    assert claim("a random head stays near chance", 0.10, 0.25, above=False) == pytest.approx(0.15)
    with pytest.raises(ClaimFailed, match="should be below"):
        claim("a random head stays near chance", 0.30, 0.25, above=False)


@pytest.mark.parametrize("value, bound", [(math.nan, 0.5), (0.5, math.nan), (math.nan, math.nan)])
def test_nan_never_holds(monkeypatch, value, bound):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    with pytest.raises(ClaimFailed):
        claim("a NaN proves nothing", value, bound)
    with pytest.raises(ClaimFailed):
        claim("a NaN proves nothing", value, bound, above=False)


def test_numbers_of_other_kinds_are_accepted(monkeypatch):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    assert claim("numpy and torch scalars are numbers", np.float32(0.9), torch.tensor(0.5)) == pytest.approx(0.4)


@pytest.mark.parametrize("statement", ["", "   ", None, 0.5])
def test_a_missing_statement_is_a_clear_type_error(monkeypatch, statement):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    with pytest.raises(TypeError, match="the statement is the sentence"):
        claim(statement, 0.9, 0.5)


@pytest.mark.parametrize("value, bound", [("high", 0.5), (0.9, None), ([0.9], 0.5)])
def test_a_value_that_is_not_a_number_is_a_clear_type_error(monkeypatch, value, bound):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    with pytest.raises(TypeError, match="value and bound must be numbers"):
        claim("the probe beats TF-IDF", value, bound)


def test_each_claim_appends_one_json_line_to_the_log(log):
    claim("first", 0.9, 0.5)
    claim("second", 0.1, 0.3, above=False)
    with pytest.raises(ClaimFailed):
        claim("third fails", 0.4, 0.5)
    lines = log.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [r["statement"] for r in rows] == ["first", "second", "third fails"]
    assert rows[1] == {"statement": "second", "value": 0.1, "bound": 0.3, "above": False, "margin": pytest.approx(0.2)}
    assert rows[2]["margin"] == pytest.approx(-0.1)  # a failed claim is recorded too, with its negative margin


def test_no_log_is_written_when_the_variable_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(CLAIMS_LOG, raising=False)
    monkeypatch.chdir(tmp_path)
    claim("quiet", 0.9, 0.5)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["a folder", "a missing folder"])
def test_an_unwritable_log_never_fails_the_lesson(tmp_path, monkeypatch, where):
    target = tmp_path if where == "a folder" else tmp_path / "missing" / "claims.jsonl"
    monkeypatch.setenv(CLAIMS_LOG, str(target))
    assert claim("the lesson goes on", 0.9, 0.5) == pytest.approx(0.4)
    with pytest.raises(ClaimFailed):  # and a failing claim still fails as a claim, not as an OSError
        claim("the lesson stops here", 0.1, 0.5)


def test_read_log_returns_the_rows_in_order(log):
    assert read_log(log) == []  # missing file: nothing recorded
    claim("a", 0.9, 0.5)
    claim("b", 0.8, 0.5)
    with log.open("a", encoding="utf-8") as f:
        f.write("\n")  # blank lines are skipped
    assert [r["statement"] for r in read_log(str(log))] == ["a", "b"]


# --- bench/run_notebooks.py: counting claims and checks ---------------------------------------------------------


def notebook(*cells: str | tuple[str, str]) -> nbformat.NotebookNode:
    """A notebook of code cells (a plain string) and markdown cells (("markdown", text))."""
    nb = nbformat.v4.new_notebook()
    for cell in cells:
        if isinstance(cell, tuple):
            nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(cell))
    return nb


def test_claims_are_claim_calls_and_checks_are_asserts(bench):
    nb = notebook(
        "from course_utils.claims import claim\nimport numpy as np",
        ("markdown", "We claim(this) in prose, and assert nothing: markdown is not counted."),
        'claim("a", 1, 0)\nfor k in (1, 5):\n    claim(f"b {k}", 1, 0, above=True)\nassert x == y',
        "assert torch.isclose(a, b)\n  assert ok, 'indented'\nclaims(3)\nmy_claim(1)\nclaims.claim('c', 1, 0)",
        "x = 1",
    )
    assert bench.claim_cells(nb) == {3: 2, 4: 1}
    assert bench.check_cells(nb) == {3: 1, 4: 2}


def test_held_counts_stop_at_the_failing_cell(bench):
    run = bench.Run(Path("05_x.ipynb"), seed=None, claims={2: 3, 5: 1}, checks={2: 1, 7: 2})
    assert (run.claims_held, run.claims_total, run.checks_held, run.checks_total) == (4, 4, 3, 3)
    run.error, run.cell = "ClaimFailed: no", 5
    assert (run.claims_held, run.checks_held) == (3, 1)


def test_kernel_env_points_the_claims_log_at_the_run_s_file(bench, monkeypatch):
    monkeypatch.setenv(CLAIMS_LOG, "/somewhere/else.jsonl")
    assert bench.kernel_env(None, claims_log=Path("/tmp/run.jsonl"))[CLAIMS_LOG] == "/tmp/run.jsonl"
    assert CLAIMS_LOG not in bench.kernel_env(None)
    assert bench.kernel_env(2)["COURSE_SEED"] == "2"


# --- bench/run_notebooks.py: the margins table ------------------------------------------------------------------


def row(statement: str, margin: float, value: float = 0.8) -> dict:
    return {"statement": statement, "value": value, "bound": value - margin, "above": True, "margin": margin}


def runs_of(bench, rows_by_seed: dict[int | None, list[dict]], name: str = "05_few_shot.ipynb") -> list:
    return [bench.Run(Path(name), seed=seed, logged=rows) for seed, rows in rows_by_seed.items()]


def test_margins_are_gathered_per_notebook_statement_and_seed(bench):
    runs = runs_of(bench, {0: [row("a", 0.05), row("b", 0.10), row("b", 0.03)], 1: [row("a", 0.01), row("c", 0.2)]})
    margins = bench.claim_margins(runs)
    assert list(margins) == [name := "05_few_shot.ipynb"]
    table = {statement: {seed: r["margin"] for seed, r in rows.items()} for statement, rows in margins[name].items()}
    assert list(table) == ["a", "b", "c"]  # in the order the lesson makes them
    assert table["a"] == {0: 0.05, 1: 0.01}
    assert table["b"] == {0: 0.03}  # a statement claimed twice in one run holds by its smaller margin
    assert table["c"] == {1: 0.2}


def test_margin_text_flags_thin_and_failed_margins(bench):
    assert bench.margin_text(0.0512) == "+0.051"
    assert bench.margin_text(0.0199) == "+0.020 !"  # rounds to 0.020 but is below the course's 0.02
    assert bench.margin_text(-0.1) == "-0.100 !"
    assert bench.margin_text(None) == "-"
    assert bench.margin_text(math.nan) == "nan !"
    assert bench.thin(0.0199) and not bench.thin(0.02) and bench.thin(math.nan) and not bench.thin(None)


def test_margins_report_lists_every_claim_with_its_margin_per_seed(bench):
    runs = runs_of(bench, {0: [row("a holds", 0.05), row("b is thin", 0.01)], 1: [row("a holds", 0.04)]})
    text = bench.margins_report(bench.claim_margins(runs), [0, 1])
    lines = text.splitlines()
    a_line = next(line for line in lines if line.endswith("a holds"))
    b_line = next(line for line in lines if line.endswith("b is thin"))
    assert "+0.050" in a_line and "+0.040" in a_line and "!" not in a_line
    assert "+0.010 !" in b_line and " - " in b_line
    assert "1 of 2 claims" in lines[-1] and "0.02" in lines[-1] and "on some seed" in lines[-1]
    solid = bench.margins_report(
        bench.claim_margins(runs_of(bench, {0: [row("a", 0.05)], 1: [row("a", 0.04)]})), [0, 1]
    )
    assert solid.splitlines()[-1] == "All 1 claims hold by at least 0.02 on every seed."


def test_a_single_seed_report_shows_value_and_bound(bench):
    runs = runs_of(bench, {None: [{"statement": "s", "value": 0.5, "bound": 0.7, "above": False, "margin": 0.2}]})
    report = bench.margins_report(bench.claim_margins(runs), [None])
    line = next(line for line in report.splitlines() if line.endswith(" s"))
    assert "0.500 < 0.700" in line and "+0.200" in line


def test_claims_markdown_has_one_row_per_statement_and_the_minimum(bench):
    z = (0.03, 0.025, 0.01, 0.0)
    runs = runs_of(bench, {s: [row("x | y", (0.05, 0.06, 0.07, 0.08)[s]), row("z", z[s])] for s in range(4)})
    text = bench.claims_markdown(bench.claim_margins(runs), [0, 1, 2, 3], "the platform")
    assert "| notebook | claim | seed 0 | seed 1 | seed 2 | seed 3 | min |" in text
    assert "| 05_few_shot.ipynb | x \\| y | +0.050 | +0.060 | +0.070 | +0.080 | +0.050 |" in text
    assert "| 05_few_shot.ipynb | z | +0.030 | +0.025 | +0.010 ! | +0.000 ! | +0.000 ! |" in text
    assert "the platform" in text


def test_claims_markdown_keeps_the_rows_of_notebooks_not_run(bench):
    first = bench.claim_margins(
        runs_of(bench, {0: [row("old 05", 0.1)]}) + runs_of(bench, {0: [row("old 06", 0.1)]}, "06_pre.ipynb")
    )
    old = bench.claims_markdown(first, [0], "p")
    second = bench.claim_margins(runs_of(bench, {0: [row("new 05", 0.2)]}))
    text = bench.claims_markdown(second, [0], "p", previous=old)
    assert "old 06" in text and "new 05" in text and "old 05" not in text
    assert text.index("05_few_shot") < text.index("06_pre")  # rows in notebook order
    other_seeds = bench.claims_markdown(second, [1, 2], "p", previous=old)  # another table: nothing kept
    assert "old 06" not in other_seeds
