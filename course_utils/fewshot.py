"""Few-shot learning: N-way K-shot episodes drawn from a glyph set, prototypes, and episode evaluation
with confidence intervals.

Episodes are drawn and kept on the CPU (the same episodes on every device); `Episode.to` moves one to a model's
device, and the functions that train or embed move the images there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from course_utils import augment as aug
from course_utils.glyphs import GlyphSet

# Episodes show each letter with the variation GlyphNet was pre-trained under (position, size, tilt, elastic
# distortion, stroke width, blur, low resolution, clutter): raw pixels then no longer match across renders.
EPISODE_AUGMENT = aug.GLYPHS
# Two background alphabets held out of meta-training: their episodes are the validation set on which training
# budgets and learning rates are chosen (GlyphNet's pre-training did see them; the novel alphabets stay the test).
VALIDATION_SCRIPTS = ("ARABIC", "GREEK")


def meta_split(background: GlyphSet) -> tuple[GlyphSet, GlyphSet]:
    """The background letters split into (meta-training, validation) sets by alphabet (`VALIDATION_SCRIPTS`)."""
    train = tuple(sorted(set(background.scripts) - set(VALIDATION_SCRIPTS)))
    return background.select_scripts(train), background.select_scripts(VALIDATION_SCRIPTS)


@dataclass
class Episode:
    """One few-shot task: `way` classes, `shot` labelled support images each, and query images to classify.

    Labels are 0..way-1 within the episode; `classes` maps them back to the glyph set's classes.
    """

    support_x: torch.Tensor  # [way * shot, 1, 28, 28]
    support_y: torch.Tensor  # [way * shot]
    query_x: torch.Tensor  # [way * queries, 1, 28, 28]
    query_y: torch.Tensor  # [way * queries]
    classes: list[int]
    support_idx: torch.Tensor | None = None  # rows of the image pool, for episodes drawn from one
    query_idx: torch.Tensor | None = None

    @property
    def way(self) -> int:
        return len(self.classes)

    @property
    def shot(self) -> int:
        return len(self.support_y) // self.way

    def to(self, device: torch.device | str) -> Episode:
        """The same episode with its images and labels on `device`; the pool rows stay where they index."""
        return Episode(
            self.support_x.to(device),
            self.support_y.to(device),
            self.query_x.to(device),
            self.query_y.to(device),
            self.classes,
            self.support_idx,
            self.query_idx,
        )

    def with_shots(self, shot: int) -> Episode:
        """The same episode with only the first `shot` support images of each class: same classes, same queries.

        Comparing 1, 5 and 10 shots on such nested episodes measures the effect of the shots alone.
        """
        if not 1 <= shot <= self.shot:
            raise ValueError(f"This episode has {self.shot} shots per class; ask for 1 to {self.shot} (got {shot}).")
        keep = (torch.arange(self.way) * self.shot).repeat_interleave(shot) + torch.arange(shot).repeat(self.way)
        return Episode(
            self.support_x[keep],
            self.support_y[keep],
            self.query_x,
            self.query_y,
            self.classes,
            None if self.support_idx is None else self.support_idx[keep],
            self.query_idx,
        )


def sample_episode(
    glyphs: GlyphSet,
    way: int,
    shot: int,
    queries: int,
    generator: torch.Generator,
    cfg: aug.AugmentConfig = EPISODE_AUGMENT,
) -> Episode:
    """Draw `way` classes, then `shot` support and `queries` query images per class.

    Support and query renders come from different fonts whenever the class has enough fonts; otherwise
    fonts repeat, and only the augmentation makes the images differ.
    """
    if way < 2 or shot < 1 or queries < 1:
        raise ValueError(f"Need way >= 2, shot >= 1, queries >= 1 (got way={way}, shot={shot}, queries={queries}).")
    if way > glyphs.num_classes:
        raise ValueError(f"Asked for {way} classes but the glyph set has only {glyphs.num_classes}.")
    classes = torch.randperm(glyphs.num_classes, generator=generator)[:way].tolist()
    support, query = [], []
    for c in classes:
        rows = torch.nonzero(glyphs.labels == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        s_rows = rows[torch.arange(shot) % len(rows)]  # the first fonts for the support
        rest = rows[shot:] if len(rows) > shot else rows  # other fonts for the queries, when there are any
        q_rows = rest[torch.randint(len(rest), (queries,), generator=generator)]
        support.append(s_rows)
        query.append(q_rows)
    s_idx, q_idx = torch.cat(support), torch.cat(query)
    return Episode(
        support_x=aug.augment(glyphs.images[s_idx], cfg, generator),
        support_y=torch.arange(way).repeat_interleave(shot),
        query_x=aug.augment(glyphs.images[q_idx], cfg, generator),
        query_y=torch.arange(way).repeat_interleave(queries),
        classes=classes,
    )


def _support_fonts_first(
    rows: torch.Tensor, row_fonts: torch.Tensor, shot: int, queries: int, generator: torch.Generator
) -> torch.Tensor:
    """`rows` reordered so that the first `shot` come from some fonts and the next `queries` from the others.

    Fonts are taken for the support in a random order until they hold `shot` rows; the rest must hold
    `queries`. When that cannot be done (a single font, or too few rows), the order is left unchanged.
    """
    fonts = torch.unique(row_fonts)
    fonts = fonts[torch.randperm(len(fonts), generator=generator)]
    for n in range(1, len(fonts)):
        in_support = torch.isin(row_fonts, fonts[:n])
        if int(in_support.sum()) >= shot:
            if int((~in_support).sum()) < queries:
                break
            return torch.cat([rows[in_support][:shot], rows[~in_support][:queries]])
    return rows


def sample_image_episode(
    X: torch.Tensor,
    y: torch.Tensor,
    way: int,
    shot: int,
    queries: int,
    generator: torch.Generator,
    fonts: torch.Tensor | None = None,
) -> Episode:
    """An episode from ready-made images (e.g. the handwritten digits): distinct images, no augmentation.

    With `fonts` (the font of every image, as `pool_fonts` gives), support and queries of a class come from
    different fonts whenever the class has enough images in more than one font.
    """
    labels = torch.unique(y)
    if way > len(labels):
        raise ValueError(f"Asked for {way} classes but the images have only {len(labels)}.")
    classes = labels[torch.randperm(len(labels), generator=generator)[:way]].tolist()
    support, query = [], []
    for c in classes:
        rows = torch.nonzero(y == c).flatten()
        if len(rows) < shot + queries:
            raise ValueError(f"Class {c} has {len(rows)} images; an episode needs shot + queries = {shot + queries}.")
        rows = rows[torch.randperm(len(rows), generator=generator)]
        if fonts is not None:
            rows = _support_fonts_first(rows, fonts[rows], shot, queries, generator)
        support.append(rows[:shot])
        query.append(rows[shot : shot + queries])
    s_idx, q_idx = torch.cat(support), torch.cat(query)
    return Episode(
        X[s_idx],
        torch.arange(way).repeat_interleave(shot),
        X[q_idx],
        torch.arange(way).repeat_interleave(queries),
        classes,
        s_idx,
        q_idx,
    )


def glyph_pool(
    glyphs: GlyphSet, per_class: int, seed: int = 0, cfg: aug.AugmentConfig = EPISODE_AUGMENT
) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_class` augmented renders of every letter, cycling through its fonts: ready-made images ``(X, y)``.

    Episodes drawn from a pool share their images, so a network embeds the pool once instead of every
    episode's images again (see `embed_pool`).
    """
    g = torch.Generator().manual_seed(seed)
    rows = _pool_rows(glyphs, per_class, g)
    return aug.augment(glyphs.images[rows], cfg, g), glyphs.labels[rows].clone()


