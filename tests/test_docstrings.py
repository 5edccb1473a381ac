"""The standard-library docstring corpus (`course_utils.docstrings`)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from course_utils import docstrings as ds


def test_shipped_corpus_is_balanced_labelled_and_distinct():
    corpus = ds.load_corpus()
    n = ds.PER_CLASS * len(ds.LABELS)
    assert len(corpus.texts) == n and len(set(corpus.texts)) == n and len(set(corpus.topics)) == n
    assert corpus.names == ds.LABELS and len(ds.LABELS) == 5
    assert corpus.labels.dtype == torch.int64
    assert torch.bincount(corpus.labels).tolist() == [ds.PER_CLASS] * len(ds.LABELS)
    assert all(ds.MIN_WORDS <= len(t.split()) <= ds.MAX_WORDS for t in corpus.texts)
    assert not any(">>>" in t for t in corpus.texts)
    for source, label in zip(corpus.topics, corpus.labels.tolist(), strict=True):
        entries = ds.MODULE_GROUPS[ds.LABELS[label]]
        assert any(source.startswith(e.removeprefix("builtins.") + ".") for e in entries), source


def test_shipped_file_has_the_documented_fields():
    line = ds.CORPUS_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert set(json.loads(line)) == {"text", "label", "source"}


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the shipped corpus was extracted from Python 3.11")
def test_build_corpus_reproduces_the_shipped_file():
    corpus = ds.load_corpus()
    rebuilt = ds.build_corpus()
    assert [r["text"] for r in rebuilt] == corpus.texts
    assert [r["source"] for r in rebuilt] == corpus.topics
    assert [ds.LABELS.index(r["label"]) for r in rebuilt] == corpus.labels.tolist()


def test_build_corpus_is_deterministic_and_in_the_shipped_format():
    small = ds.build_corpus(per_class=20, seed=3)
    assert small == ds.build_corpus(per_class=20, seed=3)
    assert small != ds.build_corpus(per_class=20, seed=4)
    assert [r["label"] for r in small] == [label for label in ds.LABELS for _ in range(20)]
    assert all(set(r) == {"text", "label", "source"} and len(r["text"].split()) >= ds.MIN_WORDS for r in small)
    with pytest.raises(RuntimeError, match="need"):
        ds.build_corpus(per_class=10**6)


def test_docstring_text_drops_signatures_and_examples_and_masks_the_own_name():
    doc = """S.find(sub[, start]) -> int

    Return the lowest index in S where sub is found.

        >>> 'abc'.find('b')
        1

    Unlike str.find, Finder.find() and find() name the object itself.
    """
    text = ds.docstring_text(doc, {"find", "Finder"})
    assert text == (
        "Return the lowest index in S where sub is found. Unlike NAME, NAME() and NAME() name the object itself."
    )
    assert ds.docstring_text("Put an item into the queue; Queue.put blocks.", {"Queue", "put"}) == (
        "Put an item into the queue; NAME blocks."
    )
    assert len(ds.docstring_text("word " * 100).split()) == ds.MAX_WORDS


def test_load_corpus_says_how_to_rebuild_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setattr(ds, "CORPUS_PATH", tmp_path / "missing.jsonl")
    with pytest.raises(FileNotFoundError, match=r"python -m course_utils\.docstrings"):
        ds.load_corpus()
