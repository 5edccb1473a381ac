"""The course in a real browser: JupyterLab in headless Chromium runs a notebook, and a learner answers its quiz.

JupyterLab is started on 127.0.0.1 with a token and throw-away config, runtime and progress locations. Chromium is
Debian's (`make browser` installs it; nothing is downloaded by a test tool), driven by the `playwright` package.
The notebook is notebook 01's set-up cells and its quiz cell, so the test exercises the real imports, the real quiz
bank and the real widget without re-running the lesson's experiments (nbval does that). On failure a screenshot is
saved in `build/test-artifacts/`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from course_utils.paths import REPO_DIR
from course_utils.quiz import bank_path, load_bank

CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_DIR / "build" / "test-artifacts"
NOTEBOOK = REPO_DIR / "notebooks" / "01_what_is_transfer_learning.ipynb"

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    sync_playwright = None


def _missing() -> str | None:
    """Why the browser test cannot run here, or None."""
    if sync_playwright is None:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}: run `make browser` (Debian: apt-get install chromium)"
    return None


_MISSING = _missing()
if _MISSING and os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"The browser test is required here (COURSE_REQUIRE_BROWSER=1) but {_MISSING}.")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _test_notebook(path: Path) -> None:
    """Notebook 01's cells before its first numbered section (set-up), then its quiz cell."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first_section = next(
        i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## 1.")
    )
    quiz = [c for c in nb.cells if c.cell_type == "code" and "show_quiz(" in c.source]
    assert quiz, "notebook 01 has no quiz cell"
    cells = [c for c in nb.cells[:first_section] if c.cell_type == "code"] + quiz
    for c in cells:
        c.outputs, c.execution_count = [], None
    nb.cells = [nbformat.v4.new_markdown_cell("# Browser check")] + cells
    nbformat.write(nb, path)


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on a free localhost port, with a token, serving a folder holding the test notebook."""
    root = tmp_path / "root"
    root.mkdir()
    _test_notebook(root / "browser_check.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    progress = tmp_path / "progress.json"
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "COURSE_PROGRESS_FILE": str(progress),
        "COURSE_LEARNER": "browser-test",
        "HF_HUB_OFFLINE": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = tmp_path / "jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", proc, log)
        yield {
            "url": f"http://127.0.0.1:{port}/lab/tree/browser_check.ipynb?token={token}",
            "progress": progress,
            "log": log,
        }
    finally:  # stop the server, and the kernels it started, by the process group of its PID
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _first_single_choice_question():
    bank = load_bank(bank_path("01"))
    question = next(q for q in bank.questions if q.type == "single")
    right = next(i for i, o in enumerate(question.options) if o.correct)
    wrong = next(i for i, o in enumerate(question.options) if not o.correct)
    return question, wrong, right


def test_run_all_then_answer_the_quiz_wrong_then_right(jupyterlab):
    question, wrong, right = _first_single_choice_question()
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(jupyterlab["url"], timeout=90_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            # Run All only once the kernel is connected and idle: earlier, JupyterLab may drop the request.
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=90_000)
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()

            # The quiz's first single-choice card: its toggle buttons, its Check button, its feedback.
            toggles = page.locator(".widget-toggle-buttons").first
            toggles.wait_for(state="visible", timeout=180_000)
            card = toggles.locator("xpath=..")
            check = card.locator("button", has_text="Check")
            feedback = card.locator(".widget-html").last

            toggles.locator("button").nth(wrong).click()
            check.click()
            page.wait_for_function(
                "el => el.innerText.includes('Not quite')", arg=feedback.element_handle(), timeout=30_000
            )
            wrong_text = feedback.inner_text()
            toggles.locator("button").nth(right).click()
            check.click()
            page.wait_for_function(
                "el => el.innerText.includes('Right')", arg=feedback.element_handle(), timeout=30_000
            )
            right_text = feedback.inner_text()
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / "browser-failure.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}\nJupyterLab log:\n{jupyterlab['log'].read_text()[-3000:]}")
            raise
        finally:
            browser.close()
    print(f"browser test: {time.monotonic() - started:.1f} s from page load to the second answer")

    assert "Not quite" in wrong_text
    assert question.options[wrong].explanation.split()[0] in wrong_text  # the chosen option's explanation
    assert "Right" in right_text
    saved = json.loads(jupyterlab["progress"].read_text())["attempts"]
    attempts = [(a["notebook"], a["correct"], a["response"]) for a in saved if a["question_id"] == question.id]
    assert attempts == [("01", False, wrong), ("01", True, right)]
    assert {a["learner"] for a in saved} == {"browser-test"}
