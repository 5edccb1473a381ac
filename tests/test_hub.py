"""The course served to a class by JupyterHub (`make hub`): three learners in real browsers, a restart, the export.

The hub is started from ``hub/jupyterhub_config.py`` as `make hub` starts it, on 127.0.0.1 with free ports, its
state (database, homes) in a temporary folder and a class password. It hands out notebook 01's set-up cells and its
quiz cell (as the browser test does) under notebook 01's name. Three learners sign in, each in their own headless
Chromium context (Debian's chromium, driven by `playwright`; `make test-hub` installs the hub with `make hub-deps`),
run the notebook in their own server and answer the quiz wrong, then right. Then:

- no learner can open another's files or server through the hub;
- the teacher's `collect` and `export` give exactly those attempts, by learner;
- the hub is stopped and started again: while it is down a learner answers again in her open page and the answer is
  saved; once it is back, the learners' servers, kernels and progress are the same;
- `make hub-stop` then ends every learner's server and the proxy.

Every process the test starts (hub, proxy, learners' servers, their kernels) is ended afterwards, even on failure:
they all carry the state folder in their environment. On failure a screenshot is saved in `build/test-artifacts/`.
"""

from __future__ import annotations

import contextlib
import csv
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from course_utils.paths import REPO_DIR
from course_utils.progress import read_attempts
from course_utils.progress_export import HOME_PROGRESS
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, _first_single_choice_question, _free_port, _test_notebook

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    sync_playwright = None

JUPYTERHUB = Path(sys.executable).parent / "jupyterhub"
MAKE_HUB = [sys.executable, str(REPO_DIR / "hub" / "course_hub.py")]  # what `make hub` runs
PROXY = REPO_DIR / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
ARTIFACTS = REPO_DIR / "build" / "test-artifacts"
LEARNERS = ("ana", "ben", "chloe")
NOTEBOOK = "01_what_is_transfer_learning.ipynb"
PROGRESS = HOME_PROGRESS  # a learner's progress file, in their home


def _missing() -> str | None:
    """Why the hub test cannot run here, or None."""
    if sync_playwright is None:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM}: run `make browser` (Debian: apt-get install chromium)"
    if not JUPYTERHUB.exists():
        return "JupyterHub is not installed: run `make hub-deps`"
    if not PROXY.exists() or shutil.which("node") is None:
        return "the hub's proxy is not installed (it needs Node.js): run `make hub-deps`"
    return None


_MISSING = _missing()
if _MISSING and os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
    raise RuntimeError(f"The hub test is required here (COURSE_REQUIRE_BROWSER=1) but {_MISSING}.")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _processes_of(state: Path) -> list[psutil.Process]:
    """Every process of the hub whose state is in `state`: the hub and its proxy, the learners' servers, kernels."""
    homes = str(state / "homes") + os.sep
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            env = proc.environ()
            if env.get("COURSE_HUB_DIR") == str(state) or env.get("HOME", "").startswith(homes):
                found.append(proc)
    return found


class Hub:
    """The class's hub as `make hub` runs it, in the foreground of no terminal: start, stop, start again."""

    def __init__(self, state: Path, notebooks: Path) -> None:
        self.state, self.port, self.proc = state, _free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(12)
        self.log = state.parent / "hub.log"
        self.env = {
            **os.environ,
            "COURSE_HUB_DIR": str(state),
            "COURSE_HUB_PORT": str(self.port),
            "COURSE_HUB_API_PORT": str(_free_port()),
            "COURSE_HUB_PROXY_API_PORT": str(_free_port()),
            "COURSE_HUB_NOTEBOOKS": str(notebooks),
            "COURSE_HUB_PASSWORD": self.password,
        }

    def start(self) -> None:
        with self.log.open("a") as out:
            self.proc = subprocess.Popen(
                MAKE_HUB,
                env=self.env,
                cwd=self.state.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.proc.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/hub/api/", timeout=2) as answer:
                if answer.status == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the hub did not answer within 90 s:\n{self.tail()}")

    def stop(self) -> None:
        """Stop the hub as Ctrl-C does; the proxy and the learners' servers keep running."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def hub(tmp_path):
    """A running hub handing out notebook 01's set-up and quiz; every process it started is ended afterwards."""
    notebooks = tmp_path / "handout"
    notebooks.mkdir()
    _test_notebook(notebooks / NOTEBOOK)
    state = tmp_path / "state"
    the_hub = Hub(state, notebooks)
    try:
        the_hub.start()
        yield the_hub
    finally:
        procs = _processes_of(state)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=15)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(alive, timeout=10)


