"""Training and evaluation: one small, deterministic loop that every notebook shares.

Each function computes on the device of the model it is given (`models.device_of`) and moves the data there;
it never moves the model. Batches are drawn on the CPU, so a seed gives the same batches on every device.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from course_utils.learning_rates import schedule_factor
from course_utils.models import device_of

Batch = tuple[torch.Tensor, torch.Tensor]
BatchSource = Callable[[torch.Generator], Batch]  # draws a fresh batch, e.g. augmented glyphs


@dataclass
class History:
    """What happened during `fit`: training loss per step, and evaluation accuracy now and then."""

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_acc: list[float] = field(default_factory=list)

    @property
    def final_acc(self) -> float:
        return self.eval_acc[-1] if self.eval_acc else float("nan")


def _check_data(X: torch.Tensor, y: torch.Tensor) -> None:
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels; they must match.")
    if len(X) == 0:
        raise ValueError("There are no training examples.")


def _shuffled_batches(X: torch.Tensor, y: torch.Tensor, batch_size: int) -> BatchSource:
    """Epochs of shuffled mini-batches, drawn with the caller's generator."""
    _check_data(X, y)
    batch_size = min(batch_size, len(X))
    state = {"order": torch.empty(0, dtype=torch.long)}

    def next_batch(g: torch.Generator) -> Batch:
        if len(state["order"]) < batch_size:
            state["order"] = torch.randperm(len(X), generator=g)
        rows, state["order"] = state["order"][:batch_size], state["order"][batch_size:]
        return X[rows], y[rows]

    return next_batch


def make_optimizer(
    model: nn.Module, lr: float | list[dict], optimizer: str = "adam", weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    """Adam (or SGD with momentum) over the trainable parameters, or over given parameter groups."""
    params = lr if isinstance(lr, list) else [p for p in model.parameters() if p.requires_grad]
    base_lr = 1e-3 if isinstance(lr, list) else lr
    if not params:
        raise ValueError("Nothing to train: every parameter is frozen. Unfreeze a block or the head first.")
    if optimizer == "adam":
        return torch.optim.AdamW(params, lr=base_lr, weight_decay=weight_decay)
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=base_lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimizer {optimizer!r}: choose 'adam' or 'sgd'.")


def fit(
    model: nn.Module,
    data: Batch | BatchSource,
    *,
    steps: int,
    lr: float | list[dict] = 1e-3,
    batch_size: int = 64,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    schedule: str = "constant",
    warmup: int = 0,
    transform: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
    eval_data: Batch | None = None,
    eval_every: int = 0,
    eval_first: bool = False,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
) -> History:
    """Train `model` for `steps` mini-batch steps and return its `History`.

    `data` is ``(X, y)`` or a function that draws a fresh batch from a generator. `lr` is a number
    or parameter groups from `models.param_groups`. `schedule` is "constant", "step" or "cosine"
    (see `learning_rates.schedule_factor`), after `warmup` steps of linear warm-up. `transform`
    augments each batch before it moves to the model's device. With `eval_data` and
    `eval_every`, accuracy is recorded along the way and at the end; with `eval_first`, also before
    the first step (as step 0), so a learning curve starts where the initial weights stand.
    """
    schedule_factor(schedule, 0, max(steps, 1), warmup)  # checks the schedule's name and warm-up early
    source = _shuffled_batches(*data, batch_size) if isinstance(data, tuple) else data
    opt = make_optimizer(model, lr, optimizer, weight_decay)
    base_lrs = [group["lr"] for group in opt.param_groups]
    g = torch.Generator().manual_seed(seed)
    history, device = History(), device_of(model)
    if eval_data is not None and eval_first:
        history.eval_step.append(0)
        history.eval_acc.append(evaluate(model, *eval_data))
    model.train()
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        factor = schedule_factor(schedule, step, steps, warmup)
        for group, base in zip(opt.param_groups, base_lrs, strict=True):
            group["lr"] = base * factor
        x, y = source(g)
        if transform is not None:
            x = transform(x, g)
        loss = F.cross_entropy(model(x.to(device)), y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        history.loss.append(loss.item())
        history.lr.append(opt.param_groups[-1]["lr"])
        if eval_data is not None and ((eval_every and (step + 1) % eval_every == 0) or step + 1 == steps):
            history.eval_step.append(step + 1)
            history.eval_acc.append(evaluate(model, *eval_data))
            model.train()
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, X: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Logits for every image, computed in eval mode in batches on the model's device (returned on the CPU)."""
    device = device_of(model)
    model.eval()
    return torch.cat([model(X[i : i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)])


def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of `model` on (X, y), between 0 and 1."""
    _check_data(X, y)
    return (predict(model, X).argmax(1) == y.cpu()).float().mean().item()


_feature_cache: dict[str, torch.Tensor] = {}


def _fingerprint(model: nn.Module, X: torch.Tensor) -> str:
    h = hashlib.sha1(str(device_of(model)).encode())  # features computed elsewhere may differ in the last digits
    for t in (*model.state_dict().values(), X):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def extract_features(model: nn.Module, X: torch.Tensor, batch_size: int = 512, cache: bool = True) -> torch.Tensor:
    """Backbone features of every image (``model.features``) on the CPU, computed once and kept in memory.

    The cache key is a fingerprint of the weights and the images, so a changed model or new
    images are never served stale features.
    """
    key = _fingerprint(model, X) if cache else ""
    if key in _feature_cache:
        return _feature_cache[key]
    device = device_of(model)
    model.eval()
    feats = torch.cat([model.features(X[i : i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)])
    if cache:
        _feature_cache[key] = feats
    return feats
