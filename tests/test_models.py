"""GlyphNet and the verbs of transfer learning (`course_utils.models`)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from course_utils import models
from course_utils.models import GlyphNet

SMALL = (8, 8, 16, 16)  # tiny widths keep these tests fast


def trainable(module: nn.Module) -> bool:
    return all(p.requires_grad for p in module.parameters())


def frozen(module: nn.Module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def test_output_and_feature_shapes():
    net = GlyphNet(num_classes=10)
    x = torch.rand(3, 1, 28, 28)
    assert net(x).shape == (3, 10)
    assert net.features(x).shape == (3, 128)
    assert net.feature_dim == 128 == net.head.in_features


def test_widths_set_the_feature_dim():
    net = GlyphNet(num_classes=4, widths=SMALL)
    assert net.feature_dim == 16
    assert net.features(torch.rand(2, 1, 28, 28)).shape == (2, 16)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 4)


def test_freeze_up_to_block4_leaves_only_the_head_trainable():
    net = models.freeze_up_to(GlyphNet(num_classes=10), "block4")
    head_params = 128 * 10 + 10
    assert models.count_parameters(net) == models.count_parameters(net.head) == head_params
    assert all(frozen(getattr(net, b)) for b in models.BLOCKS)
    assert trainable(net.head)
    assert models.count_parameters(net, trainable_only=False) > head_params


def test_freeze_up_to_a_middle_block():
    net = models.freeze_up_to(GlyphNet(num_classes=10), "block2")
    assert frozen(net.block1) and frozen(net.block2)
    assert trainable(net.block3) and trainable(net.block4) and trainable(net.head)
    assert net.frozen == ("block1", "block2")


def test_freeze_up_to_none_unfreezes_everything():
    net = models.freeze_up_to(GlyphNet(num_classes=10), "block3")
    models.freeze_up_to(net, None)
    total = models.count_parameters(net, trainable_only=False)
    assert models.count_parameters(net) == total
    assert net.frozen == ()
    models.freeze_up_to(net, "block4")
    assert models.count_parameters(models.unfreeze(net)) == total


def test_frozen_blocks_stay_in_eval_mode_and_keep_their_batchnorm_statistics():
    net = models.freeze_up_to(GlyphNet(num_classes=10, widths=SMALL), "block2")
    net.train()
    assert net.training
    assert not net.block1.training and not net.block2.training
    assert net.block3.training and net.block4.training
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    net(torch.rand(8, 1, 28, 28) * 3 + 1)  # a forward pass in train mode, far from the init statistics
    after = net.state_dict()
    for k, v in before.items():
        if k.startswith(("block1", "block2")):
            assert torch.equal(after[k], v), f"{k} moved although its block is frozen"
        else:
            assert not torch.equal(after[k], v), f"{k} did not move although its block trains"


def test_eval_then_train_again_keeps_frozen_blocks_in_eval():
    net = models.freeze_up_to(GlyphNet(num_classes=10, widths=SMALL), "block1")
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert not net.block1.training and net.block2.training


@pytest.mark.parametrize("block", ["block5", "head", "Block1", ""])
def test_freeze_up_to_rejects_unknown_blocks(block):
    with pytest.raises(ValueError, match=r"Unknown block.*block1"):
        models.freeze_up_to(GlyphNet(num_classes=10, widths=SMALL), block)


def test_new_head_changes_the_output_and_keeps_the_backbone():
    net = GlyphNet(num_classes=10, widths=SMALL, seed=3)
    backbone = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("head")}
    same = models.new_head(net, 4)
    assert same is net
    assert net.eval()(torch.rand(2, 1, 28, 28)).shape == (2, 4)
    assert net.head.in_features == net.feature_dim == 16
    for k, v in backbone.items():
        assert torch.equal(net.state_dict()[k], v)


def test_new_head_is_seeded_and_trainable_after_feature_extraction():
    a = models.new_head(models.freeze_up_to(GlyphNet(num_classes=10, widths=SMALL), "block4"), 3, seed=1)
    b = models.new_head(GlyphNet(num_classes=10, widths=SMALL), 3, seed=1)
    c = models.new_head(GlyphNet(num_classes=10, widths=SMALL), 3, seed=2)
    assert torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(a.head.weight, c.head.weight)
    assert models.count_parameters(a) == 16 * 3 + 3


def test_param_groups_one_learning_rate_per_block():
    net = models.freeze_up_to(GlyphNet(num_classes=10, widths=SMALL), "block2")
    lrs = {"block1": 1e-5, "block2": 1e-4, "block3": 3e-4, "block4": 1e-3, "head": 3e-3}
    groups = models.param_groups(net, lrs)
    assert [g["name"] for g in groups] == ["block3", "block4", "head"]  # frozen blocks left out
    assert [g["lr"] for g in groups] == [3e-4, 1e-3, 3e-3]
    assert sum(p.numel() for g in groups for p in g["params"]) == models.count_parameters(net)


def test_param_groups_rejects_missing_and_extra_blocks():
    net = GlyphNet(num_classes=10, widths=SMALL)
    lrs = {"block1": 1e-5, "block2": 1e-4, "block3": 3e-4, "block4": 1e-3, "head": 3e-3}
    missing = {k: v for k, v in lrs.items() if k != "block3"}
    with pytest.raises(ValueError, match=r"missing \['block3'\]"):
        models.param_groups(net, missing)
    with pytest.raises(ValueError, match=r"unknown \['block5'\]"):
        models.param_groups(net, {**lrs, "block5": 1.0})


def test_discriminative_lrs_shrink_from_head_to_input():
    lrs = models.discriminative_lrs(GlyphNet(num_classes=10, widths=SMALL), head_lr=1e-2, factor=3.0)
    order = ["head", "block4", "block3", "block2", "block1"]
    assert set(lrs) == set(order)
    assert lrs["head"] == pytest.approx(1e-2)
    values = [lrs[name] for name in order]
    assert values == sorted(values, reverse=True) and len(set(values)) == len(values)  # strictly decreasing
    assert lrs["block1"] == pytest.approx(1e-2 / 3**4)
    models.param_groups(GlyphNet(num_classes=10, widths=SMALL), lrs)  # fits param_groups exactly


@pytest.mark.parametrize("shape", [(2, 28, 28), (28, 28), (2, 3, 28, 28)])
def test_wrong_input_shape_gives_a_hint(shape):
    net = GlyphNet(num_classes=10, widths=SMALL)
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\].*x\[:, None\]"):
        net(torch.rand(shape))
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        net.features(torch.rand(shape))


def test_same_seed_same_weights():
    a, b = GlyphNet(num_classes=10, seed=5), GlyphNet(num_classes=10, seed=5)
    c = GlyphNet(num_classes=10, seed=6)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not torch.equal(a.block1[0].weight, c.block1[0].weight)


def test_building_a_model_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GlyphNet(num_classes=10, widths=SMALL, seed=0)
    models.new_head(GlyphNet(num_classes=10, widths=SMALL), 2, seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_resnet18_for_glyphs_offline():
    net = models.resnet18_for_glyphs(10, weights=None).eval()
    assert net.stem.conv1.in_channels == 1
    with torch.no_grad():
        out = net(torch.rand(2, 1, 28, 28))
        sides = [o.shape[-1] for o in net.stages(torch.rand(1, 1, models.RESNET_INPUT, models.RESNET_INPUT))]
    assert out.shape == (2, 10)
    assert sides == [28, 28, 14, 7, 4]  # upsampled to 112: layer4 sees 4x4, not 1x1
    assert (
        models.resnet18_for_glyphs(10, seed=0)
        .state_dict()["stem.conv1.weight"]
        .equal(models.resnet18_for_glyphs(10, seed=0).state_dict()["stem.conv1.weight"])
    )
    models.freeze_up_to(net, "layer4")  # the course's verbs work on its named blocks
    assert models.count_parameters(net) == 512 * 10 + 10
    lrs = models.discriminative_lrs(net, 1e-2, factor=2)
    assert list(lrs) == list(models.RESNET_STAGES) and lrs["stem"] == pytest.approx(1e-2 / 32)


def test_grey_stem_folds_the_imagenet_normalisation_in_exactly_away_from_the_border():
    torch.manual_seed(0)
    rgb = nn.Conv2d(3, 6, kernel_size=7, stride=2, padding=3, bias=False)
    grey = models.grey_stem(rgb)
    x = torch.rand(4, 1, 30, 30)
    mean = torch.tensor(models.IMAGENET_MEAN)[None, :, None, None]
    std = torch.tensor(models.IMAGENET_STD)[None, :, None, None]
    with torch.no_grad():
        want, got = rgb((x.expand(-1, 3, -1, -1) - mean) / std), grey(x)
    assert got.shape == want.shape == (4, 6, 15, 15)
    assert torch.allclose(got[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2], atol=1e-5)  # windows clear of the padding
    assert not torch.allclose(got, want, atol=1e-3)  # the border pads with a raw 0, not the normalised one
    with_bias = nn.Conv2d(3, 6, 3, bias=True)
    plain = nn.Conv2d(3, 6, 3, bias=False)
    with torch.no_grad():
        plain.weight.copy_(with_bias.weight)
    assert torch.allclose(models.grey_stem(with_bias).bias, models.grey_stem(plain).bias + with_bias.bias)


def test_the_imagenet_path_stops_with_a_clear_message_when_the_download_fails(monkeypatch):
    import torchvision.models._api as api

    def no_network(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(api, "load_state_dict_from_url", no_network)
    with pytest.raises(RuntimeError, match="Could not get the ImageNet weights.*COURSE_IMAGENET"):
        models.resnet18_for_glyphs(10, weights="IMAGENET1K_V1")
    with pytest.raises(ValueError, match="Unknown weights"):
        models.resnet18_for_glyphs(10, weights="IMAGENET_PLEASE")


def test_verbs_need_a_head():
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ValueError, match="no `head`"):
        models.freeze_up_to(net, "0")
    with pytest.raises(ValueError, match="no `head`"):
        models.discriminative_lrs(net, 1e-3)


def test_relative_drift_is_the_blocks_distance_over_their_size_and_ignores_the_head():
    reference = models.GlyphNet(num_classes=5, seed=0)
    moved = models.new_head(copy.deepcopy(reference), 3, seed=1)  # a new head has no reference: not counted
    assert models.relative_drift(moved, reference) == 0.0
    with torch.no_grad():
        for name, p in moved.named_parameters():
            if name.startswith("block"):
                p.mul_(1.5)  # every block parameter moves by half its own size
    assert models.relative_drift(moved, reference) == pytest.approx(0.5, rel=1e-5)
    with pytest.raises(ValueError, match="reference lacks"):
        models.relative_drift(moved, torch.nn.Linear(2, 2))


def test_the_online_resnet_cell_runs_on_random_weights():
    """Notebook 08's COURSE_IMAGENET=1 cell, on the offline weights: features, then `strategies.train_arm`."""
    from course_utils import strategies, training

    net = models.resnet18_for_glyphs(3, weights=None, seed=1)
    X, y = torch.rand(6, 1, 28, 28), torch.tensor([0, 1, 2, 0, 1, 2])
    assert training.extract_features(net, X, cache=False).shape == (6, 512)
    before = net.stem.conv1.weight.clone()
    tuned = strategies.train_arm("fine-tuning", net, X, y, lr=1e-3, steps=1, seed=0, num_classes=3)
    assert tuned(X).shape == (6, 3)
    assert torch.equal(net.stem.conv1.weight, before)  # the network passed in is copied, never changed
    assert not torch.equal(tuned.stem.conv1.weight, before)
