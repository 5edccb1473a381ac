"""Fine-tuning MiniLM's top layers on cached lower layers (`course_utils.text_finetune`)."""

from __future__ import annotations

import pytest
import torch
from sklearn.linear_model import LogisticRegression

from course_utils import models, reviews, texts
from course_utils import text_finetune as tft

SENTENCES = [
    "The for statement iterates over the items of any sequence, in the order that they appear.",
    "Short.",
    "Complex numbers have a real and an imaginary part, which are both floating-point numbers.",
    "A class definition defines a class object; its suite is executed in a new execution frame.",
    "The methods of str objects return copies; strings are immutable.",
    "Comparisons can be chained arbitrarily, and all have the same priority.",
]
LABELS = torch.tensor([0, 1, 1, 2, 3, 1])


def test_fixed_split_is_stratified_disjoint_and_the_same_every_time():
    labels = reviews.load_corpus().labels
    train, test = tft.fixed_split(labels, test_size=1000)
    assert len(test) == 1000 and len(train) + len(test) == len(labels)
    assert not set(train.tolist()) & set(test.tolist())
    assert torch.bincount(labels[test]).tolist() == [500, 500]
    assert torch.equal(test, tft.fixed_split(labels, test_size=1000)[1])


def test_labelled_subset_draws_per_class_from_the_rows_given():
    labels = texts.load_corpus().labels
    train, _ = tft.fixed_split(labels, test_size=200)
    rows = tft.labelled_subset(labels, train, 16, seed=3)
    assert torch.bincount(labels[rows]).tolist() == [16] * 4 and set(rows.tolist()) <= set(train.tolist())
    assert torch.equal(rows, tft.labelled_subset(labels, train, 16, seed=3))
    assert not torch.equal(rows, tft.labelled_subset(labels, train, 16, seed=4))
    assert torch.equal(tft.labelled_subset(labels, train, None, seed=0), train)
    with pytest.raises(ValueError, match="only"):
        tft.labelled_subset(labels, train, 1000, seed=0)


@pytest.mark.parametrize("n_frozen", [0, 4, 6])
def test_cached_lower_layers_then_top_layers_equal_the_whole_model(n_frozen):
    tokenizer, minilm = texts.load_minilm()
    cache = tft.cache_lower_layers(SENTENCES, n_frozen, max_length=32, batch_size=4, progress=False)
    model = tft.TopLayersClassifier(6 - n_frozen, num_classes=4).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=32, return_tensors="pt")
    with torch.no_grad():
        expected = minilm(**batch).last_hidden_state
        hidden = cache.hidden
        for layer in model.layers:
            hidden = layer(hidden, attention_mask=tft.extended_mask(cache.mask))
        embedded = model.embed(cache.hidden, cache.mask)
    assert torch.equal(cache.mask, batch["attention_mask"])
    real = cache.mask.unsqueeze(-1).bool()
    assert torch.allclose(hidden.masked_fill(~real, 0), expected.masked_fill(~real, 0), atol=1e-5)
    assert torch.allclose(embedded, texts.embed(SENTENCES, max_length=32, progress=False), atol=1e-5)


def test_batches_are_trimmed_to_their_longest_text():
    cache = tft.cache_lower_layers(SENTENCES, 5, max_length=32, progress=False)
    hidden, mask = cache.batch(torch.tensor([1]))  # "Short." is [CLS] short . [SEP]
    assert hidden.shape == (1, 4, 384) and mask.tolist() == [[1, 1, 1, 1]]


def test_length_grouped_batches_cover_every_row_once_with_little_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 65, (1000,), generator=g)
    rows = torch.arange(100, 1000)
    batches = tft.length_grouped_batches(rows, lengths, 32, torch.Generator().manual_seed(1), group=10)
    assert sorted(torch.cat(batches).tolist()) == rows.tolist()
    assert sum(len(b) < 32 for b in batches) == 1 and len(batches) == -(-len(rows) // 32)
    padded = sum(len(b) * lengths[b].max().item() for b in batches)
    shuffled = rows[torch.randperm(len(rows), generator=g)].split(32)
    assert padded < 0.7 * sum(len(b) * lengths[b].max().item() for b in shuffled)
    again = tft.length_grouped_batches(rows, lengths, 32, torch.Generator().manual_seed(1), group=10)
    other = tft.length_grouped_batches(rows, lengths, 32, torch.Generator().manual_seed(2), group=10)
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(batches, other, strict=False))


