"""Bad settings get a message that names the variable: COURSE_SEED, COURSE_CACHE_DIR, a checkpoint path.

A malformed seed stops the notebook at its parameters cell (not halfway through a lesson, inside
scikit-learn); an unusable cache folder is reported once and the course carries on in memory.
"""

from __future__ import annotations

import os
import shutil

import pytest

from course_utils import checkpoints, glyphs, paths
from course_utils.checkpoints import CheckpointError, load_glyphnet
from course_utils.settings import SEED_MAX, SettingError, course_seed

# --- COURSE_SEED --------------------------------------------------------------------------------------


def test_seed_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("COURSE_SEED", raising=False)
    assert course_seed() == 0
    assert course_seed(default=7) == 7


@pytest.mark.parametrize(("raw", "seed"), [("3", 3), (" 12 ", 12), ("0", 0), (str(SEED_MAX), SEED_MAX)])
def test_seed_accepts_whole_numbers_in_range(monkeypatch, raw, seed):
    monkeypatch.setenv("COURSE_SEED", raw)
    assert course_seed() == seed


@pytest.mark.parametrize("raw", ["abc", "", "1.5", "-1", "99999999999", str(SEED_MAX + 1), "0x10", "1e3"])
def test_bad_seed_names_the_variable_and_the_range(monkeypatch, raw):
    monkeypatch.setenv("COURSE_SEED", raw)
    with pytest.raises(SettingError) as err:
        course_seed()
    message = str(err.value)
    assert "COURSE_SEED" in message and f"0 to {SEED_MAX}" in message and repr(raw) in message
    assert "\n" not in message


def test_every_notebook_reads_its_seed_through_the_check():
    import json

    for path in sorted((paths.REPO_DIR / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, path.name
        assert "SEED = course_seed()" in "".join(params[0]["source"]), path.name


# --- COURSE_CACHE_DIR ---------------------------------------------------------------------------------


@pytest.fixture
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(paths, "_WARNED", set())


def test_cache_dir_expands_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_CACHE_DIR", "~/course-cache")
    assert paths.cache_dir() == tmp_path / "course-cache"
    assert (tmp_path / "course-cache").is_dir()
    assert not (paths.REPO_DIR / "~").exists()


@pytest.mark.parametrize("raw", ["", "   "])
def test_empty_cache_dir_is_refused(monkeypatch, raw):
    monkeypatch.setenv("COURSE_CACHE_DIR", raw)
    with pytest.raises(SettingError, match="COURSE_CACHE_DIR is set but empty"):
        paths.cache_dir()


def test_cache_dir_that_is_a_file_is_reported_once(monkeypatch, tmp_path, capsys, fresh_warnings):
    target = tmp_path / "not-a-folder"
    target.write_bytes(b"a learner's file")
    monkeypatch.setenv("COURSE_CACHE_DIR", str(target))
    assert paths.cache_dir() is None
    assert paths.cache_dir() is None
    out = capsys.readouterr().out
    assert out.count("cannot be used") == 1 and str(target) in out and "COURSE_CACHE_DIR" in out
    assert target.read_bytes() == b"a learner's file"


def test_read_only_cache_dir_is_reported(monkeypatch, tmp_path, capsys, fresh_warnings):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        monkeypatch.setenv("COURSE_CACHE_DIR", str(folder))
        assert paths.cache_dir() is None
        assert "read-only" in capsys.readouterr().out
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


def test_corpus_is_kept_in_memory_without_a_cache(monkeypatch, capsys, fresh_warnings):
    """No usable cache folder: the corpus is built once, then served from memory (no crash, no rebuild)."""
    monkeypatch.setattr(glyphs, "cache_dir", lambda: None)
    monkeypatch.setattr(glyphs, "_IN_MEMORY", {})
    monkeypatch.setattr(glyphs, "_candidate_chars", lambda: ["a", "b", "c"])
    builds = []
    real_build = glyphs._build_corpus
    monkeypatch.setattr(glyphs, "_build_corpus", lambda *a, **k: builds.append(1) or real_build(*a, **k))
    first = glyphs.load_corpus()
    assert first.chars == ["a", "b", "c"] and len(builds) == 2  # the reference font, then every font
    assert glyphs.load_corpus() is first and len(builds) == 2


def test_a_failed_cache_write_keeps_the_corpus_in_memory(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(glyphs, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(glyphs, "_IN_MEMORY", {})
    monkeypatch.setattr(glyphs, "_candidate_chars", lambda: ["a", "b"])

    def full_disk(*args, **kwargs):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(glyphs.torch, "save", full_disk)
    first = glyphs.load_corpus()
    assert "kept in memory" in capsys.readouterr().out
    assert glyphs.load_corpus() is first
    assert list(tmp_path.iterdir()) == []  # no half-written temp file left behind


# --- checkpoints ---------------------------------------------------------------------------------------


def test_checkpoint_path_that_is_a_folder(tmp_path):
    folder = tmp_path / "glyphnet.pt"
    folder.mkdir()
    shutil.copy(checkpoints.GLYPHNET_PATH.with_suffix(".json"), tmp_path / "glyphnet.json")
    with pytest.raises(CheckpointError, match="is a folder, not a file"):
        load_glyphnet(folder)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads any file")
def test_unreadable_checkpoint(tmp_path):
    for suffix in (".pt", ".json"):
        shutil.copy(checkpoints.GLYPHNET_PATH.with_suffix(suffix), tmp_path / f"glyphnet{suffix}")
    (tmp_path / "glyphnet.pt").chmod(0)
    with pytest.raises(CheckpointError, match="could not be read"):
        load_glyphnet(tmp_path / "glyphnet.pt")
