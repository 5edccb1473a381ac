"""The shipped checkpoint and its safety net (`course_utils.checkpoints`), and how it is made
(`course_utils.pretrain`, run here for a few steps into a temporary folder).
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from course_utils import augment as aug
from course_utils import checkpoints, glyphs, pretrain
from course_utils.checkpoints import CheckpointError, load_checkpoint, load_glyphnet
from course_utils.models import GlyphNet
from course_utils.training import evaluate

REBUILD = "python -m course_utils.pretrain"


@pytest.fixture(scope="module")
def shipped() -> GlyphNet:
    return load_glyphnet()


@pytest.fixture
def copy(tmp_path):
    """A private copy of the shipped checkpoint and its checksum file, safe to damage."""
    for suffix in (".pt", ".json"):
        shutil.copy(checkpoints.GLYPHNET_PATH.with_suffix(suffix), tmp_path / f"glyphnet{suffix}")
    return tmp_path / "glyphnet.pt"


def rehash(path) -> None:
    """Make the checksum file agree with whatever is now in `path`."""
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "sha256": checkpoints.sha256(path)}))


# --- the shipped checkpoint -----------------------------------------------------------------------


def test_shipped_glyphnet_loads_with_its_model_card_metadata(shipped):
    assert isinstance(shipped, GlyphNet)
    assert not shipped.training
    meta = shipped.meta
    assert shipped.head.out_features == len(meta["classes"]) > 500
    assert meta["steps"] > 0
    assert 0 < meta["val_accuracy"] <= 1
    widths = [getattr(shipped, b)[0].out_channels for b in ("block1", "block2", "block3", "block4")]
    assert meta["widths"] == widths


def test_shipped_glyphnet_fits_the_current_corpus(shipped, background):
    """Its classes are the background letters in corpus order, and it recognises them well above chance."""
    assert shipped.meta["classes"] == background.chars
    X, y = glyphs.sample_batch(background, 256, aug.GLYPHS, torch.Generator().manual_seed(99))
    accuracy = evaluate(shipped, X, y)
    assert accuracy > 0.3 > 100 / background.num_classes


def test_shipped_checksum_file_matches():
    sidecar = json.loads(checkpoints.GLYPHNET_PATH.with_suffix(".json").read_text())
    assert sidecar["sha256"] == checkpoints.sha256(checkpoints.GLYPHNET_PATH)


def test_a_copy_loads_like_the_original(copy, shipped):
    net = load_glyphnet(copy)
    assert all(torch.equal(v, shipped.state_dict()[k]) for k, v in net.state_dict().items())


# --- damaged checkpoints: always a CheckpointError that says what to do ---------------------------


def test_missing_checkpoint_names_the_rebuild_command(copy):
    copy.unlink()
    with pytest.raises(CheckpointError, match=REBUILD) as err:
        load_glyphnet(copy)
    assert "missing" in str(err.value)


def test_truncated_checkpoint(copy):
    data = copy.read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"checksum.*truncated") as err:
        load_glyphnet(copy)
    assert REBUILD in str(err.value)


def test_tampered_byte(copy):
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_glyphnet(copy)


def test_missing_checksum_file(copy):
    copy.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match=r"glyphnet\.json is missing or unreadable"):
        load_glyphnet(copy)


def test_unreadable_checksum_file(copy):
    copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="missing or unreadable"):
        load_glyphnet(copy)
    copy.with_suffix(".json").write_text('{"classes": []}')  # no sha256 in it
    with pytest.raises(CheckpointError, match="missing or unreadable"):
        load_glyphnet(copy)


def test_checksum_file_that_is_not_an_object(copy):
    copy.with_suffix(".json").write_text("null")
    with pytest.raises(CheckpointError):
        load_glyphnet(copy)


def _write_garbage(path, kind: str) -> None:
    if kind == "bytes":
        path.write_bytes(bytes(range(256)) * 40)
    elif kind == "text":
        path.write_text("this is not a checkpoint\n" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other_dict":
        torch.save({"weights": torch.zeros(3)}, path)
    elif kind == "list":
        torch.save([1, 2, 3], path)


@pytest.mark.parametrize("kind", ["bytes", "text", "empty", "other_dict", "list"])
def test_garbage_with_a_valid_checksum_is_a_checkpoint_error(copy, kind):
    _write_garbage(copy, kind)
    rehash(copy)
    with pytest.raises(CheckpointError, match=REBUILD):
        load_glyphnet(copy)


def test_weights_of_another_shape_are_a_checkpoint_error(copy):
    meta = json.loads(copy.with_suffix(".json").read_text())
    meta.pop("sha256")
    small = GlyphNet(num_classes=3, widths=tuple(meta["widths"]))
    checkpoints.save_checkpoint(copy, small.state_dict(), meta)  # meta says ~900 classes, weights say 3
    with pytest.raises(CheckpointError, match=r"is not a pre-trained GlyphNet.*python -m course_utils\.pretrain"):
        load_glyphnet(copy)


@pytest.mark.parametrize(
    "state_dict, meta",
    [
        ({}, {"task": "digits"}),  # KeyError: 'classes'
        ({}, {"classes": ["a", "b"], "widths": [16, 32]}),  # IndexError inside GlyphNet
        ([1, 2], {"classes": ["a", "b"], "widths": [16, 32, 64, 128]}),  # TypeError in load_state_dict
    ],
    ids=["meta-without-classes", "two-widths", "state-dict-not-a-dict"],
)
def test_checkpoint_of_another_model_is_a_checkpoint_error(tmp_path, state_dict, meta):
    path = tmp_path / "other.pt"
    checkpoints.save_checkpoint(path, state_dict, meta)
    with pytest.raises(CheckpointError):
        load_glyphnet(path)


def test_restore_hint_is_a_command_that_works_from_the_course_folder():
    missing = checkpoints.DATA_DIR / "no-such-checkpoint.pt"  # nothing is written
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(missing, REBUILD)
    assert "git checkout -- data/no-such-checkpoint.pt" in str(err.value)


# --- saving, and pre-training end to end on a few steps -------------------------------------------


def test_save_then_load_round_trip(tmp_path):
    net = GlyphNet(num_classes=3, widths=(4, 4, 8, 8), seed=2)
    meta = {"classes": ["x", "y", "z"], "widths": [4, 4, 8, 8], "note": "é"}
    digest = checkpoints.save_checkpoint(tmp_path / "m.pt", net.state_dict(), meta)
    assert digest == checkpoints.sha256(tmp_path / "m.pt")
    assert json.loads((tmp_path / "m.json").read_text()) == {"sha256": digest, **meta}
    assert not (tmp_path / "m.tmp").exists()
    loaded = load_glyphnet(tmp_path / "m.pt")
    assert loaded.meta == meta
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())


@pytest.fixture
def quick_pretrain(monkeypatch):
    monkeypatch.setattr(pretrain, "VAL_SIZE", 64)  # the validation batch is the slow part on 2 steps


def test_pretrain_main_writes_a_loadable_checkpoint_and_card(tmp_path, quick_pretrain, capsys):
    out = tmp_path / "glyphnet.pt"
    pretrain.main(["--steps", "2", "--seed", "3", "--out", str(out)])
    assert f"Saved {out}" in capsys.readouterr().out
    net = load_glyphnet(out)
    meta = net.meta
    assert meta["steps"] == 2 and meta["seed"] == 3
    assert meta["classes"] == glyphs.background_alphabets().chars
    assert meta["num_params"] == sum(p.numel() for p in net.parameters())
    assert 0 <= meta["val_accuracy"] <= 1
    digest = json.loads(out.with_suffix(".json").read_text())["sha256"]
    assert digest == checkpoints.sha256(out)
    card = out.with_suffix(".md").read_text()
    assert digest in card
    assert f"{REBUILD} --seed 3" in card
    assert "2 steps of batch 64" in card
    assert not out.with_suffix(".tmp").exists()


def test_pretrain_is_deterministic(quick_pretrain):
    net1, meta1 = pretrain.pretrain(steps=2, seed=0, progress=False)
    net2, meta2 = pretrain.pretrain(steps=2, seed=0, progress=False)
    assert all(torch.equal(v, net2.state_dict()[k]) for k, v in net1.state_dict().items())
    assert meta1["final_train_loss"] == meta2["final_train_loss"]
    assert meta1["val_accuracy"] == meta2["val_accuracy"]


def test_model_card_reports_the_metadata():
    meta = {
        "classes": list("abcd"),
        "scripts": ["GREEK", "LATIN"],
        "widths": [16, 32, 64, 128],
        "num_params": 1234567,
        "steps": 4000,
        "batch_size": 64,
        "lr": 0.002,
        "seed": 7,
        "num_renders": 8401,
        "val_accuracy": 0.6521,
        "train_seconds": 168,
        "machine": "x86_64, 2 threads",
        "torch": "2.14.1",
    }
    card = pretrain.model_card(meta, "f" * 64)
    assert card.startswith("# Model card: GlyphNet")
    assert "f" * 64 in card
    assert "1,234,567 parameters" in card
    assert "4 letters of the background alphabets (GREEK, LATIN)" in card
    assert "8,401" in card and "4,000 steps of batch 64" in card
    assert "0.652 on" in card and "chance: 0.2500" in card
    assert "python -m course_utils.pretrain --seed 7" in card