def _sign_in(page, hub: Hub, name: str) -> None:
    """Sign `name` in with the class password; the hub then starts their server (not waited for here)."""
    page.goto(f"{hub.url}/hub/login", timeout=60_000)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", hub.password)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url("**/hub/spawn-pending/**", timeout=60_000)


def _run_notebook(page, hub: Hub, name: str) -> None:
    """Open the learner's notebook 01 in their own JupyterLab and Run All once the kernel is idle."""
    page.wait_for_url(f"**/user/{name}/lab**", timeout=180_000)  # the hub sends them on once the server is up
    page.goto(f"{hub.url}/user/{name}/lab/tree/notebooks/{NOTEBOOK}", timeout=120_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").first.wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator('li.lm-Menu-item[data-command="runmenu:run-all"]').click()


def _answer(page, option: int, expected: str) -> str:
    """Pick `option` on the quiz's first single-choice card, press Check, and return the feedback once it shows."""
    toggles = page.locator(".widget-toggle-buttons").first
    toggles.wait_for(state="visible", timeout=180_000)
    card = toggles.locator("xpath=..")
    feedback = card.locator(".widget-html").last
    toggles.locator("button").nth(option).click()
    card.locator("button", has_text="Check").click()
    page.wait_for_function(
        "([el, text]) => el.innerText.includes(text)", arg=[feedback.element_handle(), expected], timeout=60_000
    )
    return feedback.inner_text()


def _server_pid(state: Path, name: str) -> int:
    """The process id of `name`'s single-user server."""
    home = str(state / "homes" / name)
    for proc in _processes_of(state):
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("HOME") == home and "jupyterhub-singleuser" in " ".join(proc.cmdline()):
                return proc.pid
    raise AssertionError(f"no server is running for {name}")


def _kernels(context, hub: Hub, name: str) -> list[str]:
    answer = context.request.get(f"{hub.url}/user/{name}/api/kernels")
    assert answer.status == 200, f"{name} cannot reach their own server: {answer.status}"
    return sorted(k["id"] for k in answer.json())


def _wait_for_attempts(path: Path, count: int, timeout: float = 30) -> None:
    """Wait until the progress file `path` holds `count` attempts (the widget saves them as the kernel runs)."""
    deadline = time.monotonic() + timeout
    while len(read_attempts(path)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} holds {len(read_attempts(path))} attempts after {timeout:.0f} s, not {count}")
        time.sleep(0.5)


def _export(hub: Hub, out: Path) -> list[dict]:
    """The teacher's two commands: collect the homes' progress files, then export them; the CSV's rows."""
    teacher = {**os.environ, "COURSE_PROGRESS_FILE": str(out / "teacher.json")}
    collected, csv_file = out / "collected", out / f"class-{len(list(out.glob('*.csv')))}.csv"
    progress = [sys.executable, "-m", "course_utils.progress"]
    done = subprocess.run(
        [*progress, "collect", str(hub.state / "homes"), str(collected)], env=teacher, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(map(str, collected.glob("*.json")))
    done = subprocess.run([*progress, "export", str(csv_file), *files], env=teacher, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with csv_file.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _rows(rows: list[dict]) -> list[tuple]:
    return sorted((r["learner"], r["notebook"], r["question_id"], r["correct"], r["response"]) for r in rows)


def test_a_class_of_three_answers_the_quiz_and_a_restart_loses_nothing(hub, tmp_path):
    question, wrong, right = _first_single_choice_question()
    started = time.monotonic()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        contexts = {name: browser.new_context(viewport={"width": 1400, "height": 1000}) for name in LEARNERS}
        pages = {name: context.new_page() for name, context in contexts.items()}
        current = None
        try:
            for current in LEARNERS:  # all three sign in: their servers start side by side
                _sign_in(pages[current], hub, current)
            for current in LEARNERS:  # their kernels run the set-up side by side
                _run_notebook(pages[current], hub, current)
            feedback = {}
            for current in LEARNERS:
                feedback[current] = (
                    _answer(pages[current], wrong, "Not quite"),
                    _answer(pages[current], right, "Right"),
                )
            current = None

            # Nobody reaches another learner's server or files: the hub refuses, though the owner gets them.
            owner, other = contexts["ben"], contexts["ana"]
            for path in (f"files/notebooks/{NOTEBOOK}", "api/contents/notebooks", "api/kernels"):
                url = f"{hub.url}/user/ben/{path}"
                assert owner.request.get(url).status == 200, f"ben cannot open his own {path}"
                answer = other.request.get(url)
                assert answer.status == 403, f"ana opened ben's {path}: {answer.status}"
                assert "Right" not in answer.text() and '"cells"' not in answer.text()
            page = pages["ana"]
            page.goto(f"{hub.url}/user/ben/lab/tree/notebooks/{NOTEBOOK}", timeout=60_000)
            assert "403" in page.content() and "/user/ben/lab" not in page.url.split("?")[0]

            class_csv = _export(hub, tmp_path / "teacher")
            servers = {name: _server_pid(hub.state, name) for name in LEARNERS}
            kernels = {name: _kernels(contexts[name], hub, name) for name in LEARNERS}

            # The teacher stops the hub mid-class and starts it again.
            hub.stop()
            assert {name: _server_pid(hub.state, name) for name in LEARNERS} == servers, "a server did not survive"
            current = "chloe"  # meanwhile she carries on in her open page: her answer reaches her kernel and is saved
            _answer(pages[current], right, "Right")
            _wait_for_attempts(hub.state / "homes" / current / PROGRESS, 3)
            current = None
            hub.start()
            assert {name: _kernels(contexts[name], hub, name) for name in LEARNERS} == kernels, "a kernel was lost"
            after_restart = _export(hub, tmp_path / "teacher")

            # The end of the day: Ctrl-C, then `make hub-stop` ends every learner's server and the proxy.
            hub.stop()
            done = subprocess.run([*MAKE_HUB, "stop"], env=hub.env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stdout + done.stderr
            assert not [p for p in _processes_of(hub.state) if p.is_running() and p.status() != "zombie"]
        except Exception:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shot = ARTIFACTS / f"hub-failure-{current or 'class'}.png"
            with contextlib.suppress(Exception):
                pages[current or "ana"].screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}\nhub log:\n{hub.tail()}")
            raise
        finally:
            browser.close()
    print(f"hub test: {time.monotonic() - started:.1f} s from the first sign-in to the last export")

    for name, (wrong_text, right_text) in feedback.items():
        assert "Not quite" in wrong_text and "Right" in right_text, name
    attempts = [
        (name, "01", question.id, correct, str(response))
        for name in LEARNERS
        for correct, response in [("false", wrong), ("true", right)]
    ]
    assert _rows(class_csv) == sorted(attempts)
    assert _rows(after_restart) == sorted([*attempts, ("chloe", "01", question.id, "true", str(right))])
    for name in LEARNERS:  # each attempt in its own learner's home
        saved = (hub.state / "homes" / name / PROGRESS).read_text(encoding="utf-8")
        assert all(other not in saved for other in LEARNERS if other != name)


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("COURSE_HUB_PASSWORD", "short", "at least 8 characters"),
        ("COURSE_HUB_IP", "my-laptop", "not an IP address"),
        ("COURSE_HUB_NOTEBOOKS", "nowhere", "not student, full, or a folder"),
        ("COURSE_HUB_PORT", "80000", "not a port number"),
    ],
)
def test_the_hub_refuses_a_bad_setting_with_a_message(tmp_path, setting, value, says):
    """Before anything starts: no proxy or hub is left running (the fixture-less test would leave them)."""
    env = {
        **os.environ,
        "COURSE_HUB_DIR": str(tmp_path / "state"),
        "COURSE_HUB_PORT": str(_free_port()),
        setting: value,
    }
    done = subprocess.run(MAKE_HUB, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert says in done.stdout + done.stderr
    assert not (tmp_path / "state" / "proxy.pid").exists()
