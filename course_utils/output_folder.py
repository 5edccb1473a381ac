"""The folder a classroom build writes into: never the course's notebooks, never someone's work.

A build remembers what it wrote in ``OUT_DIR/.course-classroom.json`` (a sha256 per file). A folder that
holds anything else, or a file edited since, is refused unless ``force``; the course's notebooks folder is
refused always. Each file is replaced atomically, so an interrupted build never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import suppress
from pathlib import Path

from course_utils.safe_files import write_atomic

MANIFEST = ".course-classroom.json"
OS_CLUTTER = {".DS_Store", "Thumbs.db", "desktop.ini"}  # written by file browsers; they hold nobody's work


class ClassroomError(ValueError):
    """A student copy or slide deck that cannot be built; the message says why and what to do."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_within(out_dir: Path, folder: Path, *, inside: bool = True) -> bool:
    """Whether `out_dir` is `folder` (or, with `inside`, a folder in it), under whatever name or link."""
    try:
        out, folder = out_dir.resolve(), folder.resolve()
    except (OSError, RuntimeError) as e:  # a loop of links
        raise ClassroomError(f"{out_dir} cannot be resolved ({e}); choose another folder.") from None
    candidates = (out, *out.parents) if inside else (out,)
    # The same folder under another spelling (a case-insensitive disk, a second mount) is the same folder too.
    return folder in candidates or (
        folder.is_dir() and any(c.is_dir() and os.path.samefile(c, folder) for c in candidates)
    )


def _unchanged_files(out_dir: Path) -> dict[str, str]:
    """The files a build wrote in `out_dir` that nobody has changed since: name -> sha256."""
    try:
        recorded = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))["files"]
        recorded = {str(k): str(v) for k, v in recorded.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # no manifest, or an unreadable one: no file counts as the build's
    unchanged = {}
    for name, digest in recorded.items():
        path = out_dir / name
        if ".." in Path(name).parts or Path(name).is_absolute() or path.is_symlink() or not path.is_file():
            continue
        with suppress(OSError):
            if _sha256(path.read_bytes()) == digest:
                unchanged[name] = digest
    return unchanged


def _other_files(out_dir: Path, ours: dict[str, str], limit: int = 4) -> list[str]:
    """Up to `limit` things in `out_dir` that are not a build's unchanged files (a link or folder counts)."""

    def unreadable(error: OSError) -> None:
        raise ClassroomError(f"{error.filename} cannot be listed ({error.strerror}): choose another folder.")

    found: list[str] = []
    for root, dirs, files in os.walk(out_dir, onerror=unreadable):
        base = Path(root)
        for name in sorted(files) + [d for d in sorted(dirs) if (base / d).is_symlink()]:
            rel = (base / name).relative_to(out_dir).as_posix()
            if rel not in ours and rel != MANIFEST and name not in OS_CLUTTER:
                found.append(rel)
                if len(found) >= limit:
                    return found
    return found


def check_out_dir(out_dir: Path, notebooks: Path, command: str, what: str, force: bool) -> dict[str, str]:
    """Refuse a folder where writing `what` could destroy work; return the build's unchanged files in it.

    `notebooks` (the course's notebooks folder) and anything inside it is refused even with `force`.
    """
    if is_within(out_dir, notebooks):
        raise ClassroomError(
            f"{out_dir} is the course's notebooks folder or inside it: {what} there would replace the "
            f"teacher's notebooks (even with --force). Choose another folder, e.g. build/{command}."
        )
    if out_dir.is_symlink() and not out_dir.exists():
        raise ClassroomError(f"{out_dir} is a link to a folder that does not exist: choose another folder.")
    if out_dir.exists() and not out_dir.is_dir():
        raise ClassroomError(f"{out_dir} is a file, not a folder: choose a folder for the {what}.")
    if not out_dir.exists():
        return {}
    ours = _unchanged_files(out_dir)
    if not force and (others := _other_files(out_dir, ours)):
        listed = ", ".join(others[:3]) + (" and more" if len(others) > 3 else "")
        raise ClassroomError(
            f"{out_dir} holds files `classroom` did not write there, or that were edited since "
            f"({listed}): writing the {what} could destroy that work. Choose an empty folder, or "
            "pass --force to overwrite the files with the same names (the others are kept)."
        )
    return ours


def write_files(
    out_dir: Path, files: dict[str, bytes], notebooks: Path, command: str, what: str, force: bool
) -> list[Path]:
    """Write `files` (name -> bytes) into `out_dir` under the folder rules, then record them in the manifest."""
    ours = check_out_dir(out_dir, notebooks, command, what, force)  # again: the folder may have changed since
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ClassroomError(f"Could not create the folder {out_dir}: {e.strerror or e}. Choose another.") from None
    written: list[Path] = []
    try:
        try:
            for name, data in files.items():
                write_atomic(out_dir / name, data, mode=0o644)
                ours[name] = _sha256(data)
                written.append(out_dir / name)
        finally:  # also after an interruption, so that what was written can be rewritten next time
            manifest = {"written_by": "python -m course_utils.classroom", "files": dict(sorted(ours.items()))}
            write_atomic(out_dir / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode(), mode=0o644)
    except OSError as e:  # the file that failed: a manifest written in `finally` must not hide its name
        raise ClassroomError(
            f"Could not write {e.filename or out_dir}: {e.strerror or e}. Check the folder and its permissions; "
            "every file written so far is complete."
        ) from None
    return written
