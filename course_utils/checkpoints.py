"""Saving and loading the course's shipped checkpoints, with checksums and clear errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from course_utils.models import GlyphNet
from course_utils.paths import DATA_DIR, REPO_DIR

GLYPHNET_PATH = DATA_DIR / "glyphnet.pt"
REBUILD_GLYPHNET = "python -m course_utils.pretrain"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, damaged or not what the course expects."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_checkpoint(path: Path, state_dict: dict, meta: dict) -> str:
    """Write weights and metadata, then a JSON sidecar holding the file's SHA-256. Returns the hash."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": state_dict, "meta": meta}, tmp)
    tmp.replace(path)
    digest = sha256(path)
    _sidecar(path).write_text(json.dumps({"sha256": digest, **meta}, indent=2, ensure_ascii=False) + "\n")
    return digest


def load_checkpoint(path: Path, rebuild: str) -> dict:
    """Load a checkpoint saved by `save_checkpoint`, after checking it is whole and untouched."""
    path = Path(path)
    try:
        shown = path.resolve().relative_to(REPO_DIR)
    except ValueError:
        shown = path
    fix = f"Rebuild it with `{rebuild}` (from the course folder), or restore it with `git checkout -- {shown}`."
    if not path.exists():
        raise CheckpointError(f"The checkpoint {path} is missing. {fix}")
    if path.is_dir():
        raise CheckpointError(f"The checkpoint {path} is a folder, not a file: give the path of the .pt file. {fix}")
    try:
        expected = json.loads(_sidecar(path).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"The checksum file {_sidecar(path)} is missing or unreadable. {fix}") from None
    try:
        actual = sha256(path)
    except OSError as err:
        raise CheckpointError(f"The checkpoint {path} could not be read ({err.strerror or err}). {fix}") from None
    if actual != expected:
        raise CheckpointError(
            f"The checkpoint {path} does not match its checksum: it is truncated or was changed. {fix}"
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        return {"state_dict": saved["state_dict"], "meta": saved["meta"]}
    except Exception as err:
        raise CheckpointError(f"The checkpoint {path} could not be read ({type(err).__name__}). {fix}") from None


def load_glyphnet(path: Path = GLYPHNET_PATH) -> GlyphNet:
    """The pre-trained GlyphNet (trained on the background alphabets), in eval mode.

    ``net.meta`` holds what the model card says: classes, steps, accuracy, time.
    """
    saved = load_checkpoint(path, REBUILD_GLYPHNET)
    meta = saved["meta"]
    try:
        net = GlyphNet(num_classes=len(meta["classes"]), widths=tuple(meta["widths"]))
        net.load_state_dict(saved["state_dict"])
    except Exception as err:  # a whole file, but of another model
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise CheckpointError(
            f"The checkpoint {path} is not a pre-trained GlyphNet ({reason}). Rebuild it with `{REBUILD_GLYPHNET}`."
        ) from None
    net.meta = meta
    return net.eval()
