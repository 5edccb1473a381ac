"""JupyterHub for a class on one machine: `make hub` starts it with this file (see "Teaching a class" in README.md).

Every learner signs in with a name of their choice and the class password, and gets their own JupyterLab server
(a local process) whose home is ``<state>/homes/<name>/``: on its first start it receives the course's notebooks
(the student copies, or the full ones), its progress file is ``.course/progress.json`` in that home, and its
kernel is the course's Python. The teacher signs in as ``teacher`` with the teacher password (in the state folder)
and gets the admin page (/hub/admin). The settings, the proxy and `make hub-stop` are in ``course_hub.py``.

Learners' servers all run as the hub's own system user: JupyterHub keeps each learner out of another's server, but
code a learner runs could read the other homes. Real isolation needs a system user per learner (The Littlest
JupyterHub) or a container per learner (Zero to JupyterHub): see hub/README.md.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import course_hub as hub  # noqa: E402  (beside this file)

from course_utils import classroom  # noqa: E402
from course_utils.output_folder import ClassroomError  # noqa: E402
from course_utils.progress_export import HOME_PROGRESS  # noqa: E402

c = get_config()  # noqa: F821  (JupyterHub defines it when it loads this file)


def course_source() -> Path:
    """The folder whose notebooks every learner receives: student copies (built now), the full course, or a folder."""
    choice = hub.notebooks_setting()
    if choice == "full":
        return classroom.NOTEBOOK_DIR
    if choice != "student":
        return choice
    out = hub.STATE / "student"
    try:  # rebuilt at every start (only its own unchanged copies are replaced), so later learners get the current one
        classroom.build_student_copies(out, force=True)
    except ClassroomError as err:
        raise hub.HubSettingError(f"the student copies could not be built: {err}") from None
    return out


SOURCE = course_source()
CLASS_PASSWORD = hub.class_password()
THREADS = hub.threads()

# --- Where learners connect, and the hub's own files ------------------------------------------------------

c.JupyterHub.bind_url = f"http://{hub.IP}:{hub.PORT}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{hub.API_PORT}"
c.ConfigurableHTTPProxy.should_start = False  # course_hub.py runs it, so that it outlives a restart of the hub
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.PROXY_API_PORT}"
c.ConfigurableHTTPProxy.auth_token = hub.proxy_token()
c.JupyterHub.db_url = f"sqlite:///{hub.STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub.STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub.STATE / "jupyterhub.pid")
# Stopping the hub (Ctrl-C) leaves learners' servers, their kernels and open notebooks running; the next start
# finds them in the database. `make hub-stop` (or the admin page's "Stop All") ends them.
c.JupyterHub.cleanup_servers = False

# --- Who may sign in --------------------------------------------------------------------------------------

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = CLASS_PASSWORD
c.SharedPasswordAuthenticator.admin_password = hub.secret_file(hub.STATE / "teacher-password", 32)
c.Authenticator.admin_users = {hub.TEACHER}
c.Authenticator.username_pattern = f"^{hub.NAME}$"
if (allowed := hub.learners_allowed()) is None:
    c.Authenticator.allow_all = True
else:
    c.Authenticator.allowed_users = allowed

# --- Each learner's server ------------------------------------------------------------------------------


def prepare_home(spawner) -> None:  # noqa: ANN001  (a jupyterhub Spawner)
    """Before a learner's server starts: their copy of the course and their progress file's folder."""
    home = Path(spawner.home_dir)
    copied = hub.give_course(home, SOURCE)
    (home / HOME_PROGRESS).parent.mkdir(parents=True, exist_ok=True)
    spawner.log.info("course hub: %s gets %d new notebook(s) in %s", spawner.user.name, len(copied), home)


c.JupyterHub.spawner_class = "simple"  # a local process per learner, each with its own home folder
c.SimpleLocalProcessSpawner.home_dir_template = str(hub.HOMES / "{username}")
c.Spawner.pre_spawn_hook = prepare_home
c.Spawner.cmd = [str(hub.VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/notebooks"
c.Spawner.start_timeout = 180  # a busy classroom machine can take a while to start 30 JupyterLabs
c.Spawner.http_timeout = 180
c.Spawner.environment = {
    "PATH": f"{hub.VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
    "COURSE_DIR": str(hub.REPO),
    "COURSE_LEARNER": lambda spawner: spawner.user.name,
    "COURSE_PROGRESS_FILE": lambda spawner: str(Path(spawner.home_dir) / HOME_PROGRESS),
    "HF_HUB_OFFLINE": "1",
    **({} if THREADS == "0" else {"OMP_NUM_THREADS": THREADS, "MKL_NUM_THREADS": THREADS}),
}
c.Spawner.args = [
    # A server left idle ends itself: kernels idle for 3 hours are shut down, then the server after 1 more hour.
    "--MappingKernelManager.cull_idle_timeout=10800",
    "--MappingKernelManager.cull_interval=300",
    "--ServerApp.shutdown_no_activity_timeout=3600",
    "--LabApp.news_url=",  # a classroom may have no internet: JupyterLab asks for no news and no updates
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),  # containers often run as root
]

where = "<this machine's address>" if hub.IP == "0.0.0.0" else hub.IP
print(
    f"\nThe class's hub: http://{where}:{hub.PORT}"
    f"\n  learners: {'any name' if allowed is None else 'a name on the class list'} and the class password "
    f"{CLASS_PASSWORD}"
    f"\n  teacher:  {hub.TEACHER!r} and the password in {hub.STATE / 'teacher-password'} (admin page: /hub/admin)"
    f"\n  learners' homes: {hub.HOMES}. Ctrl-C stops the hub; learners carry on, and `make hub` brings it back."
    "\n  At the end of the day: Ctrl-C, then `make hub-stop`, then `make hub-collect`.\n",
    flush=True,
)
