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
    scale=(0.75, 0.75), rotate_deg=0, shear=0, translate=0, elastic=0, stroke=0, blur=0, clutter=0,
    contrast=(1.0, 1.0),
)
GLYPHS = AugmentConfig(low_res=0.5)
WILD = AugmentConfig(scale=(0.45, 0.8), rotate_deg=20, shear=0.1, elastic=0.04, stroke=0.0, blur=0.3, clutter=4)


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=g)


def _stroke_width(x: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """Thin (amount < 0) or thicken (amount > 0) strokes by blending with an eroded / dilated copy."""
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    a = amount.view(-1, 1, 1, 1)
    return torch.where(a > 0, x + a * (dilated - x), x + (-a) * (eroded - x))


def _low_res(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """Show some glyphs at 8x8 resolution, like the UCI digits."""
    coarse = F.interpolate(F.adaptive_avg_pool2d(x, 8), size=x.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(which.view(-1, 1, 1, 1), coarse, x)


def _sampling_grid(n: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random affine map plus a smooth elastic displacement, as a grid for ``grid_sample``."""
    scale = _uniform(n, *cfg.scale, g)
    angle = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, g) * math.pi / 180
    shear = _uniform(n, -cfg.shear, cfg.shear, g)
    margin = (1 - scale) * cfg.translate  # keep the glyph on the canvas
    shift = torch.stack([_uniform(n, -1, 1, g), _uniform(n, -1, 1, g)], 1) * margin[:, None]
    cos, sin = torch.cos(angle), torch.sin(angle)
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shr = torch.eye(2).repeat(n, 1, 1)
    shr[:, 0, 1] = shear
    a = (rot @ shr) / scale.view(-1, 1, 1)  # output -> input coordinates
    theta = torch.cat([a, -(a @ shift[:, :, None])], 2)
    grid = F.affine_grid(theta, [n, 1, IMAGE_SIZE, IMAGE_SIZE], align_corners=False)
    if cfg.elastic > 0:
        coarse = torch.randn(n, 2, 4, 4, generator=g) * cfg.elastic
        field = F.interpolate(coarse, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", align_corners=False)
        grid = grid + field.permute(0, 2, 3, 1)
    return grid


def _clutter(n: int, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Stray strokes: up to ``cfg.clutter`` short line segments per image, drawn by distance."""
    k = cfg.clutter
    ends = torch.rand(n, k, 2, 2, generator=g) * IMAGE_SIZE  # [n, k, endpoint, xy]
    ends[:, :, 1] = ends[:, :, 0] + (ends[:, :, 1] - IMAGE_SIZE / 2) * 0.35  # short strokes
    present = torch.rand(n, k, generator=g) < 0.6
    level = _uniform(n * k, 0.3, 0.9, g).view(n, k) * present
    coords = torch.arange(IMAGE_SIZE, dtype=torch.float32) + 0.5
    pix = torch.stack(torch.meshgrid(coords, coords, indexing="xy"), -1).view(1, 1, -1, 2)  # [1,1,P,2]
    p0, p1 = ends[:, :, 0, None, :], ends[:, :, 1, None, :]
    d = p1 - p0
    t = (((pix - p0) * d).sum(-1) / (d * d).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    dist = (pix - (p0 + t[..., None] * d)).norm(dim=-1)  # [n, k, P]
    ink = (1.2 - dist).clamp(0, 1) * level[:, :, None]
    return ink.amax(1).view(n, 1, IMAGE_SIZE, IMAGE_SIZE)


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
