"""Fine-tuning MiniLM for text classification on two CPU cores: cache the frozen layers, train the top ones.

A transformer's lower layers change little during fine-tuning on a few hundred texts, so they are run ONCE
(`cache_lower_layers`) and only the top `k` layers, mean pooling and a linear head are trained on their cached
outputs (`TopLayersClassifier`, `fine_tune`). The head can start from a logistic regression fitted on the frozen
features, which is LP-FT ("linear probe, then fine-tune", Kumar et al. 2022): the first steps then do not push
the encoder layers with the gradients of a random head. `bitfit` and `add_lora` make the fine-tuning
parameter-efficient.

The cache is computed and kept on the CPU; training and prediction move each batch to the classifier's device.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from torch import nn
from tqdm.auto import tqdm

from course_utils import digits, texts
from course_utils.learning_rates import schedule_factor
from course_utils.models import device_of


def fixed_split(labels: torch.Tensor, test_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Train and test rows of the corpus: stratified, drawn once with random_state=0, whatever the seed."""
    if not 0 < test_size < len(labels):
        raise ValueError(f"test_size must be between 1 and {len(labels) - 1} (got {test_size}).")
    train, test = train_test_split(range(len(labels)), test_size=test_size, stratify=labels.numpy(), random_state=0)
    return torch.tensor(sorted(train)), torch.tensor(sorted(test))


def labelled_subset(labels: torch.Tensor, rows: torch.Tensor, per_class: int | None, seed: int) -> torch.Tensor:
    """`per_class` rows of each class drawn from `rows` with `seed` (None: all of `rows`), as for the digits."""
    return rows if per_class is None else rows[digits.labelled_subset(labels[rows], per_class, seed)]


