"""The printed-glyph corpus: the course's large source domain, its "ImageNet".

Letters of many scripts are rendered with the TrueType fonts that matplotlib ships. Each
(character, font) pair is rendered once into a 32x32 *base image* and cached on disk; training
images are made from the base images on the fly by `course_utils.augment`.

Scripts are split like Omniglot: *background* alphabets for pre-training, *evaluation* alphabets
kept unseen for few-shot learning. Digits are not letters, so they are never in the corpus: the
handwritten digits are the course's target task.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib
import numpy as np
import torch
from matplotlib import ft2font
from PIL import Image

from course_utils.augment import AugmentConfig, augment
from course_utils.paths import cache_dir

BASE_SIZE = 32  # side of a base image, in pixels
_GLYPH_BOX = 28  # the glyph is scaled to fit this box inside the base image
_RENDER_PX = 64  # font size used for rendering, before scaling down
_CACHE_VERSION = 1

# Text fonts bundled with matplotlib. Symbol and "size" fonts are left out on purpose.
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
    "cmti10.ttf",
)
# The Computer Modern fonts use their own encoding beyond ASCII: trust them for ASCII only.
_ASCII_ONLY_FONTS = {"cmr10.ttf", "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf"}

BACKGROUND_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC", "ARABIC", "CANADIAN", "OGHAM", "LISU", "COPTIC")
EVALUATION_SCRIPTS = ("GEORGIAN", "ARMENIAN", "HEBREW", "TIFINAGH", "NKO", "LAO")
DUPLICATE_SIMILARITY = 0.92  # cosine similarity of 16x16 renders above which two letters look alike


@dataclass(frozen=True)
class GlyphSet:
    """Base images of rendered characters: one image per (character, font)."""

    images: torch.Tensor  # uint8 [N, 32, 32], ink = 255
    labels: torch.Tensor  # int64 [N], index into `chars`
    fonts: torch.Tensor  # int64 [N], index into `font_names`
    chars: list[str]
    scripts: list[str]  # the script of each class
    font_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.chars)

    @cached_property
    def class_rows(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(rows sorted by class, images per class, first sorted row of each class): computed once per set."""
        order = torch.argsort(self.labels, stable=True)
        counts = torch.bincount(self.labels, minlength=self.num_classes)
        return order, counts, torch.cumsum(counts, 0) - counts

    def select_classes(self, keep: list[int]) -> GlyphSet:
        """The glyphs of the classes `keep`, relabelled 0..len(keep)-1 in that order."""
        remap = torch.full((self.num_classes,), -1, dtype=torch.long)
        remap[torch.as_tensor(keep, dtype=torch.long)] = torch.arange(len(keep))
        rows = remap[self.labels] >= 0
        return GlyphSet(
            images=self.images[rows],
            labels=remap[self.labels[rows]],
            fonts=self.fonts[rows],
            chars=[self.chars[c] for c in keep],
            scripts=[self.scripts[c] for c in keep],
            font_names=self.font_names,
        )

    def select_scripts(self, scripts: tuple[str, ...]) -> GlyphSet:
        """The glyphs of the given scripts (e.g. ``BACKGROUND_SCRIPTS``)."""
        unknown = set(scripts) - set(self.scripts)
        if unknown:
            raise ValueError(f"Unknown script(s) {sorted(unknown)}; the corpus has {sorted(set(self.scripts))}.")
        return self.select_classes([c for c, s in enumerate(self.scripts) if s in scripts])


