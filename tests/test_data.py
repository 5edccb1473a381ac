"""The data: the glyph corpus (`glyphs`), the augmentation (`augment`) and the digits (`digits`)."""

from __future__ import annotations

import statistics
import time
import unicodedata
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_utils import augment as aug
from course_utils import digits, glyphs, pretrain
from course_utils.models import GlyphNet

# --- glyphs ---------------------------------------------------------------------------------------


def test_corpus_is_large(corpus):
    assert corpus.num_classes > 1000
    assert len(corpus.chars) == len(set(corpus.chars)), "a character appears as two classes"
    assert len(corpus.scripts) == corpus.num_classes


def test_every_class_has_renders_and_labels_are_in_range(corpus):
    counts = torch.bincount(corpus.labels, minlength=corpus.num_classes)
    assert len(counts) == corpus.num_classes
    assert counts.min() >= 1
    assert corpus.fonts.min() >= 0 and corpus.fonts.max() < len(corpus.font_names)
    assert len(corpus.images) == len(corpus.labels) == len(corpus.fonts)


def test_background_and_evaluation_scripts_are_disjoint_and_cover_the_corpus(corpus):
    background = corpus.select_scripts(glyphs.BACKGROUND_SCRIPTS)
    evaluation = corpus.select_scripts(glyphs.EVALUATION_SCRIPTS)
    assert not set(glyphs.BACKGROUND_SCRIPTS) & set(glyphs.EVALUATION_SCRIPTS)
    assert not set(background.chars) & set(evaluation.chars)
    assert set(background.chars) | set(evaluation.chars) == set(corpus.chars)
    assert len(background) + len(evaluation) == len(corpus)
    assert set(background.scripts) <= set(glyphs.BACKGROUND_SCRIPTS)
    assert set(evaluation.scripts) <= set(glyphs.EVALUATION_SCRIPTS)


def test_background_alphabets_match_select_scripts(corpus, background):
    assert background.chars == corpus.select_scripts(glyphs.BACKGROUND_SCRIPTS).chars
    assert background.num_classes > 500


def test_no_digits_in_the_corpus(corpus):
    assert not [ch for ch in corpus.chars if ch.isdigit() or unicodedata.category(ch) == "Nd"]


def test_no_two_classes_look_alike(corpus):
    """Reference (DejaVuSans) renders of different letters are less similar than the duplicate cut-off."""
    rows = corpus.fonts == corpus.font_names.index("DejaVuSans.ttf")
    assert sorted(corpus.labels[rows].tolist()) == list(range(corpus.num_classes))  # one reference each
    reference = torch.zeros(corpus.num_classes, 1, glyphs.BASE_SIZE, glyphs.BASE_SIZE)
    reference[corpus.labels[rows], 0] = corpus.images[rows].float()
    x = F.avg_pool2d(reference, 2).flatten(1)  # 16x16
    x = x - x.mean(1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True)
    similarity = x @ x.T
    similarity.fill_diagonal_(-1)
    worst = similarity.max()
    i, j = divmod(int(similarity.argmax()), corpus.num_classes)
    assert worst < glyphs.DUPLICATE_SIMILARITY, f"{corpus.chars[i]!r} and {corpus.chars[j]!r} look alike"


def test_base_images_are_uint8_32x32_and_not_blank(corpus):
    assert corpus.images.dtype == torch.uint8
    assert corpus.images.shape[1:] == (glyphs.BASE_SIZE, glyphs.BASE_SIZE) == (32, 32)
    ink_pixels = (corpus.images > 32).sum((1, 2))
    assert ink_pixels.min() >= 8
    assert corpus.images.amax((1, 2)).min() > 128


def test_render_gives_a_base_image_or_none():
    image = glyphs.render("A")
    assert image.dtype == np.uint8
    assert image.shape == (32, 32) and image.max() > 128
    assert glyphs.render("\u4e00") is None  # a CJK character DejaVuSans does not have


def test_printed_digits_have_ten_classes_in_many_fonts():
    printed = glyphs.printed_digits()
    assert printed.chars == [str(d) for d in range(10)]
    counts = torch.bincount(printed.labels, minlength=10)
    assert len(counts) == 10
    assert counts.min() >= 20
    assert printed.images.dtype == torch.uint8 and (printed.images > 32).sum((1, 2)).min() >= 8


def test_select_classes_relabels_in_the_given_order(corpus):
    picked = corpus.select_classes([5, 2])
    assert picked.chars == [corpus.chars[5], corpus.chars[2]]
    assert set(picked.labels.tolist()) == {0, 1}
    assert torch.equal(picked.images[picked.labels == 0], corpus.images[corpus.labels == 5])
    assert torch.equal(picked.images[picked.labels == 1], corpus.images[corpus.labels == 2])


