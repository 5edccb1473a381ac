"""GlyphNet, the course's small CNN, and the verbs of transfer learning: freeze, unfreeze, new head,
per-block learning rates. Also torchvision's ResNet-18 adapted to the course's 1-channel 28x28 images
(`resnet18_for_glyphs`: a grey stem that folds in the ImageNet normalisation, the input upsampled to 112x112).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
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


class _BlocksAndHead(nn.Module):
    """What GlyphNet and GlyphResNet share: named blocks, `features(x)` from them, and a linear `head` on top.

    Blocks named in `frozen` (see `freeze_up_to`) stay in eval mode when the model trains, so their BatchNorm
    statistics stay put too.
    """

    head: nn.Linear
    frozen: tuple[str, ...] = ()

    @property
    def feature_dim(self) -> int:
        return self.head.in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def train(self, mode: bool = True) -> _BlocksAndHead:
        super().train(mode)
        for name in self.frozen:
            getattr(self, name).eval()
        return self


class GlyphNet(_BlocksAndHead):
    """Four convolutional blocks, global average pooling, and a linear `head`.

    28x28 -> block1 (14x14) -> block2 (7x7) -> block3 (3x3) -> block4 (pooled) -> head.
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
        # Convolution weights stored channels-last: on a CPU, PyTorch's oneDNN kernels then run a training step
        # about 1.4 times as fast (bench/ratios.py (d)); copies, `.to(device)` and loaded weights keep the layout.
        self.to(memory_format=torch.channels_last)
        self.frozen: tuple[str, ...] = ()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The backbone's output: one `feature_dim` vector per image."""
        _check_input(x)
        return self.block4(self.block3(self.block2(self.block1(x))))


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


IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the per-channel statistics torchvision's ImageNet weights expect
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET_INPUT = 112  # the side the digits are upsampled to before ResNet-18: its layer4 then sees 4x4, not 1x1
RESNET_STAGES = ("stem", "layer1", "layer2", "layer3", "layer4", "head")


def grey_stem(
    conv: nn.Conv2d, mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD
) -> nn.Conv2d:
    """A 1-channel copy of an RGB first layer that also does the input normalisation its weights expect.

    `conv` sees ``(x_c - mean_c) / std_c`` in each colour channel c; for a grey image every x_c is the same x, so
    ``sum_c w_c (x - mean_c) / std_c = (sum_c w_c / std_c) x - sum_c w_c mean_c / std_c``: a weight and a bias.
    The new layer takes the grey image in 0..1 as it is. It is exact wherever the filter does not overlap the
    zero padding; on that border (``conv.padding`` pixels) the RGB layer pads with the normalised zero (ImageNet's
    mean colour) and this one with a raw zero (the digits' own blank background).
    """
    if conv.in_channels != len(mean) or len(mean) != len(std):
        raise ValueError(f"grey_stem needs a {len(mean)}-channel layer and {len(mean)} means and deviations.")
    scale = torch.tensor(std, dtype=conv.weight.dtype, device=conv.weight.device)[None, :, None, None]
    shift = torch.tensor(mean, dtype=conv.weight.dtype, device=conv.weight.device)[None, :, None, None]
    new = nn.Conv2d(1, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True)
    new = new.to(conv.weight.device)
    with torch.no_grad():
        new.weight.copy_((conv.weight / scale).sum(1, keepdim=True))
        bias = -(conv.weight * shift / scale).sum((1, 2, 3))
        new.bias.copy_(bias if conv.bias is None else bias + conv.bias)
    return new


class GlyphResNet(_BlocksAndHead):
    """torchvision's ResNet-18 for the course's 1-channel 28x28 images, in the course's named blocks.

    `forward` upsamples the images to `size` x `size` (bilinear), so the unchanged stem (stride 2 and a max-pool,
    as the pre-trained weights were trained) and the four stages see digits at a scale closer to ImageNet's
    objects; at 28x28, layer4 would see a single pixel. Blocks: `stem` (the grey `conv1` of `grey_stem`, `bn1`,
    ReLU, max-pool), `layer1` ... `layer4`, then global average pooling and `head` (torchvision's `fc`), so the
    course's verbs (`freeze_up_to`, `param_groups`, `discriminative_lrs`, `new_head`) work on it as on GlyphNet.
    """

    def __init__(self, net: nn.Module, num_classes: int, size: int = RESNET_INPUT, seed: int = 0):
        super().__init__()
        self.size = size
        stem = OrderedDict(conv1=grey_stem(net.conv1), bn1=net.bn1, relu=net.relu, maxpool=net.maxpool)
        self.stem = nn.Sequential(stem)
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        with seeded(seed):
            self.head = nn.Linear(net.fc.in_features, num_classes).to(device_of(net))
        self.frozen: tuple[str, ...] = ()

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of the stem and of each stage, for images already at the size they should be seen."""
        outs = [self.stem(x)]
        for name in RESNET_STAGES[1:-1]:
            outs.append(getattr(self, name)(outs[-1]))
        return outs

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled 512 features of each image (upsampled to `size` first)."""
        _check_input(x)
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.stages(x)[-1].mean((2, 3))


def resnet18_for_glyphs(
    num_classes: int, weights: str | None = None, seed: int = 0, size: int = RESNET_INPUT
) -> GlyphResNet:
    """torchvision's ResNet-18 adapted to 1-channel 28x28 images (`GlyphResNet`), with a new `num_classes` head.

    ``weights=None`` (the course's offline default) starts from random weights drawn with `seed`.
    ``weights="IMAGENET1K_V1"`` is the opt-in online path: torchvision downloads the ImageNet weights once
    (45 MB, cached in ~/.cache/torch); without the internet it stops with a message that says so, rather than
    silently training random weights under the ImageNet name.
    """
    from torchvision.models import ResNet18_Weights, resnet18

    if weights is None:
        with seeded(seed):
            net = resnet18(weights=None)
    else:
        try:
            chosen = ResNet18_Weights[weights] if isinstance(weights, str) else ResNet18_Weights(weights)
        except (KeyError, ValueError):
            raise ValueError(f"Unknown weights {weights!r}: use 'IMAGENET1K_V1' or None.") from None
        try:
            net = resnet18(weights=chosen)
        except Exception as err:  # no network, no cached file
            raise RuntimeError(
                f"Could not get the ImageNet weights of ResNet-18 ({type(err).__name__}). They are downloaded once "
                "(45 MB, into ~/.cache/torch): connect this machine to the internet and run the cell again, or "
                "unset COURSE_IMAGENET to run the course offline with random weights."
            ) from err
    return GlyphResNet(net, num_classes, size=size, seed=seed)
