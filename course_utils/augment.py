"""Vectorised image augmentation: a whole batch is transformed by a few tensor operations.

Every random draw comes from an explicit ``torch.Generator``, so a batch is a pure function of its
seed. The same function places the handwritten digits on their "wild" canvas, which is why the
pre-trained GlyphNet has already seen clutter, shifts and rotations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

IMAGE_SIZE = 28  # side of every image the models see


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly to distort. Ranges are (low, high); draws are uniform."""

    scale: tuple[float, float] = (0.55, 0.95)  # glyph size as a fraction of the canvas
    rotate_deg: float = 15.0
    shear: float = 0.15
    translate: float = 1.0  # fraction of the free margin the glyph may move into
    elastic: float = 0.06  # std of the smooth displacement, in canvas half-widths
    stroke: float = 1.0  # stroke width change in [-stroke, +stroke] (erode .. dilate)
    blur: float = 0.6  # probability-weighted blend with a blurred copy, up to this much
    low_res: float = 0.0  # probability of seeing the glyph at 8x8 resolution first
    clutter: int = 3  # up to this many stray strokes per image
    contrast: tuple[float, float] = (0.7, 1.0)


NONE = AugmentConfig(
    scale=(0.75, 0.75),
    rotate_deg=0,
    shear=0,
    translate=0,
    elastic=0,
    stroke=0,
    blur=0,
    clutter=0,
    contrast=(1.0, 1.0),
)
GLYPHS = AugmentConfig(low_res=0.5)
WILD = AugmentConfig(scale=(0.45, 0.8), rotate_deg=20, shear=0.1, elastic=0.04, stroke=0.0, blur=0.3, clutter=4)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _over3x3(x: torch.Tensor, pad_value: float, pick) -> torch.Tensor:
    """`pick` (torch.maximum or torch.minimum) over each pixel's 3x3 neighbourhood, by shifted slices: the same
    result as a 3x3 max-pool (or min-pool) with stride 1, several times faster on small images."""
    p = F.pad(x, (1, 1, 1, 1), value=pad_value)
    rows = pick(pick(p[..., :, :-2], p[..., :, 1:-1]), p[..., :, 2:])
    return pick(pick(rows[..., :-2, :], rows[..., 1:-1, :]), rows[..., 2:, :])