def font_path(name: str) -> Path:
    """Path of one of matplotlib's bundled fonts."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def _render_raw(font: ft2font.FT2Font, char: str) -> np.ndarray:
    font.set_text(char, 0.0, flags=ft2font.LoadFlags.NO_HINTING)
    font.draw_glyphs_to_bitmap(antialiased=True)
    return np.asarray(font.get_image())


def _fit_to_box(raw: np.ndarray) -> np.ndarray | None:
    """Crop the ink, scale it to fit the glyph box (aspect kept), centre it in a base image."""
    rows, cols = np.nonzero(raw > 32)
    if len(rows) < 8:  # blank or a speck: the font has no real glyph here
        return None
    ink = raw[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = _GLYPH_BOX / max(ink.shape)
    h, w = max(1, round(ink.shape[0] * scale)), max(1, round(ink.shape[1] * scale))
    small = np.asarray(Image.fromarray(ink).resize((w, h), Image.Resampling.LANCZOS))
    out = np.zeros((BASE_SIZE, BASE_SIZE), dtype=np.uint8)
    top, left = (BASE_SIZE - h) // 2, (BASE_SIZE - w) // 2
    out[top : top + h, left : left + w] = small
    return out


def render(char: str, font_name: str = "DejaVuSans.ttf") -> np.ndarray | None:
    """One character as a 32x32 uint8 base image, or None if the font has no glyph for it."""
    font = ft2font.FT2Font(str(font_path(font_name)))
    font.set_size(_RENDER_PX, 72)
    if font.get_char_index(ord(char)) == 0:
        return None
    return _fit_to_box(_render_raw(font, char))


def _script(char: str) -> str | None:
    """The script of a letter (first word of its Unicode name), or None if it is no plain letter."""
    if unicodedata.category(char) not in ("Lu", "Ll", "Lo", "Lt") or unicodedata.decomposition(char):
        return None  # not a letter, or a letter with a diacritic / a presentation form
    try:
        return unicodedata.name(char).split()[0]
    except ValueError:
        return None


def _candidate_chars() -> list[str]:
    font = ft2font.FT2Font(str(font_path("DejaVuSans.ttf")))
    scripts = set(BACKGROUND_SCRIPTS) | set(EVALUATION_SCRIPTS)
    return sorted(chr(cp) for cp in font.get_charmap() if _script(chr(cp)) in scripts)


def _remove_duplicates(reference: np.ndarray) -> list[int]:
    """Indices of the classes to keep: drop a letter that looks like an earlier one."""
    x = torch.nn.functional.avg_pool2d(torch.tensor(reference, dtype=torch.float32)[:, None], 2).flatten(1)
    x = x - x.mean(1, keepdim=True)
    x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-6)
    similarity = x @ x.T
    keep: list[int] = []
    for i in range(len(x)):
        if not keep or similarity[i, keep].max() < DUPLICATE_SIMILARITY:
            keep.append(i)
    return keep


def _build_corpus(chars: list[str], fonts: tuple[str, ...] = FONT_FILES) -> dict:
    """Render every (character, font) pair; skip blanks and characters a font lacks."""
    images, labels, font_ids = [], [], []
    for f, name in enumerate(fonts):
        font = ft2font.FT2Font(str(font_path(name)))
        font.set_size(_RENDER_PX, 72)
        for c, char in enumerate(chars):
            if name in _ASCII_ONLY_FONTS and not char.isascii():
                continue
            if font.get_char_index(ord(char)) == 0:
                continue
            image = _fit_to_box(_render_raw(font, char))
            if image is not None:
                images.append(image)
                labels.append(c)
                font_ids.append(f)
    return {
        "images": torch.from_numpy(np.stack(images)),
        "labels": torch.tensor(labels),
        "fonts": torch.tensor(font_ids),
    }


_IN_MEMORY: dict[str, GlyphSet] = {}  # the corpus, when no cache folder can hold it


def _corpus_key() -> str:
    return f"v{_CACHE_VERSION}-mpl{matplotlib.__version__}"


def load_corpus(rebuild: bool = False) -> GlyphSet:
    """All distinct letters of the course's scripts, in every font that renders them (cached)."""
    folder = cache_dir()
    path = None if folder is None else folder / "glyph-corpus.pt"
    if not rebuild and _corpus_key() in _IN_MEMORY:
        return _IN_MEMORY[_corpus_key()]
    if path is not None and path.exists() and not rebuild:
        try:
            saved = torch.load(path, weights_only=True)
            if saved.get("key") == _corpus_key():
                return GlyphSet(**{k: v for k, v in saved.items() if k != "key"})
        except Exception:  # a damaged cache is simply rebuilt
            pass
    chars = _candidate_chars()
    reference = _build_corpus(chars, fonts=("DejaVuSans.ttf",))
    inked = reference["labels"].tolist()
    chars = [chars[inked[i]] for i in _remove_duplicates(reference["images"].numpy())]
    built = _build_corpus(chars)
    glyphs = GlyphSet(chars=chars, scripts=[_script(ch) for ch in chars], font_names=list(FONT_FILES), **built)
    if path is None:  # no usable cache folder (a message said so): keep the corpus for this session
        _IN_MEMORY[_corpus_key()] = glyphs
        return glyphs
    tmp = path.with_suffix(".tmp")
    try:
        torch.save({"key": _corpus_key(), **glyphs.__dict__}, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as err:  # torch reports a failed write as a RuntimeError
        tmp.unlink(missing_ok=True)
        _IN_MEMORY[_corpus_key()] = glyphs
        print(
            f"The glyph corpus could not be cached in {path.parent} ({str(err).splitlines()[0]}); it is kept in "
            "memory for this session. Set COURSE_CACHE_DIR to a folder you can write to."
        )
    return glyphs


def background_alphabets() -> GlyphSet:
    """The scripts used for pre-training."""
    return load_corpus().select_scripts(BACKGROUND_SCRIPTS)


def evaluation_alphabets() -> GlyphSet:
    """The scripts kept unseen for few-shot learning."""
    return load_corpus().select_scripts(EVALUATION_SCRIPTS)


def printed_digits() -> GlyphSet:
    """The digits 0-9 in every font that renders them: the labelled source domain of notebook 04."""
    chars = [str(d) for d in range(10)]
    built = _build_corpus(chars)
    return GlyphSet(chars=chars, scripts=["DIGIT"] * 10, font_names=list(FONT_FILES), **built)


def sample_batch(
    glyphs: GlyphSet, batch_size: int, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fresh augmented batch: classes drawn uniformly, then one of that class's renders."""
    order, counts, starts = glyphs.class_rows
    y = torch.randint(glyphs.num_classes, (batch_size,), generator=generator)
    pick = (torch.rand(batch_size, generator=generator) * counts[y]).long()
    rows = order[starts[y] + pick]
    return augment(glyphs.images[rows], cfg, generator), y
