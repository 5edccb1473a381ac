"""GlyphNet, the course's small CNN, and the verbs of transfer learning: freeze, unfreeze, new head,
per-block learning rates. Also torchvision's ResNet-18 adapted to the course's 1-channel 28x28 images.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

BLOCKS = ("block1", "block2", "block3", "block4")
WIDTHS = (16, 32, 64, 128)  # channels per block: the shipped checkpoint's


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the body with torch's global generator set to `seed`, then restore it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def device_of(model: nn.Module) -> torch.device:
    """Where `model` computes: the device of its first parameter or buffer (the CPU if it has neither).

    The course's helpers move their data there and never move the model itself.
    """
    tensor = next(model.parameters(), None)
    if tensor is None:
        tensor = next(model.buffers(), None)
    return torch.device("cpu") if tensor is None else tensor.device


def _conv_block(c_in: int, c_out: int, pool: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), pool
    )


class GlyphNet(nn.Module):
    """Four convolutional blocks, global average pooling, and a linear `head`.

    28x28 -> block1 (14x14) -> block2 (7x7) -> block3 (3x3) -> block4 (pooled) -> head.
    Frozen blocks (see `freeze_up_to`) stay in eval mode, so their BatchNorm statistics stay put too.
    """

    def __init__(self, num_classes: int, widths: tuple[int, ...] = WIDTHS, seed: int = 0):
        super().__init__()
        with seeded(seed):
            c = (1, *widths)
            self.block1 = _conv_block(c[0], c[1], nn.MaxPool2d(2))
            self.block2 = _conv_block(c[1], c[2], nn.MaxPool2d(2))
            self.block3 = _conv_block(c[2], c[3], nn.MaxPool2d(2))
            self.block4 = _conv_block(c[3], c[4], nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
            self.head = nn.Linear(widths[-1], num_classes)
        self.frozen: tuple[str, ...] = ()

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's output: one `feature_dim` vector per image."""
        _check_input(x)
        return self.block4(self.block3(self.block2(self.block1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> GlyphNet:
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


def _check_input(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 1:
        raise ValueError(
            f"GlyphNet expects a batch of 1-channel images shaped [N, 1, H, W]; got {list(x.shape)}. "
            "For a single image use x[None]; for [N, H, W] use x[:, None]."
        )


def _block_names(model: nn.Module) -> list[str]:
    names = [n for n, _ in model.named_children()]
    if "head" not in names:
        raise ValueError(f"{type(model).__name__} has no `head`; the course's verbs need named blocks and a head.")
    return names


def freeze_up_to(model: GlyphNet, block: str | None) -> GlyphNet:
    """Freeze every block from the first up to `block` (inclusive); the rest trains.

    ``freeze_up_to(net, "block4")`` is feature extraction (only the head trains);
    ``freeze_up_to(net, None)`` unfreezes everything (full fine-tuning).
    """
    names = _block_names(model)
    if block is not None and (block not in names or block == "head"):
        raise ValueError(f"Unknown block {block!r}: choose one of {[n for n in names if n != 'head']} or None.")
    stop = -1 if block is None else names.index(block)
    for i, name in enumerate(names):
        for p in getattr(model, name).parameters():
            p.requires_grad_(i > stop)
    model.frozen = tuple(names[: stop + 1])
    return model.train(model.training)


def unfreeze(model: GlyphNet) -> GlyphNet:
    """Make every parameter trainable again."""
    return freeze_up_to(model, None)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def relative_drift(model: nn.Module, reference: nn.Module, prefix: str = "block") -> float:
    """How far `model`'s pre-trained blocks moved from `reference`: ‖w - w0‖ / ‖w0‖ over their parameters.

    Only parameters whose names start with `prefix` count (the new head has no reference), and BatchNorm's running
    statistics are buffers, not parameters, so they are left out.
    """
    start = dict(reference.named_parameters())
    now = {name: p for name, p in model.named_parameters() if name.startswith(prefix)}
    missing = sorted(set(now) - set(start))
    if not now or missing:
        raise ValueError(f"relative_drift: the reference lacks {missing or 'every ' + prefix + ' parameter'}")
    moved = sum(((p - start[name].to(p.device)) ** 2).sum() for name, p in now.items())
    size = sum((start[name].to(p.device) ** 2).sum() for name, p in now.items())
    return float(torch.sqrt(moved / size))


def new_head(model: GlyphNet, num_classes: int, seed: int = 0) -> GlyphNet:
    """Replace the classifier with a fresh one for a new task, on the model's device; the backbone is kept."""
    with seeded(seed):  # drawn on the CPU, so the new head is the same on every device
        model.head = nn.Linear(model.feature_dim, num_classes).to(device_of(model))
    return model


def param_groups(model: nn.Module, lrs: dict[str, float]) -> list[dict]:
    """Optimizer parameter groups with one learning rate per named block (trainable parameters only).

    Example: ``param_groups(net, {"block1": 1e-4, "block2": 3e-4, ..., "head": 3e-3})``.
    """
    names = _block_names(model)
    missing = [n for n in names if n not in lrs]
    extra = [n for n in lrs if n not in names]
    if missing or extra:
        raise ValueError(f"Give a learning rate for exactly the blocks {names}; missing {missing}, unknown {extra}.")
    groups = []
    for name in names:
        params = [p for p in getattr(model, name).parameters() if p.requires_grad]
        if params:
            groups.append({"params": params, "lr": lrs[name], "name": name})
    return groups


def discriminative_lrs(model: nn.Module, head_lr: float, factor: float = 3.0) -> dict[str, float]:
    """Learning rates that shrink by `factor` per block going down from the head to the input."""
    names = _block_names(model)
    return {name: head_lr / factor ** (len(names) - 1 - i) for i, name in enumerate(names)}


def resnet18_for_glyphs(num_classes: int, weights: str | None = None, seed: int = 0) -> nn.Module:
    """torchvision's ResNet-18 adapted to 1-channel 28x28 images, with a new `num_classes` head.

    ``weights="IMAGENET1K_V1"`` is the opt-in online path: the RGB filters of the first layer are
    summed into one grey channel. Offline, a clear message is printed and random weights are used.
    """
    from torchvision.models import ResNet18_Weights, resnet18

    with seeded(seed):
        net = resnet18(weights=None)
        if weights is not None:
            try:
                net = resnet18(weights=ResNet18_Weights[weights] if isinstance(weights, str) else weights)
            except KeyError:
                raise ValueError(f"Unknown weights {weights!r}: use 'IMAGENET1K_V1' or None.") from None
            except Exception as err:  # no network, no cache
                print(
                    f"Could not get the ImageNet weights ({type(err).__name__}). This course runs offline, "
                    "so ResNet-18 starts from random weights. To use ImageNet weights, connect to the "
                    "internet once and run this cell again (torchvision caches them in ~/.cache/torch)."
                )
        old = net.conv1
        net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=1, padding=3, bias=False)
        with torch.no_grad():
            net.conv1.weight.copy_(old.weight.sum(1, keepdim=True))
        net.maxpool = nn.Identity()  # 28x28 is small: keep the resolution
        net.fc = nn.Linear(net.fc.in_features, num_classes)
    return net
