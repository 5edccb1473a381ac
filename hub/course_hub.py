"""The class's hub on one machine: its settings, its proxy, its learners' servers (`make hub`, `make hub-stop`).

    python hub/course_hub.py         # start the proxy (or keep the one running), then JupyterHub in the foreground
    python hub/course_hub.py stop    # end of the day, after Ctrl-C on the hub: stop the learners' servers and the proxy

The proxy (configurable-http-proxy) runs apart from the hub, as on Kubernetes: stopping and starting the hub in the
middle of a class (Ctrl-C, then `make hub`) goes unnoticed by learners, whose pages keep talking to their servers
through the proxy; the hub finds their servers in its database and their routes in the proxy when it is back.
`jupyterhub_config.py` takes its settings from here. Everything is kept in the state folder (COURSE_HUB_DIR).

Settings, all optional (`make hub` passes its variables through them):

    COURSE_HUB_DIR          the state folder (default hub/state): database, passwords, learners' homes
    COURSE_HUB_IP           the address learners connect to (default 127.0.0.1; 0.0.0.0 serves a classroom network)
    COURSE_HUB_PORT         its port (default 8000)
    COURSE_HUB_API_PORT     the hub's own port, on 127.0.0.1 (default 8081)
    COURSE_HUB_PROXY_API_PORT  the proxy's control port, on 127.0.0.1 (default 8001)
    COURSE_HUB_NOTEBOOKS    student (default), full, or a folder of notebooks to hand out instead
    COURSE_HUB_PASSWORD     the class password (default: made up once and kept in <state>/class-password)
    COURSE_HUB_LEARNERS     a file with one learner name a line: only they may sign in (default: any name)
    COURSE_HUB_THREADS      torch threads per learner (default 1: a class shares the cores; 0 lets torch choose)
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HUB = Path(__file__).resolve().parent
REPO = HUB.parent
VENV_BIN = Path(sys.executable).parent  # the course's .venv: it runs the hub, the proxy's launcher, every learner
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
CONFIG = HUB / "jupyterhub_config.py"
TEACHER = "teacher"
NAME = r"[a-z0-9][a-z0-9_.-]{0,31}"  # a learner's name is also a folder name: no '/', no '..', no spaces


class HubSettingError(SystemExit):
    """A setting the hub cannot start with; the message says which and what to set."""

    def __init__(self, message: str) -> None:
        super().__init__(f"course hub: {message}")


def setting(name: str, default: str) -> str:
    """The environment variable `name`, stripped, or `default` when it is unset or empty."""
    return os.environ.get(name, "").strip() or default


def port(name: str, default: int) -> int:
    """A port number from the environment."""
    raw = setting(name, str(default))
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise HubSettingError(f"{name}={raw!r} is not a port number (1-65535); set it to e.g. {default}.")
    return int(raw)


def ip() -> str:
    """The address learners connect to."""
    raw = setting("COURSE_HUB_IP", "127.0.0.1")
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise HubSettingError(f"COURSE_HUB_IP={raw!r} is not an IP address; use 127.0.0.1 or 0.0.0.0.") from None
    return raw


STATE = Path(setting("COURSE_HUB_DIR", str(HUB / "state"))).expanduser().absolute()
HOMES = STATE / "homes"
IP = ip()
PORT = port("COURSE_HUB_PORT", 8000)
API_PORT = port("COURSE_HUB_API_PORT", 8081)
PROXY_API_PORT = port("COURSE_HUB_PROXY_API_PORT", 8001)
PROXY_PID = STATE / "proxy.pid"


def secret_file(path: Path, length: int) -> str:
    """The secret kept in `path`, made up (and saved, readable by this user only) the first time."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(length) + "\n", encoding="utf-8")
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise HubSettingError(f"{path} is empty; delete it to get a new one, or write one into it.")
    return secret


def class_password() -> str:
    """COURSE_HUB_PASSWORD, or the one made up for this class."""
    password = setting("COURSE_HUB_PASSWORD", "") or secret_file(STATE / "class-password", 9)
    if len(password) < 8:
        raise HubSettingError("the class password must have at least 8 characters; choose a longer one.")
    return password


def learners_allowed() -> set[str] | None:
    """The names in COURSE_HUB_LEARNERS' file, or None (any name may sign in)."""
    raw = setting("COURSE_HUB_LEARNERS", "")
    if not raw:
        return None
    try:
        lines = Path(raw).expanduser().read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise HubSettingError(f"cannot read the class list {raw} ({err.strerror}); fix COURSE_HUB_LEARNERS.") from None
    names = {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}
    if bad := sorted(n for n in names if not re.fullmatch(NAME, n)):
        raise HubSettingError(
            f"{raw} lists {bad[0]!r}, which cannot be a learner's name: use lower-case letters, digits, '.', '_' "
            "or '-' (at most 32 characters, starting with a letter or digit)."
        )
    return names


def threads() -> str:
    """COURSE_HUB_THREADS: torch threads per learner, "0" for torch's own choice."""
    value = setting("COURSE_HUB_THREADS", "1")
    if not value.isdigit():
        raise HubSettingError(f"COURSE_HUB_THREADS={value!r} is not a whole number (0 lets torch choose).")
    return value


