"""The strategies' verbs (course_utils.strategies) and validation folds (course_utils.validation)."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from course_utils import models, strategies, training, validation


@pytest.fixture(scope="module")
def pretrained() -> models.GlyphNet:
    net = models.GlyphNet(num_classes=5, widths=(4, 8, 8, 16), seed=1)
    net.meta = {"widths": [4, 8, 8, 16]}
    return net.eval()


@pytest.fixture(scope="module")
def toy() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 28, 28, generator=g), torch.arange(40) % 4


def _same(a: torch.nn.Module, b: torch.nn.Module, prefix: str = "block") -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa if k.startswith(prefix))


@pytest.mark.parametrize("arm", strategies.ARMS)
def test_every_arm_returns_an_image_classifier_and_leaves_the_pretrained_network_alone(arm, pretrained, toy):
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    net = strategies.train_arm(arm, pretrained, *toy, lr=1e-2, steps=3, seed=0, num_classes=4)
    assert net(toy[0][:2]).shape == (2, 4)
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())
    if arm == "feature extraction":
        assert _same(net, pretrained)  # the backbone is frozen
    elif arm in ("fine-tuning", "progressive unfreezing"):
        assert not _same(net, pretrained)


def test_feature_extraction_trains_on_cached_features_like_the_frozen_network(pretrained, toy):
    net = strategies.train_arm("feature extraction", pretrained, *toy, lr=1e-2, steps=5, seed=3, num_classes=4)
    frozen = models.freeze_up_to(models.new_head(copy.deepcopy(pretrained), 4, seed=3), "block4")
    training.fit(frozen, toy, steps=5, lr=1e-2, schedule="cosine", seed=3, progress=False)
    assert torch.allclose(net.head.weight, frozen.head.weight, atol=1e-5)


def test_progressive_unfreezing_keeps_the_lower_blocks_frozen_in_its_first_stage(pretrained, toy):
    net = models.new_head(copy.deepcopy(pretrained), 4, seed=0)
    strategies.train_progressive(net, *toy, steps=2, lr=1e-2, seed=0, stages=("block4", "block4"))
    assert _same(net, pretrained)
    assert all(p.requires_grad for p in net.parameters())  # unfrozen again at the end


def test_backbone_scale_lowers_the_blocks_rate_only(pretrained, toy):
    def drift_and_head(scale: float) -> tuple[float, torch.Tensor]:
        net = models.new_head(copy.deepcopy(pretrained), 4, seed=0)
        strategies.train_progressive(net, *toy, steps=1, lr=1e-2, seed=0, stages=(None,), backbone_scale=scale)
        moved = sum(
            (net.state_dict()[k] - v).abs().sum().item()
            for k, v in pretrained.state_dict().items()
            if k.startswith("block") and "running" not in k and "num_batches" not in k
        )
        return moved, net.head.weight.detach()

    full, head_full = drift_and_head(1.0)
    tenth, head_tenth = drift_and_head(0.1)
    assert tenth == pytest.approx(full / 10, rel=1e-3)  # AdamW's first step is lr * sign-like: it scales exactly
    assert torch.allclose(head_full, head_tenth)  # the head's first step does not depend on the blocks' rate
    with pytest.raises(ValueError, match="backbone_scale must be positive"):
        strategies.train_progressive(copy.deepcopy(pretrained), *toy, steps=1, lr=1e-2, seed=0, backbone_scale=0)


def test_an_unknown_arm_is_named(pretrained, toy):
    with pytest.raises(ValueError, match="Unknown arm 'linear probe'"):
        strategies.train_arm("linear probe", pretrained, *toy, lr=1e-2, steps=1, seed=0)


def test_validation_folds_are_stratified_disjoint_and_cover_the_labelled_rows():
    y = torch.arange(100) % 10
    idx = torch.arange(50)  # 5 labelled rows per class
    folds = validation.validation_folds(idx, y, max_folds=5, seed=0)
    assert len(folds) == 5
    held_out = torch.cat([val for _, val in folds])
    assert sorted(held_out.tolist()) == idx.tolist()
    for train, val in folds:
        assert not set(train.tolist()) & set(val.tolist())
        assert torch.bincount(y[val], minlength=10).tolist() == [1] * 10


def test_validation_folds_need_two_labels_per_class():
    y = torch.arange(10)
    with pytest.raises(ValueError, match="at least 2 labelled rows"):
        validation.validation_folds(torch.arange(10), y)


def test_choose_setting_takes_the_best_and_the_first_on_a_tie():
    best, scores = validation.choose_setting([1, 2, 3], lambda s: {1: 0.5, 2: 0.7, 3: 0.7}[s])
    assert best == 2 and scores == {1: 0.5, 2: 0.7, 3: 0.7}
    with pytest.raises(ValueError, match="empty"):
        validation.choose_setting([], lambda s: 0.0)


def test_recorded_settings_missing_or_corrupt_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "RECORDED_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="bench/validate_nothing.py"):
        validation.recorded("nothing")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        validation.recorded("broken")
    (tmp_path / "ok.json").write_text(json.dumps({"chosen": {"a": 1}}))
    assert validation.recorded("ok") == {"chosen": {"a": 1}}


def test_the_shipped_strategy_rates_cover_every_arm_and_size():
    chosen = validation.recorded("strategies")["chosen"]
    for arm in strategies.ARMS:
        assert set(chosen[arm]) == {"1", "2", "5", "10", "20", "all"}
        assert all(0 < lr < 1 for lr in chosen[arm].values())
