"""`make test` compares the notebooks' printed outputs only on the platform that recorded them.

Elsewhere every cell still runs and every assert (a lesson's claim) must hold. Each test runs pytest in a
subprocess, with the course's pyproject.toml (its nbval options and the `course_utils.platform_stamp` plugin), on
two tiny notebooks executed here: `digits.ipynb`, whose stored output was then edited in its last digit (as another
CPU would print it), and `claim.ipynb`, whose assert was then made false.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from course_utils import platform_stamp

REPO_DIR = Path(__file__).resolve().parent.parent
PRINTED, EDITED = "0.9999999999999999\n", "0.9999999999999998\n"  # a sum of ten 0.1, and the same off by one ulp
ELSEWHERE = {
    "torch": "2.0.0",
    "numpy": "1.26.4",
    "system": "Darwin",
    "machine": "arm64",
    "cpu_capability": "DEFAULT",
    "threads": 8,
    "blas": "torch accelerate, numpy accelerate",
    "device": "cpu",
}


class CurrentPythonKernelManager(AsyncKernelManager):
    """The python3 kernel, run by the Python that runs the tests, whatever kernelspecs are installed."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, nbformat.NotebookNode]:
    """The two notebooks, executed once with nbclient for real outputs, then edited."""
    nb = new_notebook(
        cells=[
            new_code_cell("x = sum([0.1] * 10)\nprint(x)"),
            new_code_cell('assert abs(x - 1) < 1e-9, "ten tenths make 1, up to rounding"'),
        ]
    )
    folder = tmp_path_factory.mktemp("recorded")
    NotebookClient(
        nb, timeout=60, kernel_manager_class=CurrentPythonKernelManager, resources={"metadata": {"path": str(folder)}}
    ).execute()
    assert nb.cells[0].outputs[0].text == PRINTED  # the run's real output, which nbval will compute again
    digits = nbformat.from_dict(json.loads(json.dumps(nb)))
    digits.cells[0].outputs[0].text = EDITED
    claim = nbformat.from_dict(json.loads(json.dumps(nb)))
    claim.cells[1].source = 'assert x == 1, "ten tenths make exactly 1"'  # false in floating point
    return {"digits": digits, "claim": claim}


def write(folder: Path, notebooks: dict[str, nbformat.NotebookNode], names: list[str], on: dict) -> list[str]:
    """Write the named notebooks into `folder`, stamped as recorded `on` that platform; their file names."""
    for name in names:
        nb = nbformat.from_dict(json.loads(json.dumps(notebooks[name])))
        platform_stamp.stamp_notebook(nb, on)
        nbformat.write(nb, folder / f"{name}.ipynb")
    return [f"{name}.ipynb" for name in names]


def pytest_env(setting: str | None) -> dict[str, str]:
    """Our environment, with COURSE_NBVAL set only when asked (CI sets it to strict for the whole suite)."""
    env = {key: value for key, value in os.environ.items() if key not in ("COURSE_NBVAL", "PYTEST_ADDOPTS")}
    if setting is not None:
        env["COURSE_NBVAL"] = setting
    return env


def run_pytest(folder: Path, args: list[str], setting: str | None) -> tuple[int, str, dict[str, str]]:
    """pytest with the course's configuration in `folder`: exit status, output, and each cell's outcome."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(REPO_DIR / "pyproject.toml"),
        "--rootdir",
        str(folder),
        "-p",
        "no:cacheprovider",
        "-rA",
        *args,
    ]
    done = subprocess.run(command, cwd=folder, env=pytest_env(setting), capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    outcomes = {cell: outcome for outcome, cell in re.findall(r"^(PASSED|FAILED) (\S+::Cell \d+)", output, re.M)}
    return done.returncode, output, outcomes


def test_elsewhere_printed_digits_are_not_compared_but_every_claim_is_checked(recorded, tmp_path):
    names = write(tmp_path, recorded, ["digits", "claim"], on=ELSEWHERE)
    status, output, outcomes = run_pytest(tmp_path, ["--nbval", *names], setting=None)
    assert outcomes == {
        "digits.ipynb::Cell 0": "PASSED",
        "digits.ipynb::Cell 1": "PASSED",
        "claim.ipynb::Cell 0": "PASSED",
        "claim.ipynb::Cell 1": "FAILED",
    }, output
    assert status == 1
    assert "notebooks: lax (--nbval-lax)" in output
    assert f"recorded on:  {platform_stamp.describe(ELSEWHERE)}" in output  # the stored platform, named
    assert "this machine: torch " in output  # ... and the current one


@pytest.mark.parametrize(("on", "setting"), [("this platform", None), ("elsewhere", "strict")])
def test_on_the_recording_platform_or_when_asked_every_digit_is_compared(recorded, tmp_path, on, setting):
    if on == "this platform":
        on = platform_stamp.kernel_platform(pytest_env(setting))  # as the kernels that nbval starts see it
    names = write(tmp_path, recorded, ["digits"], on=ELSEWHERE if on == "elsewhere" else on)
    status, output, outcomes = run_pytest(tmp_path, ["--nbval", *names], setting=setting)
    assert outcomes == {"digits.ipynb::Cell 0": "FAILED", "digits.ipynb::Cell 1": "PASSED"}, output
    assert status == 1
    assert "notebooks: strict (--nbval)" in output
    assert EDITED.strip() in output and PRINTED.strip() in output  # nbval shows the stored and the new figure


def test_a_mistyped_setting_stops_pytest_with_what_to_write(tmp_path):
    (tmp_path / "empty.ipynb").write_text(nbformat.writes(new_notebook()))
    status, output, _ = run_pytest(tmp_path, ["--nbval", "empty.ipynb"], setting="sometimes")
    assert status == 4  # pytest's usage error: nothing ran
    assert "COURSE_NBVAL must be strict" in output and "'sometimes'" in output


def test_without_nbval_the_nbval_options_change_nothing(tmp_path):
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    status, output, outcomes = run_pytest(tmp_path, [], setting=None)
    assert status == 0, output
    assert outcomes == {} and "1 passed" in output
    assert "notebooks:" not in output


def test_stamping_changes_only_the_notebooks_metadata(tmp_path):
    nb = new_notebook(cells=[new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")])])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "lesson.ipynb"
    nbformat.write(nb, path)
    before = json.loads(path.read_text())

    assert platform_stamp.main(["stamp", str(path)]) == 0
    after = json.loads(path.read_text())
    stamp = after["metadata"].pop("course")["recorded_on"]
    assert after == before  # cells, outputs and every other metadata field untouched
    assert stamp == platform_stamp.this_platform() == platform_stamp.recorded_platform(path)

    written = path.read_bytes()
    assert platform_stamp.stamp_files([path], stamp) == [f"{path}: already stamped with this platform"]
    assert path.read_bytes() == written


def test_a_notebook_without_a_recorded_platform_is_compared_strictly_and_named():
    here = dict(ELSEWHERE, system="Linux")
    mode, lines = platform_stamp.choose_mode("auto", {Path("a.ipynb"): here, Path("old.ipynb"): None}, here)
    assert mode == "strict"
    assert "no recorded platform in old.ipynb" in lines[-1] and "stamp" in lines[-1]

    mode, lines = platform_stamp.choose_mode("auto", {Path("a.ipynb"): ELSEWHERE, Path("b.ipynb"): here}, here)
    assert mode == "lax"  # one notebook recorded elsewhere is enough: the printed figures may differ
    assert "(a.ipynb)" in lines[1] and "differs in: system: Darwin recorded, Linux here" in lines[2]