def test_select_scripts_rejects_an_unknown_script(corpus):
    with pytest.raises(ValueError, match=r"Unknown script.*KLINGON"):
        corpus.select_scripts(("LATIN", "KLINGON"))


def test_sample_batch_shapes_and_ranges(background):
    X, y = glyphs.sample_batch(background, 16, aug.GLYPHS, torch.Generator().manual_seed(0))
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32
    assert X.min() >= 0 and X.max() <= 1 and X.max() > 0.5
    assert y.shape == (16,) and y.dtype == torch.int64
    assert y.min() >= 0 and y.max() < background.num_classes


def test_sample_batch_is_a_function_of_the_seed(background):
    def draw(seed):
        return glyphs.sample_batch(background, 16, aug.GLYPHS, torch.Generator().manual_seed(seed))

    (X1, y1), (X2, y2), (X3, y3) = draw(3), draw(3), draw(4)
    assert torch.equal(X1, X2) and torch.equal(y1, y2)
    assert not torch.equal(X1, X3)
    assert not torch.equal(y1, y3)


# --- augment --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [aug.NONE, aug.GLYPHS, aug.WILD], ids=["none", "glyphs", "wild"])
@pytest.mark.parametrize("source", ["uint8_32", "float_8", "float_4d"])
def test_augment_shape_and_range(cfg, source):
    g = torch.Generator().manual_seed(0)
    if source == "uint8_32":
        base = (torch.rand(6, 32, 32, generator=g) * 255).to(torch.uint8)
    elif source == "float_8":
        base = torch.rand(6, 8, 8, generator=g)
    else:
        base = torch.rand(6, 1, 20, 20, generator=g)
    out = aug.augment(base, cfg, torch.Generator().manual_seed(1))
    assert out.shape == (6, 1, aug.IMAGE_SIZE, aug.IMAGE_SIZE) == (6, 1, 28, 28)
    assert out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and out.max() > 0