def notebooks_setting() -> str | Path:
    """COURSE_HUB_NOTEBOOKS: "student", "full", or the folder of notebooks to hand out."""
    choice = setting("COURSE_HUB_NOTEBOOKS", "student")
    if choice in ("student", "full"):
        return choice
    folder = Path(choice).expanduser().absolute()
    if not any(folder.glob("*.ipynb")):
        raise HubSettingError(f"COURSE_HUB_NOTEBOOKS={choice!r} is not student, full, or a folder holding notebooks.")
    return folder


def give_course(home: Path, source: Path) -> list[Path]:
    """Copy each notebook of `source` into ``home/notebooks`` unless the learner already has one of that name.

    A learner's own edits are never overwritten; a notebook they deleted comes back on their next start.
    """
    from course_utils.safe_files import write_atomic

    folder = home / "notebooks"
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for notebook in sorted(source.glob("*.ipynb")):
        target = folder / notebook.name
        if not target.exists() and not target.is_symlink():
            write_atomic(target, notebook.read_bytes(), mode=0o644)
            copied.append(target)
    return copied


# --- The proxy, apart from the hub --------------------------------------------------------------------------


def _command_line(pid: int) -> str | None:
    """The command line of process `pid`, or None if there is none."""
    done = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
    return done.stdout.strip() or None if done.returncode == 0 else None


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


def _end(pid: int, what: str) -> None:
    """SIGTERM, then SIGKILL after 10 s, to process `pid` if its command line still holds `what`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        line = _command_line(pid)
        if not line or what not in line:
            return
        os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _command_line(pid):
            time.sleep(0.2)


def proxy_command() -> list[str]:
    return [
        str(PROXY),
        *("--ip", IP, "--port", str(PORT), "--api-ip", "127.0.0.1", "--api-port", str(PROXY_API_PORT)),
        *("--error-target", f"http://127.0.0.1:{API_PORT}/hub/error", "--log-level", "warn"),
    ]


def proxy_token() -> str:
    return secret_file(STATE / "proxy-token", 32)


def start_proxy() -> None:
    """Start the proxy, unless the one this state folder started is running with the same ports."""
    if not PROXY.exists():
        raise HubSettingError(f"{PROXY} is missing; run `make hub-deps` (it needs Node.js's npm) first.")
    command = proxy_command()
    pid = _pid(PROXY_PID)
    if pid and (line := _command_line(pid)) and str(PROXY) in line:
        if line.endswith(" ".join(command[1:])):
            print(f"course hub: the proxy is running (pid {pid}), learners' pages stay connected.", flush=True)
            return
        _end(pid, str(PROXY))  # started with other ports: start it again with these
    env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": proxy_token()}
    with (STATE / "proxy.log").open("a") as log:
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    PROXY_PID.write_text(f"{proc.pid}\n", encoding="utf-8")
    request = urllib.request.Request(
        f"http://127.0.0.1:{PROXY_API_PORT}/api/routes", headers={"Authorization": f"token {proxy_token()}"}
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(request, timeout=2).close()
            return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = (STATE / "proxy.log").read_text(errors="replace")[-1500:]
                why = f"the proxy did not start (is port {PORT} or {PROXY_API_PORT} taken?):\n{tail}"
                raise HubSettingError(why) from None
            time.sleep(0.3)


# --- Start and stop ------------------------------------------------------------------------------------------


def learner_servers() -> dict[str, int]:
    """{learner: pid} of the servers the hub's database says are running."""
    db = STATE / "jupyterhub.sqlite"
    if not db.exists():
        return {}
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("select users.name, spawners.state from spawners join users on users.id = spawners.user_id")
        found = {name: json.loads(state or "{}").get("pid") for name, state in rows}
    return {name: pid for name, pid in found.items() if isinstance(pid, int) and pid > 0}


def stop() -> int:
    """Stop every learner's server (their kernels with them) and the proxy; refuse while the hub runs."""
    hub_pid = _pid(STATE / "jupyterhub.pid")
    if hub_pid and (line := _command_line(hub_pid)) and "jupyterhub" in line:
        print(f"course hub: the hub is running (pid {hub_pid}); stop it first (Ctrl-C where it runs).", file=sys.stderr)
        return 1
    servers = learner_servers()
    for name, pid in sorted(servers.items()):
        _end(pid, "jupyterhub-singleuser")
        print(f"stopped {name}'s server")
    if pid := _pid(PROXY_PID):
        _end(pid, str(PROXY))
        PROXY_PID.unlink(missing_ok=True)
        print("stopped the proxy")
    print(f"course hub: stopped. Learners' homes and progress are kept in {HOMES}.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["stop"]:
        return stop()
    if args:
        print("usage: python hub/course_hub.py [stop]", file=sys.stderr)
        return 2
    HOMES.mkdir(parents=True, exist_ok=True)
    class_password(), learners_allowed(), threads(), notebooks_setting()  # a bad setting stops here, not the proxy
    start_proxy()
    jupyterhub = VENV_BIN / "jupyterhub"
    os.execv(jupyterhub, [str(jupyterhub), "-f", str(CONFIG)])  # the hub in the foreground: Ctrl-C stops it


if __name__ == "__main__":
    sys.exit(main())
