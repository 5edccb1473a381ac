"""The text corpus and the MiniLM encoder (`course_utils.texts`)."""

from __future__ import annotations

import sys

import pytest
import torch

from course_utils import texts


def test_shipped_corpus_is_balanced_labelled_and_distinct():
    corpus = texts.load_corpus()
    assert len(corpus.texts) == 600 and len(set(corpus.texts)) == 600
    assert torch.bincount(corpus.labels).tolist() == [texts.PER_CLASS] * len(texts.LABELS)
    assert all(len(t.split()) >= texts.MIN_WORDS for t in corpus.texts)
    for topic, label in zip(corpus.topics, corpus.labels.tolist(), strict=True):
        assert topic in texts.TOPIC_GROUPS[texts.LABELS[label]]


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the shipped corpus was extracted from Python 3.11")
def test_build_corpus_reproduces_the_shipped_file():
    corpus = texts.load_corpus()
    rebuilt = texts.build_corpus()
    assert [r["text"] for r in rebuilt] == corpus.texts


def test_prose_filter_drops_grammar_and_examples():
    text = 'assert_stmt ::= "assert" expression\n\n>>> assert 1\n\n' + "word " * 20 + "ends here.\n\nshort one."
    assert texts._prose_paragraphs(text) == ["word " * 20 + "ends here."]


def test_minilm_embeddings_are_normalised_and_meaningful():
    emb = texts.embed(
        [
            "The for statement iterates over a sequence.",
            "A for loop repeats over the items of a list.",
            "Complex numbers have a real and an imaginary part.",
        ]
    )
    assert emb.shape == (3, 384)
    assert torch.allclose(emb.norm(dim=1), torch.ones(3), atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.1


def test_embed_returns_rows_in_input_order_whatever_the_lengths():
    sentences = [
        "A much longer sentence about the data model, special methods and attribute access in classes.",
        "Short.",
        "A sentence of middling length about loops.",
    ]
    together = texts.embed(sentences, batch_size=2)
    one_by_one = torch.cat([texts.embed([s]) for s in sentences])
    assert torch.allclose(together, one_by_one, atol=1e-5)


def test_embed_rejects_a_bare_string():
    with pytest.raises(TypeError, match=r"embed\(\[text\]\)"):
        texts.embed("for loops")


def test_minilm_path_loads_a_sequence_classifier_offline_on_the_same_encoder(monkeypatch):
    """Notebook 08's Hugging Face recipe: `AutoModelForSequenceClassification` from the package's folder, no network."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hf_logging.set_verbosity_error()
    path = texts.minilm_path()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    tokenizer, encoder = texts.load_minilm()
    batch = tokenizer(["A gorgeous, witty film.", "Tedious."], padding=True, return_tensors="pt")
    with torch.no_grad():
        same = model.bert(**batch).last_hidden_state
        want = encoder(**batch).last_hidden_state
        logits = model(**batch).logits
    assert torch.allclose(same, want, atol=1e-5)  # the encoder under the new head is MiniLM's own
    assert logits.shape == (2, 2)
    assert batch["attention_mask"][1].tolist()[-1] == 0  # the shorter sentence is padded, and masked
