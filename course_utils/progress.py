"""Quiz progress: every attempt a learner makes, kept in one JSON file a teacher can collect.

The file is ``progress.json`` in the user's data directory (set ``COURSE_PROGRESS_FILE`` to move it) and holds
``{"version": 1, "attempts": [{learner, notebook, question_id, correct, response, timestamp}, ...]}``.
Writes are atomic and locked, so two notebooks answering at once lose nothing. A corrupt file is backed up and
reset; an unwritable location keeps answers in memory for the session. Nothing here ever crashes a notebook.

``python -m course_utils.progress show`` prints your progress;
``python -m course_utils.progress export OUT.csv [PROGRESS.json ...]`` merges learners' files into one CSV.
"""

from __future__ import annotations

import csv
import getpass
import json
import os
import sys
from contextlib import suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from course_utils.safe_files import locked, write_json

if TYPE_CHECKING:
    from matplotlib.figure import Figure

APP_NAME = "transfer-learning-course"
VERSION = 1
NOTEBOOKS = tuple(f"{i:02d}" for i in range(1, 9))
CSV_COLUMNS = ("learner", "notebook", "question_id", "correct", "response", "timestamp")
_FIELDS = {"learner": str, "notebook": str, "question_id": str, "correct": bool, "timestamp": str}
_BAR_COLOR = "#0072B2"  # Okabe-Ito blue, as plots.PALETTE[0] (not imported: plots pulls in torch)

# The one piece of module state: attempts that could not be saved yet, per file, and files already warned about.
_UNSAVED: dict[Path, list[dict]] = {}
_WARNED: set[Path] = set()


class _Corrupt(ValueError):
    """The progress file is not valid JSON or not of the expected shape."""


def progress_path() -> Path:
    """The progress file: ``$COURSE_PROGRESS_FILE``, else ``progress.json`` in the user's data directory."""
    if os.environ.get("COURSE_PROGRESS_FILE"):
        return Path(os.environ["COURSE_PROGRESS_FILE"]).expanduser().absolute()
    try:
        from platformdirs import user_data_dir
    except ImportError:
        return Path.home() / ".local" / "share" / APP_NAME / "progress.json"
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "progress.json"


def _learner() -> str:
    try:
        return os.environ.get("COURSE_LEARNER") or getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _jsonable(value: object) -> object:
    """The response as plain JSON: sets become sorted lists, NumPy scalars Python numbers, the rest text."""
    if hasattr(value, "item") and callable(value.item):
        with suppress(TypeError, ValueError):
            value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _read_attempts(path: Path) -> list[dict]:
    """Attempts stored in `path` ([] if it does not exist); raise _Corrupt on bad content."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return []
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _Corrupt(f"not valid JSON: {err}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("attempts"), list):
        raise _Corrupt(f'expected {{"version": {VERSION}, "attempts": [...]}}')
    for n, attempt in enumerate(data["attempts"], 1):
        if not isinstance(attempt, dict) or any(not isinstance(attempt.get(k), t) for k, t in _FIELDS.items()):
            raise _Corrupt(f"attempt #{n} lacks one of {', '.join(_FIELDS)}")
    return data["attempts"]


def _read_or_reset(path: Path) -> list[dict]:
    """Attempts in `path`; a corrupt file is moved to a backup and counts as empty. Call with the lock held."""
    try:
        return _read_attempts(path)
    except _Corrupt as err:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        backup, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
        while backup.exists():
            backup, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
        os.replace(path, backup)
        print(f"Your quiz progress file {path} could not be read ({err}). It was moved to {backup} "
              "and a fresh one was started.")
        return []


def _warn_once(path: Path, err: OSError) -> None:
    if path not in _WARNED:
        _WARNED.add(path)
        print(f"Could not save quiz progress to {path} ({err.strerror or err}). Your answers are kept for this "
              "session only; set COURSE_PROGRESS_FILE to a writable file to keep them.")


def record_attempt(
    notebook: str, question_id: str, correct: bool, response: object | None = None, learner: str | None = None
) -> None:
    """Save one quiz attempt (with a UTC timestamp); if the file can't be written, keep it in memory."""
    path = progress_path()
    pending = _UNSAVED.setdefault(path, [])
    pending.append({
        "learner": learner or _learner(),
        "notebook": str(notebook),
        "question_id": str(question_id),
        "correct": bool(correct),
        "response": _jsonable(response),
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
    })
    try:
        with locked(path):
            write_json(path, {"version": VERSION, "attempts": _read_or_reset(path) + pending})
        pending.clear()  # saved, with any attempts an earlier failure left behind
    except OSError as err:
        _warn_once(path, err)


def load_progress(path: Path | str | None = None) -> dict:
    """All attempts so far, ``{"version": 1, "attempts": [...]}``, oldest first (default: your own file)."""
    path = Path(path).expanduser().absolute() if path else progress_path()
    try:
        try:
            attempts = _read_attempts(path)
        except _Corrupt:
            with locked(path):
                attempts = _read_or_reset(path)
    except OSError as err:
        _warn_once(path, err)
        attempts = []
    return {"version": VERSION, "attempts": attempts + list(_UNSAVED.get(path, []))}


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
        "notebook": notebook, "questions": len(ids), "answered": len(latest), "correct": n_correct,
        "attempts": n_attempts, "score": n_correct / len(ids) if ids else 0.0,
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
        print(f"{r['notebook']:>8} {r['questions']:>9} {r['answered']:>8} {r['correct']:>7} {r['attempts']:>8} "
              f"{r['score']:>6.0%}")


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


def _write_csv(path: Path | str, attempts: list[dict]) -> int:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for a in attempts:
            response = "" if a.get("response") is None else json.dumps(a["response"], ensure_ascii=False)
            writer.writerow([a["learner"], a["notebook"], a["question_id"], str(a["correct"]).lower(), response,
                             a["timestamp"]])
    return len(attempts)


def export_csv(path: Path | str, progress_file: Path | None = None) -> int:
    """Write every attempt (yours by default) as CSV for a teacher; return the number of rows."""
    return _write_csv(path, load_progress(progress_file)["attempts"])


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.progress show`` or ``... export OUT.csv [PROGRESS.json ...]``."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["show"] and len(args) == 1:
        progress = load_progress()
        print(f"Progress file: {progress_path()} ({len(progress['attempts'])} attempts)")
        _print_table(_summaries(None, progress["attempts"]))
        return 0
    if args[:1] != ["export"] or len(args) < 2:
        print("usage: python -m course_utils.progress show\n"
              "       python -m course_utils.progress export OUT.csv [PROGRESS.json ...]", file=sys.stderr)
        return 2
    if len(args) == 2:
        n = export_csv(args[1])
        print(f"Wrote {n} attempts from {progress_path()} to {args[1]}.")
        return 0
    attempts, bad = [], 0
    for name in args[2:]:  # a teacher's collected files: read them, never modify them
        try:
            if not Path(name).is_file():
                raise FileNotFoundError("no such file")
            attempts += _read_attempts(Path(name))
        except (OSError, _Corrupt) as err:
            bad += 1
            print(f"Skipped {name}: {err}", file=sys.stderr)
    n = _write_csv(args[1], attempts)
    print(f"Wrote {n} attempts from {len(args) - 2 - bad} of {len(args) - 2} files to {args[1]}.")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