def test_head_from_probe_reproduces_the_probe():
    cache = tft.cache_lower_layers(SENTENCES, 5, max_length=32, progress=False)
    model = tft.TopLayersClassifier(1, num_classes=4)
    rows = torch.arange(len(SENTENCES))
    features = model.eval().embed(cache.hidden, cache.mask).detach()
    probe = LogisticRegression(max_iter=1000).fit(features.numpy(), LABELS.numpy())
    logits = tft.predict(model.init_head_from_probe(probe), cache, rows)
    assert torch.allclose(logits, torch.as_tensor(probe.decision_function(features.numpy())).float(), atol=1e-4)
    with pytest.raises(ValueError, match="coefficients"):
        tft.TopLayersClassifier(1, num_classes=3).init_head_from_probe(probe)
    binary = LogisticRegression(max_iter=1000).fit(features.numpy(), (LABELS == 1).long().numpy())
    logits = tft.predict(tft.TopLayersClassifier(1, num_classes=2).init_head_from_probe(binary), cache, rows)
    margin = torch.as_tensor(binary.decision_function(features.numpy())).float()  # class 1 against class 0
    assert torch.allclose(logits[:, 1] - logits[:, 0], margin, atol=1e-4)
    assert torch.equal(logits.argmax(1), torch.as_tensor(binary.predict(features.numpy())))


def test_fine_tune_is_deterministic_learns_and_leaves_minilm_alone():
    cache = tft.cache_lower_layers(SENTENCES, 5, max_length=32, progress=False)
    rows = torch.arange(len(SENTENCES))
    before = texts.load_minilm()[1].encoder.layer[5].output.dense.weight.clone()
    runs = [
        tft.fine_tune(
            tft.TopLayersClassifier(1, 4, seed=0),
            cache,
            rows,
            LABELS,
            epochs=8,
            batch_size=3,
            lr=1e-3,
            head_lr=1e-2,
            seed=0,
            progress=False,
        )
        for _ in range(2)
    ]
    assert runs[0].loss == runs[1].loss
    assert runs[0].loss[-1] < runs[0].loss[0]
    assert torch.equal(tft.predict(runs[0].model, cache, rows), tft.predict(runs[1].model, cache, rows))
    assert torch.equal(texts.load_minilm()[1].encoder.layer[5].output.dense.weight, before)


def test_bitfit_and_lora_train_far_fewer_parameters():
    full = tft.TopLayersClassifier(1, 4)
    bias_only, lora = tft.bitfit(tft.TopLayersClassifier(1, 4)), tft.add_lora(tft.TopLayersClassifier(1, 4), rank=4)
    head = 384 * 4 + 4
    assert models.count_parameters(full) > 1_700_000
    assert models.count_parameters(bias_only) == head + sum(
        p.numel() for n, p in full.layers.named_parameters() if n.endswith("bias")
    )
    assert models.count_parameters(lora) == head + 2 * 2 * 4 * 384  # query and value: A [4, 384] and B [384, 4]
    cache = tft.cache_lower_layers(SENTENCES, 5, max_length=32, progress=False)
    with torch.no_grad():  # LoRA starts as the identity update: B = 0
        assert torch.allclose(lora(cache.hidden, cache.mask), full(cache.hidden, cache.mask), atol=1e-6)


def test_clear_errors_on_bad_input():
    with pytest.raises(TypeError, match="list of strings"):
        tft.cache_lower_layers("for loops", 5)
    with pytest.raises(ValueError, match="n_frozen"):
        tft.cache_lower_layers(SENTENCES, 7)
    with pytest.raises(ValueError, match="n_top"):
        tft.TopLayersClassifier(7, 4)
    cache = tft.cache_lower_layers(SENTENCES, 4, max_length=32, progress=False)
    with pytest.raises(ValueError, match="6"):
        tft.fine_tune(tft.TopLayersClassifier(1, 4), cache, torch.arange(6), LABELS, progress=False)
    with pytest.raises(ValueError, match="must match"):
        tft.fine_tune(tft.TopLayersClassifier(2, 4), cache, torch.arange(6), LABELS[:5], progress=False)
