"""Few-shot episodes, prototypes and episode evaluation (`course_utils.fewshot`)."""

from __future__ import annotations

import pytest
import torch

from course_utils import fewshot, meta_learning


@pytest.fixture(scope="module")
def novel():
    from course_utils import glyphs

    return glyphs.evaluation_alphabets()


def test_episode_shapes_labels_and_seed(novel):
    ep = fewshot.sample_episode(novel, way=5, shot=2, queries=3, generator=torch.Generator().manual_seed(0))
    assert ep.support_x.shape == (10, 1, 28, 28) and ep.query_x.shape == (15, 1, 28, 28)
    assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and ep.query_y.bincount().tolist() == [3] * 5
    assert len(set(ep.classes)) == 5 and ep.way == 5
    again = fewshot.sample_episode(novel, 5, 2, 3, torch.Generator().manual_seed(0))
    assert torch.equal(ep.support_x, again.support_x) and ep.classes == again.classes


def test_support_and_query_use_different_fonts_when_they_can(novel):
    g = torch.Generator().manual_seed(1)
    ep = fewshot.sample_episode(novel, way=5, shot=1, queries=4, generator=g, cfg=fewshot.aug.NONE)
    for c in range(5):  # without augmentation, a query equal to its support would mean the same font
        fonts = (novel.labels == ep.classes[c]).sum().item()
        same = [torch.equal(q, ep.support_x[c]) for q in ep.query_x[ep.query_y == c]]
        if fonts > 1:
            assert not any(same)


def test_bad_episode_requests_say_what_is_wrong(novel):
    g = torch.Generator()
    with pytest.raises(ValueError, match="way >= 2"):
        fewshot.sample_episode(novel, 1, 1, 1, g)
    with pytest.raises(ValueError, match="only"):
        fewshot.sample_episode(novel, 10_000, 1, 1, g)


def test_prototypes_and_nearest_prototype():
    emb = torch.tensor([[0.0, 0.0], [0.0, 2.0], [10.0, 0.0], [10.0, 2.0]])
    protos = fewshot.prototypes(emb, torch.tensor([0, 0, 1, 1]), 2)
    assert protos.tolist() == [[0.0, 1.0], [10.0, 1.0]]
    with pytest.raises(ValueError, match="no support"):
        fewshot.prototypes(emb, torch.tensor([0, 0, 0, 0]), 2)
    query = torch.tensor([[1.0, 1.0], [9.0, 0.0]])
    assert fewshot.nearest_prototype(emb, torch.tensor([0, 0, 1, 1]), query, 2).tolist() == [0, 1]


def test_shared_episodes_batched_embeddings_and_score(novel):
    eps = fewshot.sample_episodes(novel, way=5, shot=1, count=6, seed=3)
    assert [ep.classes for ep in eps] == [ep.classes for ep in fewshot.sample_episodes(novel, 5, 1, 6, seed=3)]
    embedded = fewshot.embed_episodes(fewshot.raw_pixels, eps, batch_size=7)  # batches cross episode borders
    for ep, (s, q) in zip(eps, embedded, strict=True):
        assert torch.equal(s, ep.support_x.flatten(1)) and torch.equal(q, ep.query_x.flatten(1))
    perfect = fewshot.score(eps, embedded, classify=lambda s, sy, q, way: torch.arange(way).repeat_interleave(5))
    assert perfect.mean == 1.0 and perfect.ci95 == 0.0


def test_raw_pixels_are_weak_but_above_chance_and_the_interval_is_reported(novel):
    result = fewshot.evaluate_episodes(fewshot.raw_pixels, novel, way=5, shot=1, episodes=40, seed=0)
    assert 0.2 < result.mean < 0.6 and 0 < result.ci95 < 0.15 and len(result.accuracies) == 40  # chance: 0.2
    assert "±" in str(result)


