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
from tqdm.auto import tqdm

from course_utils import augment as aug
from course_utils.glyphs import GlyphSet
from course_utils.learning_rates import schedule_factor
from course_utils.models import device_of

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


def prototypical_loss(
    support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, query_y: torch.Tensor, way: int
) -> tuple[torch.Tensor, float]:
    """Cross-entropy over negative squared distances to the class prototypes (Snell et al., 2017), and accuracy."""
    logits = -(torch.cdist(query, prototypes(support, support_y, way)) ** 2)
    return torch.nn.functional.cross_entropy(logits, query_y), (logits.argmax(1) == query_y).float().mean().item()


def matching_log_probs(
    support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, way: int, temperature: float = 10.0
) -> torch.Tensor:
    """Matching networks (Vinyals et al., 2016): attention over the support set by cosine similarity, softmax,
    and the attention-weighted vote of the support labels; returns log-probabilities [queries, way]."""
    similarity = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(support, dim=1).T
    attention = (temperature * similarity).softmax(1)
    return torch.log(attention @ torch.nn.functional.one_hot(support_y, way).float() + 1e-8)


def matching_classify(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
    """Predicted query labels of a matching network (a `Classifier` for `score`)."""
    return matching_log_probs(support, support_y, query, way).argmax(1)


def train_episodic(
    net: torch.nn.Module,
    glyphs: GlyphSet,
    steps: int,
    method: str = "prototypical",
    way: int = 20,
    shot: int = 5,
    queries: int = 5,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Episodic training of `net.features`, on its device, with the prototypical or the matching loss; the losses."""
    if method not in ("prototypical", "matching"):
        raise ValueError(f"Unknown method {method!r}: choose 'prototypical' or 'matching'.")
    g, device = torch.Generator().manual_seed(seed), device_of(net)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    net.train()
    for step in tqdm(range(steps), desc=f"{method} training", disable=not progress, leave=False):
        opt.param_groups[0]["lr"] = lr * schedule_factor("cosine", step, steps)
        ep = sample_episode(glyphs, way, shot, queries, g).to(device)
        emb = net.features(torch.cat([ep.support_x, ep.query_x]))
        support, query = emb[: len(ep.support_y)], emb[len(ep.support_y) :]
        if method == "prototypical":
            loss, _ = prototypical_loss(support, ep.support_y, query, ep.query_y, way)
        else:
            loss = torch.nn.functional.nll_loss(matching_log_probs(support, ep.support_y, query, way), ep.query_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    return losses


def adapt_head(
    head: torch.nn.Module,
    params: dict[str, torch.Tensor],
    support: torch.Tensor,
    support_y: torch.Tensor,
    steps: int = 5,
    alpha: float = 0.5,
    first_order: bool = True,
) -> dict[str, torch.Tensor]:
    """MAML's inner loop on a classifier head: `steps` gradient steps of size `alpha` on the support loss,
    written functionally (`torch.func.functional_call`) so the outer loop can differentiate through them.
    The support set moves to the head's device."""
    from torch.func import functional_call

    support, support_y = support.to(device_of(head)), support_y.to(device_of(head))
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(functional_call(head, params, (support,)), support_y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        params = {name: p - alpha * g for (name, p), g in zip(params.items(), grads, strict=True)}
    return params


def adapt_linear(
    weight: torch.Tensor,
    bias: torch.Tensor,
    support: torch.Tensor,
    support_y: torch.Tensor,
    steps: int = 10,
    alpha: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`adapt_head`'s steps for a linear head, without autograd: the gradient of the mean cross-entropy written
    out, (softmax - one-hot)ᵀ x / n. The same numbers, fast enough to adapt a head on every test episode."""
    weight, bias = weight.detach(), bias.detach()
    onehot = torch.nn.functional.one_hot(support_y, weight.shape[0]).to(support.dtype)
    for _ in range(steps):
        err = ((support @ weight.T + bias).softmax(1) - onehot) / len(support)
        weight, bias = weight - alpha * err.T @ support, bias - alpha * err.sum(0)
    return weight, bias


def anil_classifier(head: torch.nn.Linear, steps: int = 10, alpha: float = 0.5) -> Classifier:
    """A `Classifier` that adapts a copy of the meta-learned linear `head` (on its device) to each episode's
    support set with `adapt_linear`; the head itself is left unchanged."""

    def classify(support, support_y, query, way):
        device = device_of(head)
        support, support_y, query = (t.detach().to(device) for t in (support, support_y, query))
        weight, bias = adapt_linear(head.weight, head.bias, support, support_y, steps, alpha)
        return (query @ weight.T + bias).argmax(1)

    return classify


def zero_head(dim: int, way: int) -> torch.nn.Linear:
    """A linear head that starts at zero: before adaptation every class gets the same score."""
    head = torch.nn.Linear(dim, way)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def train_anil(
    body: torch.nn.Module,
    head: torch.nn.Module,
    glyphs: GlyphSet,
    steps: int,
    way: int = 5,
    shot: int = 5,
    queries: int = 10,
    lr: float = 1e-3,
    head_lr: float = 1e-2,
    inner_steps: int = 5,
    inner_lr: float = 0.5,
    first_order: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """ANIL (Raghu et al., 2020) meta-training of `body.features` and a starting `head`, on the body's device.

    Each step draws one episode, adapts the head alone to its support set (`adapt_head`), and lowers the
    adapted head's query loss. With `first_order` (the default) the body learns only through the query
    embeddings. Returns the loss of every step.
    """
    from torch.func import functional_call

    opt = torch.optim.AdamW(
        [{"params": body.parameters(), "lr": lr}, {"params": head.parameters(), "lr": head_lr}], weight_decay=0.0
    )
    g, device, losses = torch.Generator().manual_seed(seed), device_of(body), []
    body.train()
    for step in tqdm(
        range(steps), desc="first-order ANIL" if first_order else "ANIL", disable=not progress, leave=False
    ):
        for group, base in zip(opt.param_groups, (lr, head_lr), strict=True):
            group["lr"] = base * schedule_factor("cosine", step, steps)
        ep = sample_episode(glyphs, way, shot, queries, g).to(device)
        emb = body.features(torch.cat([ep.support_x, ep.query_x]))
        n = len(ep.support_y)
        adapted = adapt_head(
            head, dict(head.named_parameters()), emb[:n], ep.support_y, inner_steps, inner_lr, first_order
        )
        loss = torch.nn.functional.cross_entropy(functional_call(head, adapted, (emb[n:],)), ep.query_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    body.eval()
    return losses