@dataclass
class LayerCache:
    """The output of MiniLM's frozen lower layers for every text, padded to the longest (at most `max_length`)."""

    hidden: torch.Tensor  # [N, L, hidden_size]
    mask: torch.Tensor  # [N, L], 1 on real tokens, 0 on padding
    n_frozen: int  # how many transformer layers produced `hidden`

    def __len__(self) -> int:
        return len(self.hidden)

    def batch(self, rows: torch.Tensor, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states and masks of `rows` on `device`, trimmed to their longest text (less padding, less compute)."""
        mask = self.mask[rows]
        length = int(mask.sum(1).max())
        return self.hidden[rows, :length].to(device), mask[:, :length].to(device)


def extended_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The additive mask a `BertLayer` expects, [B, 1, 1, L]: 0 on real tokens, a huge negative on padding."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


@torch.no_grad()
def cache_lower_layers(
    text_list: Sequence[str], n_frozen: int, max_length: int = 128, batch_size: int = 64, progress: bool = True
) -> LayerCache:
    """Run MiniLM's embeddings and its first `n_frozen` transformer layers once over `text_list`.

    Texts are batched by length, like `texts.embed`; the rows come back in the order of `text_list`.
    """
    if isinstance(text_list, str) or not all(isinstance(t, str) for t in text_list):
        raise TypeError("cache_lower_layers takes a list of strings; wrap a single text in a list.")
    tokenizer, model = texts.load_minilm()
    if not 0 <= n_frozen <= len(model.encoder.layer):
        raise ValueError(f"n_frozen must be between 0 and {len(model.encoder.layer)} (got {n_frozen}).")
    lengths = [len(ids) for ids in tokenizer(list(text_list), truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(text_list)), key=lengths.__getitem__)
    hidden = torch.zeros(len(text_list), max(lengths), model.config.hidden_size)
    mask = torch.zeros(len(text_list), max(lengths), dtype=torch.long)
    starts = range(0, len(text_list), batch_size)
    for i in tqdm(starts, desc=f"MiniLM layers 1-{n_frozen}", unit="batch", disable=not progress, leave=False):
        rows = order[i : i + batch_size]
        batch = tokenizer(
            [text_list[r] for r in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        h = model.embeddings(input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"])
        for layer in model.encoder.layer[:n_frozen]:
            h = layer(h, attention_mask=extended_mask(batch["attention_mask"]))
        hidden[rows, : h.shape[1]] = h
        mask[rows, : h.shape[1]] = batch["attention_mask"]
    return LayerCache(hidden, mask, n_frozen)


class LoRALinear(nn.Module):
    """A frozen `nn.Linear` plus a trainable low-rank update: W x + (alpha / r) B A x, with B = 0 at the start.

    A and B live on the device of `base`; A is drawn on the CPU, so it is the same on every device.
    """

    def __init__(self, base: nn.Linear, rank: int = 8, alpha: float = 16.0, seed: int = 0):
        super().__init__()
        self.base, self.scale = base.requires_grad_(False), alpha / rank
        g, device = torch.Generator().manual_seed(seed), base.weight.device
        self.A = nn.Parameter((torch.randn(rank, base.in_features, generator=g) / base.in_features**0.5).to(device))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank, device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scale * (x @ self.A.T) @ self.B.T


class TopLayersClassifier(nn.Module):
    """MiniLM's top `n_top` transformer layers (copies), mean pooling, L2 normalisation and a linear head.

    Its input is a `LayerCache` batch from the other `6 - n_top` layers. With `n_top = 0` it is a linear
    probe on the frozen sentence embeddings of `texts.embed`.
    """

    def __init__(self, n_top: int, num_classes: int, seed: int = 0):
        super().__init__()
        _, minilm = texts.load_minilm()
        layers = minilm.encoder.layer
        if not 0 <= n_top <= len(layers):
            raise ValueError(f"n_top must be between 0 and {len(layers)} (got {n_top}).")
        self.layers = nn.ModuleList(copy.deepcopy(layers[len(layers) - n_top :]))
        self.layers.requires_grad_(True)
        with torch.random.fork_rng():  # the head's random init, seeded; `init_head_from_probe` replaces it
            torch.manual_seed(seed)
            self.head = nn.Linear(minilm.config.hidden_size, num_classes)

    def embed(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings: the top layers, then the mean over real tokens, at unit length."""
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=extended_mask(mask, hidden.dtype))
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * m).sum(1) / m.sum(1), dim=1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(hidden, mask))

    def init_head_from_probe(self, probe) -> TopLayersClassifier:
        """Copy a fitted scikit-learn LogisticRegression (multinomial, or binary for 2 classes) into the head: LP-FT."""
        coef = torch.as_tensor(probe.coef_, dtype=torch.float32)
        bias = torch.as_tensor(probe.intercept_, dtype=torch.float32)
        if coef.shape[0] == 1 and self.head.out_features == 2:  # a binary probe scores class 1 against class 0
            coef, bias = torch.cat([torch.zeros_like(coef), coef]), torch.cat([torch.zeros_like(bias), bias])
        if coef.shape != self.head.weight.shape:
            raise ValueError(
                f"The probe's coefficients are {tuple(coef.shape)}; the head needs "
                f"{tuple(self.head.weight.shape)}. Fit it on {self.head.in_features}-d features "
                "of every class."
            )
        with torch.no_grad():
            self.head.weight.copy_(coef)
            self.head.bias.copy_(bias)
        return self


def bitfit(model: TopLayersClassifier) -> TopLayersClassifier:
    """BitFit: freeze every weight matrix of the encoder layers and train only their biases (and the head)."""
    for name, p in model.layers.named_parameters():
        p.requires_grad_(name.endswith("bias"))
    return model


def add_lora(model: TopLayersClassifier, rank: int = 8, alpha: float = 16.0, seed: int = 0) -> TopLayersClassifier:
    """LoRA: freeze the encoder layers and add a trainable low-rank update to every attention query and value."""
    model.layers.requires_grad_(False)
    for i, layer in enumerate(model.layers):
        attn = layer.attention.self
        attn.query = LoRALinear(attn.query, rank, alpha, seed=1000 * seed + 2 * i)
        attn.value = LoRALinear(attn.value, rank, alpha, seed=1000 * seed + 2 * i + 1)
    return model


def length_grouped_batches(
    rows: torch.Tensor, lengths: torch.Tensor, batch_size: int, generator: torch.Generator, group: int = 50
) -> list[torch.Tensor]:
    """One epoch of shuffled batches of `rows`, each made of texts of similar length (`lengths[rows]`).

    The rows are shuffled, cut into groups of `group` batches, sorted by length within each group and batched;
    then the batches are shuffled. A batch is padded to its longest text, so batches of similar lengths waste
    less compute on padding than random ones, while every epoch still sees the rows in a new random order
    (Hugging Face's `group_by_length`).
    """
    order = rows[torch.randperm(len(rows), generator=generator)]
    batches = []
    for chunk in order.split(group * batch_size):
        by_length = chunk[lengths[chunk].argsort(descending=True, stable=True)]
        batches += list(by_length.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]