def test_uint8_and_float_inputs_mean_the_same_image():
    base = (torch.rand(4, 32, 32, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    a = aug.augment(base, aug.NONE, torch.Generator().manual_seed(0))
    b = aug.augment(base.float() / 255, aug.NONE, torch.Generator().manual_seed(0))
    assert torch.allclose(a, b, atol=1e-6)


def test_augment_is_a_function_of_the_seed(corpus):
    base = corpus.images[:32]
    a = aug.augment(base, aug.GLYPHS, torch.Generator().manual_seed(7))
    b = aug.augment(base, aug.GLYPHS, torch.Generator().manual_seed(7))
    c = aug.augment(base, aug.GLYPHS, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_none_has_no_randomness(corpus):
    base = corpus.images[:32]
    a = aug.augment(base, aug.NONE, torch.Generator().manual_seed(0))
    b = aug.augment(base, aug.NONE, torch.Generator().manual_seed(12345))
    assert torch.equal(a, b)
    # and it is a faithful, centred copy: the glyph keeps its ink and stays on the canvas
    assert (a.flatten(1).amax(1) > 0.5).all()
    assert a[:, :, 0, :].max() == 0 and a[:, :, -1, :].max() == 0


def test_clutter_adds_ink_and_never_removes_it(corpus):
    base = corpus.images[:64]
    plain_cfg = replace(aug.WILD, clutter=0, contrast=(1.0, 1.0))
    plain = aug.augment(base, plain_cfg, torch.Generator().manual_seed(0))
    cluttered = aug.augment(base, replace(plain_cfg, clutter=6), torch.Generator().manual_seed(0))
    assert (cluttered >= plain).all()
    added = (cluttered - plain).flatten(1).sum(1)
    assert (added > 0).float().mean() > 0.9


def test_clutter_on_a_blank_canvas():
    blank = torch.zeros(32, 8, 8)
    none = aug.augment(blank, replace(aug.WILD, clutter=0), torch.Generator().manual_seed(0))
    some = aug.augment(blank, replace(aug.WILD, clutter=6), torch.Generator().manual_seed(0))
    assert none.max() == 0
    assert (some.flatten(1).amax(1) > 0.2).float().mean() > 0.9


def test_making_a_batch_costs_less_than_a_training_step(background):
    """Augmentation on the fly must not be the bottleneck of pre-training (a ratio, not a wall time)."""
    net = GlyphNet(background.num_classes, widths=pretrain.WIDTHS)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    data_times, step_times = [], []
    for i in range(6):
        t0 = time.perf_counter()
        X, y = glyphs.sample_batch(background, 64, aug.GLYPHS, g)
        t1 = time.perf_counter()
        loss = F.cross_entropy(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        t2 = time.perf_counter()
        if i > 0:  # the first round warms up
            data_times.append(t1 - t0)
            step_times.append(t2 - t1)
    ratio = statistics.median(data_times) / statistics.median(step_times)
    assert ratio < 1.0, f"making a batch takes {ratio:.2f}x a training step"


# --- digits ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("presentation", digits.PRESENTATIONS)
def test_handwritten_digits_shapes(presentation):
    split = digits.handwritten_digits(presentation)
    assert split.X_train.shape == (1078, 1, 28, 28)
    assert split.X_test.shape == (719, 1, 28, 28)
    assert split.y_train.shape == (1078,) and split.y_test.shape == (719,)
    assert split.X_train.dtype == torch.float32
    assert split.X_train.min() >= 0 and split.X_test.max() <= 1
    assert set(split.y_train.tolist()) == set(split.y_test.tolist()) == set(range(10))
    assert torch.bincount(split.y_test).min() >= 60  # the split is stratified


def test_test_set_is_the_same_for_everyone(wild, clean):
    raw = digits._raw_split()
    again = digits.present(raw[2], "wild", digits.PLACEMENT_SEEDS["test"])
    assert torch.equal(again, wild.X_test)
    assert torch.equal(digits.handwritten_digits("wild").X_test, wild.X_test)
    assert torch.equal(wild.y_test, clean.y_test)
    assert torch.equal(wild.y_train, clean.y_train)


def test_train_and_test_do_not_overlap(clean):
    raw_train, _, raw_test, _ = digits._raw_split()
    train_rows = {tuple(r.flatten().tolist()) for r in raw_train}
    test_rows = [tuple(r.flatten().tolist()) for r in raw_test]
    assert len(raw_train) + len(raw_test) == 1797
    assert not [r for r in test_rows if r in train_rows]  # no test image is also a training image


def test_clean_and_wild_differ(wild, clean):
    assert not torch.equal(wild.X_train, clean.X_train)
    assert not torch.equal(wild.X_test, clean.X_test)
    # clean digits are centred: no ink on the border; wild ones are scattered with clutter
    assert clean.X_test[:, :, :2, :].max() == 0
    assert wild.X_test[:, :, :2, :].max() > 0


def test_learner_edits_do_not_change_the_shared_test_set():
    first = digits.handwritten_digits("clean")
    before = first.X_test.clone()
    first.X_test.sub_(first.X_test.mean())  # a learner normalising in place
    assert torch.equal(digits.handwritten_digits("clean").X_test, before)


def test_labelled_subset_gives_exactly_k_per_class(wild):
    rows = digits.labelled_subset(wild.y_train, 5, seed=0)
    assert torch.equal(torch.bincount(wild.y_train[rows], minlength=10), torch.full((10,), 5))
    assert len(set(rows.tolist())) == 50  # no row twice
    assert torch.equal(rows, torch.sort(rows).values)


def test_labelled_subset_none_gives_everything(wild):
    assert torch.equal(digits.labelled_subset(wild.y_train, None, seed=0), torch.arange(len(wild.y_train)))


def test_labelled_subset_is_a_function_of_the_seed(wild):
    a = digits.labelled_subset(wild.y_train, 3, seed=1)
    b = digits.labelled_subset(wild.y_train, 3, seed=1)
    c = digits.labelled_subset(wild.y_train, 3, seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_labelled_subset_refuses_more_than_available(wild):
    smallest = int(torch.bincount(wild.y_train).min())
    digits.labelled_subset(wild.y_train, smallest, seed=0)  # exactly all of the smallest class is fine
    with pytest.raises(ValueError, match=f"only {smallest} examples"):
        digits.labelled_subset(wild.y_train, smallest + 1, seed=0)


def test_present_rejects_an_unknown_presentation():
    with pytest.raises(ValueError, match=r"Unknown presentation 'noisy'.*clean.*wild"):
        digits.present(torch.zeros(2, 8, 8), "noisy", seed=0)


def test_printed_digit_images_are_seeded():
    X1, y1 = digits.printed_digit_images(16, "wild", seed=0)
    X2, y2 = digits.printed_digit_images(16, "wild", seed=0)
    X3, _ = digits.printed_digit_images(16, "wild", seed=1)
    assert X1.shape == (16, 1, 28, 28) and y1.max() < 10
    assert torch.equal(X1, X2) and torch.equal(y1, y2)
    assert not torch.equal(X1, X3)


def test_original_scans_are_the_same_split_at_8x8():
    scans, wild = digits.original_scans(), digits.handwritten_digits("wild")
    assert scans.X_train.shape[1:] == (1, 8, 8) and scans.X_test.shape[1:] == (1, 8, 8)
    assert torch.equal(scans.y_train, wild.y_train) and torch.equal(scans.y_test, wild.y_test)
    assert scans.X_train.min() >= 0 and scans.X_train.max() <= 1
    scans.X_test[0] = 0  # fresh copies: editing them changes nobody else's data
    assert digits.original_scans().X_test[0].sum() > 0