def _pool_rows(glyphs: GlyphSet, per_class: int, generator: torch.Generator) -> torch.Tensor:
    """The glyph set's rows behind a pool: `per_class` per letter, cycling through its fonts in a random order."""
    rows = []
    for c in range(glyphs.num_classes):
        fonts = torch.nonzero(glyphs.labels == c).flatten()
        rows.append(fonts[torch.randperm(len(fonts), generator=generator)][torch.arange(per_class) % len(fonts)])
    return torch.cat(rows)


def pool_fonts(glyphs: GlyphSet, per_class: int, seed: int = 0) -> torch.Tensor:
    """The font of every image of ``glyph_pool(glyphs, per_class, seed)``, in the same order.

    Pass it to `sample_episodes` as the third element of the source, ``(X, y, fonts)``, to draw support and
    queries from different fonts.
    """
    return glyphs.fonts[_pool_rows(glyphs, per_class, torch.Generator().manual_seed(seed))].clone()


def prototypes(embeddings: torch.Tensor, labels: torch.Tensor, way: int) -> torch.Tensor:
    """The mean embedding of each class, [way, dim]."""
    if len(embeddings) != len(labels):
        raise ValueError(f"{len(embeddings)} embeddings but {len(labels)} labels.")
    missing = sorted(set(range(way)) - set(labels.tolist()))
    if missing:
        raise ValueError(f"Classes {missing} have no support example; every class needs at least one.")
    return torch.stack([embeddings[labels == c].mean(0) for c in range(way)])


