"""Quiz progress: every attempt a learner makes, kept in one JSON file a teacher can collect.

The file is ``progress.json`` in the user's data directory (set ``COURSE_PROGRESS_FILE`` to move it) and holds
``{"version": 1, "attempts": [{learner, notebook, question_id, correct, response, timestamp}, ...]}``.
Writes are atomic and locked, so two notebooks answering at once lose nothing. A corrupt file is backed up and
reset; an unwritable location or a read-only file keeps answers in memory for the session. Text that is not valid
Unicode (a lone surrogate, raw bytes) is kept as visible escapes such as ``\\udcff``. Nothing here ever crashes a
notebook.

``python -m course_utils.progress show`` prints your progress;
``python -m course_utils.progress export OUT.csv [PROGRESS.json ...] [--force]`` merges learners' files into one
CSV; ``... collect HOMES OUT_DIR`` gathers them from the learners' homes on the course's hub (see
``course_utils.progress_export``).
"""

from __future__ import annotations

import errno
import getpass
import json
import os
import re
import reprlib
import sys
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from course_utils.safe_files import is_read_only, json_bytes, locked, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

APP_NAME = "transfer-learning-course"
VERSION = 1
NOTEBOOKS = tuple(f"{i:02d}" for i in range(1, 9))
USAGE = (
    "usage: python -m course_utils.progress show | export OUT.csv [PROGRESS.json ...] [--force] "
    "| collect HOMES OUT_DIR [--force]"
)
_FIELDS = {"learner": str, "notebook": str, "question_id": str, "correct": bool, "timestamp": str}
_NOTEBOOK_ID = re.compile(r"[0-9]{2}")  # "01" ... "08"; used with fullmatch, so "01\n" does not pass
_MAX_DEPTH = 100  # a response nested deeper than this is kept as text
_BAR_COLOR = "#0072B2"  # Okabe-Ito blue, as plots.PALETTE[0] (not imported: plots pulls in torch)

# The one piece of module state: attempts that could not be saved yet, per file, and files already warned about.
_UNSAVED: dict[Path, list[dict]] = {}
_WARNED: set[Path] = set()


class ProgressFileError(ValueError):
    """A progress file is not valid JSON or not of the expected shape; the message says where."""


def progress_path() -> Path:
    """The progress file: ``$COURSE_PROGRESS_FILE``, else ``progress.json`` in the user's data directory."""
    if os.environ.get("COURSE_PROGRESS_FILE"):
        return Path(os.environ["COURSE_PROGRESS_FILE"]).expanduser().absolute()
    try:
        from platformdirs import user_data_dir
    except ImportError:
        return Path.home() / ".local" / "share" / APP_NAME / "progress.json"
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "progress.json"


def shown(value: object) -> str:
    """`value` (a path, a reason) as one printable line: control characters and undecodable bytes escaped."""
    text = str(value)
    return text if text.isprintable() else ascii(text)


def _short(value: object) -> str:
    """A learner-written value, quoted and escaped on one line, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _learner() -> str:
    """COURSE_LEARNER, else the JupyterHub user the server runs for (every learner is `jovyan` in a container)."""
    try:
        return os.environ.get("COURSE_LEARNER") or os.environ.get("JUPYTERHUB_USER") or getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _as_text(value: object) -> str:
    """str(value), or a shortened repr where that fails (a list nested too deeply, an integer too long, ...)."""
    for show in (str, reprlib.repr):
        with suppress(Exception):
            return show(value)
    return f"<{type(value).__name__} that cannot be shown as text>"


def _text(value: object) -> str:
    """`value` as text that can be saved as UTF-8: bytes decoded, lone surrogates kept as visible escapes."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    elif not isinstance(value, str):
        value = _as_text(value)
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


_MAX_INT_DIGITS = 4000  # below sys.get_int_max_str_digits()'s default of 4,300


def _jsonable(value: object, depth: int = 0) -> object:
    """`value` as plain JSON: sets become sorted lists, NumPy scalars Python numbers, text safe UTF-8, the rest text."""
    if hasattr(value, "item") and callable(value.item):
        with suppress(Exception):
            value = value.item()
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):  # JSON can hold any int, but Python refuses to write one of over 4,300 digits
        return value if abs(value) < 10**_MAX_INT_DIGITS else f"an integer of over {_MAX_INT_DIGITS} digits"
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (set, frozenset, list, tuple, dict)) and depth >= _MAX_DEPTH:
        return _text(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v, depth + 1) for v in value), key=_as_text)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_text(k): _jsonable(v, depth + 1) for k, v in value.items()}
    return _text(value)