@dataclass
class FineTuneResult:
    """The trained model, the wall time of the training loop in seconds, and the loss at every step."""

    model: TopLayersClassifier
    seconds: float
    loss: list[float] = field(default_factory=list)


def fine_tune(
    model: TopLayersClassifier,
    cache: LayerCache,
    rows: torch.Tensor,
    labels: torch.Tensor,
    *,
    epochs: int = 6,
    batch_size: int = 16,
    lr: float = 1e-4,
    head_lr: float = 1e-2,
    weight_decay: float = 0.01,
    warmup: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> FineTuneResult:
    """Train `model` on the cached `rows` of the corpus, whose labels are `labels[rows]`.

    AdamW with differential learning rates (`lr` for the encoder layers, `head_lr` for the head), linear warm-up
    over the first `warmup` fraction of the steps, then cosine decay. Batches group texts of similar length
    (`length_grouped_batches`). The seed fixes the batch order and dropout.
    The defaults suit a few hundred texts; notebook 08 passes its own settings, chosen on a validation split of its
    training sentences, never on its test sentences.
    """
    if len(rows) == 0:
        raise ValueError("There are no training rows.")
    if len(labels) != len(cache):
        raise ValueError(f"labels has {len(labels)} entries but the cache holds {len(cache)} texts; they must match.")
    if cache.n_frozen + len(model.layers) != len(texts.load_minilm()[1].encoder.layer):
        raise ValueError(
            f"The cache holds {cache.n_frozen} frozen layers and the model {len(model.layers)} top "
            "layers; together they must make MiniLM's 6. Rebuild one of them."
        )
    groups = [
        {"params": [p for p in model.layers.parameters() if p.requires_grad], "lr": lr},
        {"params": list(model.head.parameters()), "lr": head_lr},
    ]
    groups = [group for group in groups if group["params"]]
    opt = torch.optim.AdamW(groups, weight_decay=weight_decay)
    base_lrs = [group["lr"] for group in groups]
    g, device = torch.Generator().manual_seed(seed), device_of(model)
    lengths = cache.mask.sum(1)
    steps = epochs * -(-len(rows) // batch_size)
    losses, start = [], time.perf_counter()
    model.train()
    with torch.random.fork_rng(), tqdm(total=steps, desc="fine-tuning", disable=not progress, leave=False) as bar:
        torch.manual_seed(seed)  # dropout inside the layers; fork_rng leaves the global generator as it was
        for _ in range(epochs):
            for batch in length_grouped_batches(rows, lengths, batch_size, g):
                factor = schedule_factor("cosine", len(losses), steps, int(warmup * steps))
                for group, base in zip(opt.param_groups, base_lrs, strict=True):
                    group["lr"] = base * factor
                loss = F.cross_entropy(model(*cache.batch(batch, device)), labels[batch].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                losses.append(loss.item())
                bar.update()
    model.eval()
    return FineTuneResult(model, time.perf_counter() - start, losses)


@torch.no_grad()
def _by_length(fn, model: TopLayersClassifier, cache: LayerCache, rows: torch.Tensor, batch_size: int) -> torch.Tensor:
    """`fn(hidden, mask)` for the cached `rows` in eval mode on the model's device, batched by length (less padding),
    in the order of rows, on the CPU."""
    model.eval()
    order, device = cache.mask[rows].sum(1).argsort(), device_of(model)
    parts = [fn(*cache.batch(rows[order[i : i + batch_size]], device)).cpu() for i in range(0, len(rows), batch_size)]
    out = torch.cat(parts)
    out[order] = out.clone()
    return out


def embed(model: TopLayersClassifier, cache: LayerCache, rows: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings of the cached `rows` by `model`'s layers (before training: MiniLM's own), on the CPU."""
    return _by_length(model.embed, model, cache, rows, batch_size)


def predict(model: TopLayersClassifier, cache: LayerCache, rows: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """Logits for the cached `rows`, in eval mode (no dropout), on the CPU."""
    return _by_length(model, model, cache, rows, batch_size)