def test_image_episodes_use_distinct_images():
    X = torch.arange(60, dtype=torch.float32).view(60, 1, 1, 1).expand(60, 1, 2, 2).clone()
    y = torch.arange(60) % 6
    ep = fewshot.sample_image_episode(X, y, way=3, shot=2, queries=4, generator=torch.Generator().manual_seed(0))
    ids = torch.cat([ep.support_x, ep.query_x])[:, 0, 0, 0].tolist()
    assert len(set(ids)) == len(ids) == 18
    pairs = zip(ep.support_x[:, 0, 0, 0].tolist(), ep.support_y.tolist(), strict=True)
    assert all(int(i) % 6 == ep.classes[c] for i, c in pairs)
    with pytest.raises(ValueError, match="needs shot"):
        fewshot.sample_image_episode(X, y, way=3, shot=8, queries=4, generator=torch.Generator())
    result = fewshot.evaluate_episodes(fewshot.raw_pixels, (X, y), way=3, shot=2, episodes=5)
    assert len(result.accuracies) == 5


def test_glyph_pool_and_pool_embeddings_match_per_episode_embeddings(novel):
    X, y = fewshot.glyph_pool(novel, per_class=3, seed=0)
    assert X.shape == (3 * novel.num_classes, 1, 28, 28) and torch.bincount(y).tolist() == [3] * novel.num_classes
    eps = fewshot.sample_episodes((X, y), way=5, shot=1, count=4, queries=2, seed=1)
    assert all(torch.equal(ep.support_x, X[ep.support_idx]) for ep in eps)
    pooled = fewshot.embed_pool(fewshot.raw_pixels, eps, X)
    direct = fewshot.embed_episodes(fewshot.raw_pixels, eps)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(pooled, direct, strict=True))
    with pytest.raises(ValueError, match="image pool"):
        fewshot.embed_pool(fewshot.raw_pixels, fewshot.sample_episodes(novel, 5, 1, 1), X)


def test_matching_networks_vote_by_attention():
    support = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    log_probs = meta_learning.matching_log_probs(support, torch.tensor([0, 1, 0]), torch.tensor([[1.0, 0.05]]), 2)
    assert torch.allclose(log_probs.exp().sum(1), torch.ones(1), atol=1e-4)
    assert meta_learning.matching_classify(
        support, torch.tensor([0, 1, 0]), torch.tensor([[0.1, 1.0]]), 2
    ).tolist() == [1]


def test_episodic_training_lowers_the_loss(novel):
    from course_utils.models import GlyphNet

    for method in ("prototypical", "matching"):
        net = GlyphNet(10, widths=(4, 8, 8, 8), seed=0)
        losses = meta_learning.train_episodic(
            net, novel, steps=30, method=method, way=5, shot=2, queries=3, lr=3e-3, progress=False
        )
        assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, method
    with pytest.raises(ValueError, match="Unknown method"):
        meta_learning.train_episodic(net, novel, steps=1, method="maml")


def test_inner_loop_adapts_the_head_and_first_order_cuts_the_graph():
    head = torch.nn.Linear(2, 2)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    support, support_y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    params = dict(head.named_parameters())
    adapted = meta_learning.adapt_head(head, params, support, support_y, steps=3, alpha=1.0, first_order=False)
    assert adapted["weight"][0, 0] > 0 and adapted["weight"][1, 1] > 0  # moved towards the support labels
    assert adapted["weight"].grad_fn is not None  # second order: differentiable w.r.t. the initial head
    predictions = meta_learning.anil_classifier(head, steps=3, alpha=1.0)(support, support_y, support, 2)
    assert predictions.tolist() == [0, 1] and head.weight.abs().sum() == 0  # the meta-learned head is untouched