def _stroke_width(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Thin (amount < 0) or thicken (amount > 0) strokes by blending with an eroded / dilated copy."""
    dilated = _over3x3(x, float("-inf"), torch.maximum)
    eroded = _over3x3(x, float("inf"), torch.minimum)
    a = amount.view(-1, 1, 1, 1)
    return torch.where(a > 0, x + a * (dilated - x), x + (-a) * (eroded - x))


def _low_res(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Show some glyphs (the rows where `which` is true) at 8x8 resolution, like the UCI digits."""
    x = x.clone()
    x[which] = F.interpolate(
        F.adaptive_avg_pool2d(x[which], 8), size=x.shape[-2:], mode="bilinear", align_corners=False
    )
    return x


# The (x, y, 1) output coordinates of every pixel, [1, 784, 3]: what F.affine_grid multiplies by theta.
_BASE_GRID = torch.cat(
    [
        F.affine_grid(torch.eye(2, 3)[None], [1, 1, IMAGE_SIZE, IMAGE_SIZE], align_corners=False),
        torch.ones(1, IMAGE_SIZE, IMAGE_SIZE, 1),
    ],
    -1,
).view(1, -1, 3)


# Bicubic upsampling is linear: row k of this [16, 784] matrix is the 28x28 upsampling of the k-th 4x4 basis image,
# so F.interpolate(coarse, 28, mode="bicubic") == coarse.view(-1, 16) @ _BICUBIC_4_TO_28 (to rounding), faster.
_BICUBIC_4_TO_28 = F.interpolate(
    torch.eye(16).view(16, 1, 4, 4), size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=False
).view(16, -1)


def _sampling_grid(n: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random affine map plus a smooth elastic displacement, as a grid for ``grid_sample``."""
    scale = _uniform(n, *cfg.scale, g)
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, g) * math.pi / 180
    shear = _uniform(n, -cfg.shear, cfg.shear, g)
    margin = (1 - scale) * cfg.translate  # keep the glyph on the canvas
    shift = torch.stack([_uniform(n, -1, 1, g), _uniform(n, -1, 1, g)], 1) * margin[:, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    # rotation @ shear [[1, shear], [0, 1]], then / scale: the map from output to input coordinates
    a = torch.stack([torch.stack([cos, cos * shear - sin], 1), torch.stack([sin, sin * shear + cos], 1)], 1)
    a = a / scale.view(-1, 1, 1)
    t = a[:, :, 0] * shift[:, None, 0] + a[:, :, 1] * shift[:, None, 1]
    theta = torch.cat([a, -t[:, :, None]], 2)
    # F.affine_grid(theta, [n, 1, S, S], align_corners=False), with its base grid built once.
    grid = _BASE_GRID.expand(n, -1, -1).bmm(theta.transpose(1, 2)).view(n, IMAGE_SIZE, IMAGE_SIZE, 2)
    if cfg.elastic > 0:
        coarse = torch.randn(n, 2, 4, 4, generator=g) * cfg.elastic
        # A smooth field: the 4x4 random displacements upsampled bicubically to 28x28, as one matrix product.
        field = (coarse.reshape(n * 2, 16) @ _BICUBIC_4_TO_28).view(n, 2, IMAGE_SIZE, IMAGE_SIZE)
        grid = grid + field.permute(0, 2, 3, 1)
    return grid


_COORDS = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5
_PIX_X, _PIX_Y = (c.reshape(1, -1) for c in torch.meshgrid(_COORDS, _COORDS, indexing="xy"))  # [1, P] each


def _clutter(n: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Stray strokes: up to ``cfg.clutter`` short line segments per image, drawn by distance."""
    k = cfg.clutter
    ends = torch.rand(n, k, 2, 2, generator=g) * IMAGE_SIZE  # [n, k, endpoint, xy]
    ends[:, :, 1] = ends[:, :, 0] + (ends[:, :, 1] - IMAGE_SIZE / 2) * 0.35  # short strokes
    present = torch.rand(n, k, generator=g) < 0.6
    level = _uniform(n * k, 0.3, 0.9, g).view(n, k) * present
    image, stroke = torch.nonzero(present, as_tuple=True)  # only the strokes drawn: ink is never negative
    ends, level = ends[image, stroke], level[image, stroke, None]  # [m, endpoint, xy], [m, 1]
    x0, y0 = ends[:, 0, 0, None], ends[:, 0, 1, None]  # [m, 1]
    dx, dy = ends[:, 1, 0, None] - x0, ends[:, 1, 1, None] - y0
    # The nearest point of each segment to each pixel, x and y kept apart (faster than [..., 2] tensors).
    t = (((_PIX_X - x0) * dx + (_PIX_Y - y0) * dy) / (dx * dx + dy * dy).clamp_min(1e-6)).clamp(0, 1)
    ex, ey = _PIX_X - (x0 + t * dx), _PIX_Y - (y0 + t * dy)
    ink = (1.2 - (ex * ex + ey * ey).sqrt()).clamp(0, 1) * level  # [m, P]
    out = torch.zeros(n, IMAGE_SIZE * IMAGE_SIZE)
    out.scatter_reduce_(0, image[:, None].expand_as(ink), ink, "amax")  # the darkest stroke at each pixel
    return out.view(n, 1, IMAGE_SIZE, IMAGE_SIZE)


_BLUR_KERNEL = torch.tensor([0.25, 0.5, 0.25])


def augment(base: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Turn base images [N, H, W] (uint8 or float in 0..1) into distorted 28x28 float images [N, 1, 28, 28]."""
    x = base.float()
    if base.dtype == torch.uint8:
        x = x / 255
    x = x[:, None] if x.dim() == 3 else x
    n, g = len(x), generator
    if cfg.low_res > 0:
        x = _low_res(x, torch.rand(n, generator=g) < cfg.low_res)
    if cfg.stroke > 0:
        x = _stroke_width(x, _uniform(n, -cfg.stroke, cfg.stroke, g))
    x = F.grid_sample(x, _sampling_grid(n, cfg, g), mode="bilinear", padding_mode="zeros", align_corners=False)
    if cfg.blur > 0:
        k = (_BLUR_KERNEL[:, None] * _BLUR_KERNEL[None, :]).view(1, 1, 3, 3)
        blurred = F.conv2d(x, k, padding=1)
        w = _uniform(n, 0, cfg.blur, g).view(-1, 1, 1, 1)
        x = x + w * (blurred - x)
    if cfg.clutter > 0:
        x = torch.maximum(x, _clutter(n, cfg, g))
    x = x * _uniform(n, *cfg.contrast, g).view(-1, 1, 1, 1)
    return x.clamp(0, 1)
