"""Domain adaptation tools (`course_utils.adaptation`) and notebook 04's exercise checkers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import adaptation, training
from course_utils import exercises as ex
from course_utils.glyphs import printed_digits


def test_source_digits_are_small_labelled_and_seeded():
    X, y = adaptation.source_digits(32, seed=3)
    assert X.shape == (32, 1, adaptation.SIZE, adaptation.SIZE) and y.shape == (32,)
    assert X.min() >= 0 and X.max() <= 1 and set(y.tolist()) <= set(range(10))
    X2, y2 = adaptation.source_digits(32, seed=3)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    assert not torch.equal(X, adaptation.source_digits(32, seed=4)[0])


def test_shrink_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\[N, 1, H, W\]"):
        adaptation.shrink(torch.zeros(28, 28))


def test_adabn_re_estimates_statistics_and_leaves_the_weights_and_the_original_alone():
    net = adaptation.small_cnn(seed=0).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    X = torch.rand(64, 1, 16, 16) * 3 + 1  # brighter than anything the network has seen
    adapted = adaptation.adabn(net, X)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items()), "the original must not change"
    bn = adapted.block1[1]
    with torch.no_grad():
        conv_out = adapted.block1[0](X)
    assert torch.allclose(bn.running_mean, conv_out.mean((0, 2, 3)), atol=1e-4)
    assert torch.equal(adapted.block1[0].weight, net.block1[0].weight) and not adapted.training
    with pytest.raises(ValueError, match="no BatchNorm"):
        adaptation.adabn(nn.Linear(2, 2), torch.zeros(4, 2))


def test_gradient_reversal_flips_and_scales_the_gradient():
    x = torch.randn(4, 3, requires_grad=True)
    y = adaptation.grad_reverse(x, 0.5)
    assert torch.equal(y, x)
    y.sum().backward()
    assert torch.allclose(x.grad, torch.full_like(x, -0.5))
    assert adaptation.dann_lambda(0.0) == 0.0 and 0.99 < adaptation.dann_lambda(1.0) < 1.0


def test_domain_gap_is_high_for_separate_domains_and_near_chance_for_one():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(200, 8, generator=g), torch.randn(200, 8, generator=g)
    assert adaptation.domain_gap(a, b + 3) > 0.95
    assert adaptation.domain_gap(a, b) < 0.65
    with pytest.raises(ValueError, match="at least 10"):
        adaptation.domain_gap(a[:5], b[:5])


def test_select_pseudo_labels_is_confident_and_balanced():
    probs = torch.tensor([[0.95, 0.05], [0.97, 0.03], [0.6, 0.4], [0.1, 0.9], [0.99, 0.01]])
    idx, labels = adaptation.select_pseudo_labels(probs, 0.9, per_class=2)
    assert idx.tolist() == [1, 3, 4] and labels.tolist() == [0, 1, 0]  # 0.95 dropped: only 2 per class
    with pytest.raises(ValueError, match="probabilit"):
        adaptation.select_pseudo_labels(probs, 1.5, 2)


def test_gradient_reversal_checker(capsys):
    assert ex.check_gradient_reversal(adaptation.grad_reverse)
    assert not ex.check_gradient_reversal(lambda x, lam: x)  # no reversal
    assert "gradient coming back" in capsys.readouterr().out
    assert not ex.check_gradient_reversal(lambda x, lam: -lam * x)  # changes the forward pass
    assert "must not change x" in capsys.readouterr().out
    assert not ex.check_gradient_reversal(lambda x, lam: x.detach())
    assert not ex.check_gradient_reversal(lambda x, lam: adaptation.grad_reverse(x, 1.0))  # ignores lam


def test_pseudo_label_checker(capsys):
    assert ex.check_pseudo_label_selection(adaptation.select_pseudo_labels)

    def unbalanced(probs, threshold, per_class):
        conf, label = probs.max(1)
        idx = torch.nonzero(conf >= threshold).flatten()
        return idx, label[idx]

    assert not ex.check_pseudo_label_selection(unbalanced)
    assert "per_class" in capsys.readouterr().out

    def least_confident_first(probs, threshold, per_class):
        conf, label = probs.max(1)
        picks = [torch.nonzero((label == c) & (conf >= threshold)).flatten()[:per_class] for c in range(probs.shape[1])]
        idx = torch.cat(picks)
        return idx, label[idx]

    assert not ex.check_pseudo_label_selection(least_confident_first)
    assert not ex.check_pseudo_label_selection(lambda p, t, k: (torch.arange(3), torch.zeros(3)))
    assert not ex.check_pseudo_label_selection(lambda p, t, k: [1, 2])
    assert "pair" in capsys.readouterr().out


def _tiny_domains(n: int = 48):
    X_source, y_source = adaptation.source_digits(n, seed=0)
    X_target = torch.rand(n, 1, adaptation.SIZE, adaptation.SIZE, generator=torch.Generator().manual_seed(1))
    return (X_source, y_source), X_target


def test_train_dann_at_weight_zero_learns_nothing_from_the_target_images():
    source, X_target = _tiny_domains()
    nets = [adaptation.small_cnn(seed=0) for _ in range(3)]
    logs = [
        adaptation.train_dann(nets[0], source, X_target, steps=4, weight=0.0, batch_size=8, progress=False),
        adaptation.train_dann(nets[1], source, X_target.flip(0) * 2, steps=4, weight=0.0, batch_size=8, progress=False),
        adaptation.train_dann(nets[2], source, X_target, steps=4, weight=1.0, batch_size=8, progress=False),
    ]
    assert all(len(log["task_loss"]) == len(log["domain_acc"]) == 4 for log in logs)
    assert logs[0]["lambda"][0] == 0.0 and not nets[0].training
    weights = [
        {k: v for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k} for net in nets
    ]
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items()), "weight 0: target images change no weight"
    assert not all(torch.equal(v, weights[2][k]) for k, v in weights[0].items()), "weight 1: the adversary acts"


def test_per_domain_features_normalise_each_domain_with_its_own_statistics():
    source, X_target = _tiny_domains()
    net = adaptation.small_cnn(seed=0).eval()
    f_source, f_target = adaptation.per_domain_features(net, source[0], X_target)
    assert f_source.shape == f_target.shape == (48, net.feature_dim)
    assert torch.allclose(f_target, training.extract_features(adaptation.adabn(net, X_target), X_target))
    assert not torch.allclose(f_target, training.extract_features(net, X_target))


def test_self_train_pseudo_labels_grow_round_by_round_and_stay_balanced():
    source, X_target = _tiny_domains(64)
    start = adaptation.small_cnn(seed=0).eval()
    history = adaptation.self_train(
        start, source, X_target, threshold=0.0, rounds=2, per_round=2, steps=2, seed=0, progress=False
    )
    assert [h["round"] for h in history] == [1, 2]
    for h in history:
        assert torch.bincount(h["labels"], minlength=10).max() <= 2 * h["round"]
        assert not h["model"].training and h["model"] is not start
    assert len(history[1]["indices"]) >= len(history[0]["indices"])


def test_self_train_leaves_each_rounds_model_as_it_was_deployed():
    source, X_target = _tiny_domains(64)
    start = adaptation.small_cnn(seed=0).eval()
    kwargs = dict(threshold=0.0, per_round=2, steps=2, seed=0, progress=False)
    one, three = (adaptation.self_train(start, source, X_target, rounds=n, **kwargs) for n in (1, 3))
    for a, b in zip(one[0]["model"].state_dict().values(), three[0]["model"].state_dict().values(), strict=True):
        assert torch.equal(a, b), "a later round trained the model recorded for round 1"
    assert not torch.equal(three[0]["model"].head.weight, three[2]["model"].head.weight)


def test_scanned_digits_are_a_labelled_stand_in_target_drawn_like_the_handwritten_ones():
    X, y = adaptation.scanned_digits(40, seed=2)
    assert X.shape == (40, 1, adaptation.SIZE, adaptation.SIZE) and y.shape == (40,)
    assert X.min() >= 0 and X.max() <= 1 and set(y.tolist()) <= set(range(10))
    X2, y2 = adaptation.scanned_digits(40, seed=2)
    assert torch.equal(X, X2) and torch.equal(y, y2)
    scans = adaptation._scan_8x8(printed_digits().images[:20])
    assert scans.shape == (20, 8, 8) and torch.equal(scans.amax((1, 2)), torch.ones(20))
    assert torch.equal(scans * 16, (scans * 16).round()), "17 grey levels, like the scanned digits"


def test_joint_train_without_the_target_loss_learns_nothing_from_the_target_labels():
    source, X_target = _tiny_domains()
    labels = [torch.zeros(48, dtype=torch.long), torch.arange(48) % 10]
    nets = [adaptation.small_cnn(seed=0) for _ in range(3)]
    for net, y, w in zip(nets, [labels[0], labels[1], labels[1]], [0.0, 0.0, 1.0], strict=True):
        adaptation.joint_train(net, source, (X_target, y), steps=3, batch_size=8, target_weight=w)
    weights = [
        {k: v for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k} for net in nets
    ]
    assert all(torch.equal(v, weights[1][k]) for k, v in weights[0].items()), "weight 0: labels change no weight"
    assert not all(torch.equal(v, weights[2][k]) for k, v in weights[1].items()), "weight 1: the labels act"