def nearest_prototype(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
    """Predicted query labels from embeddings: the class whose prototype is nearest (squared Euclidean)."""
    return torch.cdist(query, prototypes(support, support_y, way)).argmin(1)


def raw_pixels(x: torch.Tensor) -> torch.Tensor:
    """The 'no learning' embedding: the flattened image."""
    return x.flatten(1)


@dataclass
class EpisodeResult:
    mean: float
    ci95: float  # half-width of the 95% confidence interval of the mean
    accuracies: list[float]

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.ci95:.3f}"


Classifier = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


def sample_episodes(
    source: GlyphSet | tuple[torch.Tensor, ...],
    way: int,
    shot: int,
    count: int,
    queries: int = 5,
    seed: int = 0,
) -> list[Episode]:
    """`count` episodes from a glyph set (rendered and augmented) or from ready-made images ``(X, y)``;
    with ``(X, y, fonts)``, support and queries come from different fonts where a class allows it.

    Sample once and evaluate every method on the same episodes: a fairer comparison, and faster.
    """
    g = torch.Generator().manual_seed(seed)
    if isinstance(source, GlyphSet):
        return [sample_episode(source, way, shot, queries, g) for _ in range(count)]
    X, y, *fonts = source
    return [sample_image_episode(X, y, way, shot, queries, g, *fonts) for _ in range(count)]


@torch.no_grad()
def embed_episodes(
    embed: Callable[[torch.Tensor], torch.Tensor],
    episodes: list[Episode],
    batch_size: int = 2048,
    device: torch.device | str = "cpu",
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(support, query) embeddings of every episode, computed in large batches on `device` (where `embed`'s
    network is: ``models.device_of(net)``)."""
    images = torch.cat([x for ep in episodes for x in (ep.support_x, ep.query_x)])
    flat = torch.cat([embed(images[i : i + batch_size].to(device)) for i in range(0, len(images), batch_size)])
    out, i = [], 0
    for ep in episodes:
        s, q = len(ep.support_x), len(ep.query_x)
        out.append((flat[i : i + s], flat[i + s : i + s + q]))
        i += s + q
    return out


@torch.no_grad()
def embed_pool(
    embed: Callable[[torch.Tensor], torch.Tensor],
    episodes: list[Episode],
    X: torch.Tensor,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Like `embed_episodes` for episodes drawn from the pool `X`: each pool image is embedded once."""
    if any(ep.support_idx is None for ep in episodes):
        raise ValueError("These episodes were not drawn from an image pool; use embed_episodes.")
    flat = torch.cat([embed(X[i : i + batch_size].to(device)) for i in range(0, len(X), batch_size)])
    return [(flat[ep.support_idx], flat[ep.query_idx]) for ep in episodes]


def score(
    episodes: list[Episode], embedded: list[tuple[torch.Tensor, torch.Tensor]], classify: Classifier = nearest_prototype
) -> EpisodeResult:
    """Mean query accuracy over the episodes, with a 95% confidence interval (labels move to the embeddings)."""
    accs = []
    for ep, (s, q) in zip(episodes, embedded, strict=True):
        predicted = classify(s, ep.support_y.to(s.device), q, ep.way)
        accs.append((predicted == ep.query_y.to(predicted.device)).float().mean().item())
    sd = float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0
    return EpisodeResult(float(np.mean(accs)), 1.96 * sd / math.sqrt(len(accs)), accs)


def evaluate_episodes(
    embed: Callable[[torch.Tensor], torch.Tensor],
    source: GlyphSet | tuple,
    way: int,
    shot: int,
    episodes: int = 300,
    queries: int = 5,
    seed: int = 0,
    classify: Classifier = nearest_prototype,
    device: torch.device | str = "cpu",
) -> EpisodeResult:
    """Sample, embed (on `device`) and score in one call: `way`-way `shot`-shot accuracy over `episodes` episodes."""
    eps = sample_episodes(source, way, shot, episodes, queries, seed)
    return score(eps, embed_episodes(embed, eps, device=device), classify)