def _problem(attempt: object) -> str | None:
    """What is wrong with one stored attempt, naming the field (None if nothing)."""
    if not isinstance(attempt, dict):
        return "is not an object with learner, notebook, question_id, correct and timestamp"
    for field, kind in _FIELDS.items():
        if not isinstance(attempt.get(field), kind):
            return f"field '{field}' is missing or not {'true/false' if kind is bool else 'text'}"
    if not _NOTEBOOK_ID.fullmatch(attempt["notebook"]):
        return f"field 'notebook' is {_short(attempt['notebook'])}, not two digits like \"01\""
    try:
        datetime.fromisoformat(attempt["timestamp"])
    except ValueError:
        return (
            f"field 'timestamp' is {_short(attempt['timestamp'])}, not an ISO-8601 date-time "
            "like 2024-05-01T09:30:00+00:00"
        )
    return None


def read_attempts(path: Path) -> list[dict]:
    """Attempts stored in `path` ([] if it does not exist), never modifying it; raise ProgressFileError if bad."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return []
    except ValueError as err:  # not UTF-8, not JSON, or a number too long to read
        raise ProgressFileError(f"not valid JSON: {err}") from None
    except RecursionError:
        raise ProgressFileError("not valid JSON: nested too deeply") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("attempts"), list):
        raise ProgressFileError(f'expected {{"version": {VERSION}, "attempts": [...]}}')
    for n, attempt in enumerate(data["attempts"], 1):
        problem = _problem(attempt)
        if problem:
            raise ProgressFileError(f"attempt #{n}: {problem}")
    return [_jsonable(a) for a in data["attempts"]]


def unsaved_attempts(path: Path) -> list[dict]:
    """Attempts of this session that could not be written to `path` yet (kept in memory)."""
    return list(_UNSAVED.get(path, []))


def _warn_once(path: Path, message: str) -> None:
    """Print `message` the first time something goes wrong with `path`, so a notebook is not flooded."""
    if path not in _WARNED:
        _WARNED.add(path)
        print(message)


def _unsaved_message(path: Path, err: Exception) -> str:
    reason = err.strerror if isinstance(err, OSError) and err.strerror else f"{type(err).__name__}: {err}"
    return (
        f"Could not save quiz progress to {shown(path)} ({shown(reason)}). Your answers are kept for this "
        "session only; make the file writable or set COURSE_PROGRESS_FILE to a writable file to keep them."
    )


def _read_or_reset(path: Path) -> list[dict]:
    """Attempts in `path`; a corrupt file is moved to a backup and counts as empty. Call with the lock held.

    A corrupt read-only file is reported and left in place: PermissionError, so answers stay in memory.
    """
    try:
        return read_attempts(path)
    except ProgressFileError as err:
        if is_read_only(path):
            _warn_once(
                path,
                f"Your quiz progress file {shown(path)} could not be read ({shown(err)}) and is "
                "read-only, so it was left as it is. Your answers are kept for this session only; make it "
                "writable or set COURSE_PROGRESS_FILE to another file to keep them.",
            )
            raise PermissionError(errno.EACCES, "the file is read-only", str(path)) from None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
        while backup.exists():
            backup, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        os.replace(path, backup)
        print(
            f"Your quiz progress file {shown(path)} could not be read ({shown(err)}). It was moved to "
            f"{shown(backup)} and a fresh one was started."
        )
        return []


def _attempt(notebook: object, question_id: object, correct: bool, response: object, learner: str | None) -> dict:
    """One attempt as it is stored: safe text everywhere, a notebook id like "01", a UTC timestamp."""
    notebook = _text(notebook)
    return {
        "learner": _text(learner or _learner()),
        "notebook": notebook.zfill(2) if len(notebook) == 1 and notebook in "0123456789" else notebook,
        "question_id": _text(question_id),
        "correct": bool(correct),
        "response": _jsonable(response),
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }


def _check_savable(attempt: dict) -> None:
    """Raise ValueError if `attempt` could not be saved and read back."""
    if not _NOTEBOOK_ID.fullmatch(attempt["notebook"]):
        raise ValueError(f'the notebook id {_short(attempt["notebook"])} is not two digits like "01"')
    try:
        json_bytes(attempt)
    except Exception as err:  # e.g. an integer too long to write out
        raise ValueError(f"its answer cannot be written as JSON: {err}") from None


def record_attempt(
    notebook: str, question_id: str, correct: bool, response: object | None = None, learner: str | None = None
) -> None:
    """Save one quiz attempt (with a UTC timestamp); if the file can't be written, keep it in memory.

    An attempt that cannot be saved at all is dropped with one printed line, so it never blocks later ones.
    """
    path = progress_path()
    try:
        attempt = _attempt(notebook, question_id, correct, response, learner)
        _check_savable(attempt)
    except Exception as err:  # this attempt is dropped, never the ones before or after it
        print(
            f"Your attempt at question {_short(_text(question_id))} of notebook {_short(_text(notebook))} "
            f"was not saved ({shown(err)}). Your other answers are not affected."
        )
        return
    pending = _UNSAVED.setdefault(path, [])
    pending.append(attempt)
    try:
        with locked(path):
            write_json(path, {"version": VERSION, "attempts": _read_or_reset(path) + pending})
        pending.clear()  # saved, with any attempts an earlier failure left behind
    except Exception as err:  # whatever goes wrong, the notebook carries on and the answers stay in memory
        _warn_once(path, _unsaved_message(path, err))


def load_progress(path: Path | str | None = None) -> dict:
    """All attempts so far, ``{"version": 1, "attempts": [...]}``, oldest first (default: your own file)."""
    path = Path(path).expanduser().absolute() if path else progress_path()
    try:
        try:
            attempts = read_attempts(path)
        except ProgressFileError:
            with locked(path):
                attempts = _read_or_reset(path)
    except OSError as err:
        _warn_once(path, _unsaved_message(path, err))
        attempts = []
    return {"version": VERSION, "attempts": attempts + unsaved_attempts(path)}


def _summarize(notebook: str, question_ids: list[str], attempts: list[dict]) -> dict:
    ids = list(dict.fromkeys(question_ids))
    latest: dict[str, bool] = {}
    n_attempts = 0
    for a in attempts:  # oldest first, so the last one seen is the latest
        if a["notebook"] == notebook and a["question_id"] in ids:
            latest[a["question_id"]] = a["correct"]
            n_attempts += 1
    n_correct = sum(latest.values())
    return {
        "notebook": notebook,
        "questions": len(ids),
        "answered": len(latest),
        "correct": n_correct,
        "attempts": n_attempts,
        "score": n_correct / len(ids) if ids else 0.0,
    }


def notebook_summary(notebook: str, question_ids: list[str]) -> dict:
    """Questions answered, right on the latest attempt, attempts made, and score (fraction right)."""
    return _summarize(notebook, question_ids, load_progress()["attempts"])


def _bank_ids() -> dict[str, list[str]]:
    """Question ids of every quiz bank that exists and loads."""
    from course_utils import quiz

    banks = {}
    for nb in NOTEBOOKS:
        path = quiz.bank_path(nb)
        if path.exists():
            try:
                banks[nb] = [q.id for q in quiz.load_bank(path).questions]
            except quiz.QuizBankError:
                print(f"(The quiz bank {path.name} could not be read; notebook {nb} is counted from your answers.)")
    return banks


def _summaries(banks: dict[str, list[str]] | None, attempts: list[dict]) -> list[dict]:
    """One summary per notebook 01-08 (and any other in `banks`); a notebook without a bank counts answered ids."""
    banks = _bank_ids() if banks is None else banks
    rows = []
    for nb in sorted(set(NOTEBOOKS) | set(banks)):
        ids = banks.get(nb) or [a["question_id"] for a in attempts if a["notebook"] == nb]
        rows.append(_summarize(nb, ids, attempts))
    return rows


def _print_table(rows: list[dict]) -> None:
    print(f"{'notebook':>8} {'questions':>9} {'answered':>8} {'correct':>7} {'attempts':>8} {'score':>6}")
    for r in rows:
        print(
            f"{r['notebook']:>8} {r['questions']:>9} {r['answered']:>8} {r['correct']:>7} {r['attempts']:>8} "
            f"{r['score']:>6.0%}"
        )


def dashboard(banks: dict[str, list[str]] | None = None) -> Figure | None:
    """Print a table and draw a bar chart of your quiz progress per notebook; None if nothing is recorded yet.

    `banks` maps notebook ("01") to its question ids; by default they come from ``data/quizzes/``.
    """
    attempts = load_progress()["attempts"]
    if not attempts:
        print("No quiz answers recorded yet. Answer a quiz in any notebook and your progress will show up here.")
        return None
    import matplotlib.pyplot as plt

    rows = _summaries(banks, attempts)
    _print_table(rows)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bars = ax.bar([r["notebook"] for r in rows], [r["score"] for r in rows], color=_BAR_COLOR)
    ax.bar_label(bars, labels=[f"{r['correct']}/{r['questions']}" for r in rows], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("notebook")
    ax.set_ylabel("questions right (fraction)")
    ax.set_title("Quiz progress: questions right on the latest attempt")
    fig.tight_layout()
    return fig


def export_csv(path: Path | str, progress_file: Path | str | None = None, force: bool = False) -> int:
    """Write every attempt (yours by default) as CSV for a teacher; return the number of rows.

    Raises ``progress_export.ExportError``, writing nothing, if `path` would overwrite a file it must not.
    """
    from course_utils import progress_export

    return progress_export.export_csv(path, progress_file, force)


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.progress show``, ``... export OUT.csv [PROGRESS.json ...]`` or ``... collect``."""
    args = sys.argv[1:] if argv is None else argv
    if args == ["show"]:
        progress = load_progress()
        print(f"Progress file: {shown(progress_path())} ({len(progress['attempts'])} attempts)")
        _print_table(_summaries(None, progress["attempts"]))
        return 0
    if args[:1] == ["export"]:
        from course_utils import progress_export

        return progress_export.main(args[1:])
    if args[:1] == ["collect"]:
        from course_utils import progress_export

        return progress_export.collect_main(args[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