def test_fewer_shots_keep_the_classes_and_queries():
    X = torch.arange(60).float().view(60, 1, 1, 1)
    y = torch.arange(6).repeat_interleave(10)
    ep = fewshot.sample_image_episode(X, y, way=3, shot=4, queries=2, generator=torch.Generator().manual_seed(0))
    one = ep.with_shots(1)
    assert one.shot == 1 and one.support_y.tolist() == [0, 1, 2]
    assert one.support_idx.tolist() == ep.support_idx[[0, 4, 8]].tolist()
    assert torch.equal(one.query_x, ep.query_x) and one.classes == ep.classes
    assert ep.with_shots(4).support_idx.tolist() == ep.support_idx.tolist()
    with pytest.raises(ValueError, match="1 to 4"):
        ep.with_shots(5)


def test_pool_fonts_follow_the_pool_and_split_support_from_queries(novel):
    X, y = fewshot.glyph_pool(novel, per_class=6, seed=2)
    fonts = fewshot.pool_fonts(novel, per_class=6, seed=2)
    assert len(fonts) == len(y)
    for c in range(0, novel.num_classes, 37):  # every pool image's font is one that renders its letter
        assert set(fonts[y == c].tolist()) <= set(novel.fonts[novel.labels == c].tolist())
    eps = fewshot.sample_episodes((X, y, fonts), way=5, shot=2, count=20, queries=3, seed=0)
    split = 0
    for ep in eps:
        for k, c in enumerate(ep.classes):
            s_fonts = set(fonts[ep.support_idx[ep.support_y == k]].tolist())
            q_fonts = set(fonts[ep.query_idx[ep.query_y == k]].tolist())
            if len(set(fonts[y == c].tolist())) > 1:  # 6 images in two or more fonts: always enough to split
                assert s_fonts.isdisjoint(q_fonts)
                split += 1
    assert split > 50
    again = fewshot.sample_episodes((X, y, fonts), way=5, shot=2, count=20, queries=3, seed=0)
    assert all(torch.equal(a.support_idx, b.support_idx) for a, b in zip(eps, again, strict=True))


def test_one_font_classes_fall_back_to_distinct_images():
    X = torch.arange(40).float().view(40, 1, 1, 1)
    y = torch.arange(4).repeat_interleave(10)
    fonts = torch.zeros(40, dtype=torch.long)
    ep = fewshot.sample_image_episode(X, y, 2, 3, 4, torch.Generator().manual_seed(0), fonts=fonts)
    rows = torch.cat([ep.support_idx, ep.query_idx]).tolist()
    assert len(set(rows)) == len(rows) == 14


def test_meta_split_holds_out_whole_alphabets():
    from course_utils import glyphs

    train, val = fewshot.meta_split(glyphs.background_alphabets())
    assert set(val.scripts) == set(fewshot.VALIDATION_SCRIPTS)
    assert set(train.scripts).isdisjoint(val.scripts)
    assert train.num_classes + val.num_classes == glyphs.background_alphabets().num_classes


def test_anil_training_lowers_the_query_loss(novel):
    from course_utils.models import GlyphNet

    body, head = GlyphNet(10, widths=(4, 8, 8, 8), seed=0), meta_learning.zero_head(8, 3)
    losses = meta_learning.train_anil(
        body, head, novel, steps=40, way=3, shot=2, queries=3, lr=3e-3, head_lr=3e-2, progress=False
    )
    assert sum(losses[-8:]) / 8 < sum(losses[:8]) / 8
    assert head.weight.abs().sum() > 0  # the starting head is meta-learned too


def test_adapt_linear_takes_the_same_steps_as_the_autograd_inner_loop():
    g = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(6, 3)
    support, support_y = torch.randn(9, 6, generator=g), torch.arange(3).repeat(3)
    params = {k: v.detach().clone().requires_grad_() for k, v in head.named_parameters()}
    slow = meta_learning.adapt_head(head, params, support, support_y, steps=4, alpha=0.3)
    weight, bias = meta_learning.adapt_linear(head.weight, head.bias, support, support_y, steps=4, alpha=0.3)
    assert torch.allclose(weight, slow["weight"], atol=1e-6) and torch.allclose(bias, slow["bias"], atol=1e-6)
    assert not torch.allclose(weight, head.weight)  # it moved
