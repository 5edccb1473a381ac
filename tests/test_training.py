"""The shared training loop and evaluation (`course_utils.training`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils import models, training
from course_utils.models import GlyphNet

SMALL = (4, 8, 8, 8)


def tiny_net(seed: int = 0) -> GlyphNet:
    return GlyphNet(num_classes=2, widths=SMALL, seed=seed)


def test_fit_is_deterministic(two_blobs):
    runs = []
    for _ in range(2):
        net = tiny_net()
        history = training.fit(net, two_blobs, steps=6, batch_size=16, lr=1e-2, seed=4, progress=False)
        runs.append((history, net.state_dict()))
    (h1, w1), (h2, w2) = runs
    assert h1.loss == h2.loss and len(h1.loss) == 6
    assert all(torch.equal(v, w2[k]) for k, v in w1.items())
    other = training.fit(tiny_net(), two_blobs, steps=6, batch_size=16, lr=1e-2, seed=5, progress=False)
    assert other.loss != h1.loss  # the seed drives the batches


def test_fit_learns_a_separable_problem(two_blobs):
    X, y = two_blobs
    net = tiny_net()
    history = training.fit(
        net, (X, y), steps=30, batch_size=16, lr=1e-2, eval_data=(X, y), eval_every=10, progress=False
    )
    first, last = sum(history.loss[:5]) / 5, sum(history.loss[-5:]) / 5
    assert last < 0.5 * first
    assert history.eval_step == [10, 20, 30]
    assert history.final_acc == history.eval_acc[-1] >= 0.95
    assert not net.training  # fit leaves the model ready for evaluation


def test_fit_can_evaluate_before_the_first_step(two_blobs):
    X, y = two_blobs
    untrained = training.evaluate(tiny_net(), X, y)
    plain_net, first_net = tiny_net(), tiny_net()
    kwargs = {"steps": 8, "batch_size": 16, "lr": 1e-2, "eval_data": (X, y), "eval_every": 4, "progress": False}
    plain = training.fit(plain_net, (X, y), **kwargs)
    first = training.fit(first_net, (X, y), eval_first=True, **kwargs)
    assert plain.eval_step == [4, 8] and first.eval_step == [0, 4, 8]
    assert first.eval_acc[0] == untrained  # step 0: the initial weights, before any update
    assert first.eval_acc[1:] == plain.eval_acc and first.loss == plain.loss  # training itself is unchanged
    assert all(torch.equal(v, first_net.state_dict()[k]) for k, v in plain_net.state_dict().items())
    assert training.fit(tiny_net(), (X, y), steps=2, eval_first=True, progress=False).eval_step == []


def test_fit_with_a_batch_source_and_transform(two_blobs):
    X, y = two_blobs
    calls = []

    def source(g):
        rows = torch.randint(len(X), (8,), generator=g)
        return X[rows], y[rows]

    def transform(x, g):
        calls.append(len(x))
        return x

    history = training.fit(tiny_net(), source, steps=3, transform=transform, progress=False)
    assert calls == [8, 8, 8]
    assert len(history.loss) == 3 and history.eval_acc == []


def test_fit_trains_only_unfrozen_blocks(two_blobs):
    net = models.freeze_up_to(tiny_net(), "block4")
    backbone = {k: v.clone() for k, v in net.state_dict().items() if not k.startswith("head")}
    head = net.head.weight.clone()
    training.fit(net, two_blobs, steps=3, batch_size=16, lr=1e-2, progress=False)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in backbone.items())  # BatchNorm stats too
    assert not torch.equal(net.head.weight, head)


def test_cosine_schedule_anneals_to_zero(two_blobs):
    history = training.fit(tiny_net(), two_blobs, steps=20, batch_size=8, lr=1e-2, schedule="cosine", progress=False)
    assert history.lr[0] == pytest.approx(1e-2)
    assert history.lr == sorted(history.lr, reverse=True)
    assert history.lr[-1] < 0.01 * 1e-2
    constant = training.fit(tiny_net(), two_blobs, steps=3, batch_size=8, lr=1e-2, progress=False)
    assert constant.lr == [1e-2] * 3


def test_cosine_schedule_scales_every_param_group(two_blobs):
    net = tiny_net()
    groups = models.param_groups(net, models.discriminative_lrs(net, head_lr=1e-2))
    history = training.fit(net, two_blobs, steps=20, batch_size=8, lr=groups, schedule="cosine", progress=False)
    assert history.lr[0] == pytest.approx(1e-2)  # the last group is the head
    assert history.lr[-1] < 0.01 * 1e-2


def test_unknown_schedule_and_optimizer_are_rejected(two_blobs):
    with pytest.raises(ValueError, match=r"Unknown schedule 'linear'"):
        training.fit(tiny_net(), two_blobs, steps=1, schedule="linear", progress=False)
    with pytest.raises(ValueError, match=r"Unknown optimizer 'rmsprop'.*'adam' or 'sgd'"):
        training.fit(tiny_net(), two_blobs, steps=1, optimizer="rmsprop", progress=False)


def test_sgd_is_available(two_blobs):
    opt = training.make_optimizer(tiny_net(), 0.1, optimizer="sgd")
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9


def test_a_fully_frozen_model_cannot_be_trained(two_blobs):
    net = tiny_net()
    for p in net.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="Nothing to train"):
        training.fit(net, two_blobs, steps=1, progress=False)
    with pytest.raises(ValueError, match="Nothing to train"):
        training.fit(
            net, two_blobs, steps=1, lr=models.param_groups(net, models.discriminative_lrs(net, 1e-3)), progress=False
        )


def test_fit_rejects_mismatched_data(two_blobs):
    X, y = two_blobs
    with pytest.raises(ValueError, match=r"X has 64 examples but y has 63"):
        training.fit(tiny_net(), (X, y[:-1]), steps=1, progress=False)
    with pytest.raises(ValueError, match="no training examples"):
        training.fit(tiny_net(), (X[:0], y[:0]), steps=1, progress=False)


def test_evaluate_equals_hand_computed_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, 4.0], [1.0, 0.0], [0.5, -1.0]])
    y = torch.tensor([0, 1, 1, 0, 1])  # predictions 0, 1, 0, 0, 0: rows 0, 1 and 3 are right
    assert training.evaluate(nn.Identity(), logits, y) == pytest.approx(3 / 5)
    assert training.evaluate(nn.Identity(), logits, logits.argmax(1)) == 1.0
    assert training.evaluate(nn.Identity(), logits, 1 - logits.argmax(1)) == 0.0


def test_evaluate_on_a_model_is_in_range_and_batched(two_blobs):
    X, y = two_blobs
    net = tiny_net()
    acc = training.evaluate(net, X, y)
    assert 0.0 <= acc <= 1.0
    expected = (net(X).argmax(1) == y).float().mean().item()  # net is in eval mode now
    assert acc == pytest.approx(expected)
    assert torch.allclose(training.predict(net, X, batch_size=7), training.predict(net, X), atol=1e-5)


def test_evaluate_rejects_mismatched_lengths(two_blobs):
    X, y = two_blobs
    with pytest.raises(ValueError, match="must match"):
        training.evaluate(tiny_net(), X, y[:10])


def test_extract_features_caches_and_notices_changed_weights(two_blobs):
    X, _ = two_blobs
    net = tiny_net(seed=11)
    first = training.extract_features(net, X)
    assert first.shape == (64, net.feature_dim)
    assert training.extract_features(net, X) is first
    assert torch.allclose(first, training.extract_features(net, X, cache=False))
    with torch.no_grad():
        net.block1[0].weight.mul_(2)
    changed = training.extract_features(net, X)
    assert changed is not first
    assert not torch.allclose(changed, first)
    assert torch.allclose(changed, training.extract_features(net, X, cache=False))


def test_extract_features_notices_new_images(two_blobs):
    X, _ = two_blobs
    net = tiny_net(seed=12)
    a = training.extract_features(net, X)
    b = training.extract_features(net, X.flip(-1))
    assert b is not a and not torch.allclose(a, b)
