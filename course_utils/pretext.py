"""Pre-training without labels: contrastive views and NT-Xent (SimCLR), masked-patch prediction with a mask token,
a denoising autoencoder, and the linear-probe protocol that compares encoders on the handwritten digits.

Batches, views and masks are drawn on the CPU (the same on every device) and moved to the encoder's device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn
from tqdm.auto import tqdm

from course_utils import augment as aug
from course_utils import digits
from course_utils.glyphs import GlyphSet
from course_utils.learning_rates import schedule_factor
from course_utils.models import GlyphNet, device_of, seeded
from course_utils.training import extract_features

VIEWS = aug.GLYPHS  # the two views of an image: the variation GlyphNet was pre-trained under
PATCH = 4  # masked-patch reconstruction hides 4x4 squares of the 28x28 image
PROBE_SIZES = (5, 20, None)  # labelled handwritten digits per class for the linear probe (None: all, ~108)


def unlabelled_batch(glyphs: GlyphSet, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """`batch_size` base images drawn uniformly from the renders, as uint8 [N, 32, 32]; no labels are returned."""
    return glyphs.images[torch.randint(len(glyphs), (batch_size,), generator=generator)]


def two_views(base: torch.Tensor, cfg: aug.AugmentConfig, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Two independent augmentations of the same images: the positive pairs of contrastive learning."""
    return aug.augment(base, cfg, generator), aug.augment(base, cfg, generator)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.2) -> torch.Tensor:
    """The normalised temperature-scaled cross-entropy of SimCLR (Chen et al., 2020).

    Row i of `z1` and row i of `z2` are two views of one image (a positive pair); every other row of either
    is a negative. Each of the 2N embeddings must pick out its partner among the 2N - 1 others.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must be [N, dim] of the same shape (got {list(z1.shape)} and {list(z2.shape)}).")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.T / temperature
    logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))  # not oneself
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, partner)


def projection_head(dim: int = 128, out: int = 64, seed: int = 0) -> nn.Module:
    """The small MLP between the encoder and the contrastive loss; thrown away after pre-training."""
    with seeded(seed):
        return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Linear(dim, out))


def _pretrain_loop(
    encoder: GlyphNet,
    extra: nn.Module,
    batch_loss: Callable[[torch.Generator], torch.Tensor],
    steps: int,
    lr: float,
    seed: int,
    desc: str,
    progress: bool,
) -> list[float]:
    """What both pretext tasks share: AdamW over the encoder's blocks (not its unused head) and `extra` (a
    projection head or a decoder), warm-up then cosine, one `batch_loss(generator)` per step; the losses."""
    params = [p for n, p in encoder.named_parameters() if not n.startswith("head.")] + list(extra.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    g, losses = torch.Generator().manual_seed(seed), []
    encoder.train()
    extra.train()
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        opt.param_groups[0]["lr"] = lr * schedule_factor("cosine", step, steps, warmup=min(50, steps // 10))
        loss = batch_loss(g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    encoder.eval()
    extra.eval()
    return losses


def train_simclr(
    encoder: GlyphNet,
    glyphs: GlyphSet,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    temperature: float = 0.2,
    cfg: aug.AugmentConfig = VIEWS,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Contrastive pre-training of `encoder.features` on unlabelled glyphs; the loss of every step."""
    device = device_of(encoder)
    head = projection_head(encoder.feature_dim, seed=seed).to(device)

    def batch_loss(g: torch.Generator) -> torch.Tensor:
        v1, v2 = two_views(unlabelled_batch(glyphs, batch_size, g), cfg, g)
        z = head(encoder.features(torch.cat([v1, v2]).to(device)))
        return nt_xent(z[:batch_size], z[batch_size:], temperature)

    return _pretrain_loop(encoder, head, batch_loss, steps, lr, seed, "SimCLR", progress)


def mask_patches(
    x: torch.Tensor, ratio: float, generator: torch.Generator, patch: int = PATCH
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blank out a random `ratio` of the `patch` x `patch` squares of each image; (masked images, mask of hidden
    pixels). The mask is 1 where a pixel was hidden; it is drawn with the (CPU) generator and moved to `x`."""
    n, _, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"Images of {h}x{w} do not split into {patch}x{patch} patches.")
    grid = (torch.rand(n, 1, h // patch, w // patch, generator=generator) < ratio).float().to(x.device)
    mask = grid.repeat_interleave(patch, 2).repeat_interleave(patch, 3)
    return x * (1 - mask), mask


class MaskToken(nn.Module):
    """A learned mask token for a convolutional encoder: one learned value fills every hidden pixel.

    A patch blanked to 0 looks exactly like empty background. BERT and SimMIM (Xie et al., 2022) put a learned
    token where the input is hidden; MAE (He et al., 2022) instead drops hidden patches from its encoder.
    """

    def __init__(self, init: float = 0.5):
        super().__init__()
        self.value = nn.Parameter(torch.tensor(float(init)))

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """`masked` has its hidden pixels at 0 (`mask_patches`); fill them with the token."""
        return masked + self.value * mask


class Decoder(nn.Module):
    """From a 128-d feature vector back to a 28x28 image: 7x7x32, then two transposed convolutions. It carries the
    mask token of masked-patch prediction (unused by the denoising autoencoder)."""

    def __init__(self, dim: int = 128, seed: int = 0):
        super().__init__()
        with seeded(seed):
            self.fc = nn.Linear(dim, 32 * 7 * 7)
            self.up = nn.Sequential(
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),  # 14x14
                nn.ReLU(inplace=True),
                nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1),  # 28x28
            )
        self.token = MaskToken()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.up(self.fc(features).view(-1, 32, 7, 7)))


def _same_device(encoder: GlyphNet, decoder: Decoder) -> torch.device:
    device = device_of(encoder)
    if device_of(decoder) != device:
        raise ValueError(
            f"The encoder is on {device} but the decoder on {device_of(decoder)}: "
            "move both to the same device first, e.g. `decoder.to(DEVICE)`."
        )
    return device


def train_masked(
    encoder: GlyphNet,
    decoder: Decoder,
    glyphs: GlyphSet,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    ratio: float = 0.5,
    cfg: aug.AugmentConfig = VIEWS,
    seed: int = 0,
    progress: bool = True,
    patch: int = PATCH,
) -> list[float]:
    """Masked-patch prediction: the encoder sees a distorted view of a glyph with `ratio` of its patches hidden
    (filled with the decoder's learned mask token), and the decoder must draw the clean, centred glyph (the same
    letter in the same font, undistorted) from the encoder's features. Returns the loss of every step."""
    device = _same_device(encoder, decoder)

    def batch_loss(g: torch.Generator) -> torch.Tensor:
        base = unlabelled_batch(glyphs, batch_size, g)
        masked, mask = mask_patches(aug.augment(base, cfg, g), ratio, g, patch)
        target = aug.augment(base, aug.NONE, g).to(device)
        inputs = decoder.token(masked.to(device), mask.to(device))
        return F.mse_loss(decoder(encoder.features(inputs)), target)

    return _pretrain_loop(encoder, decoder, batch_loss, steps, lr, seed, "masked patches", progress)


def train_denoising(
    encoder: GlyphNet,
    decoder: Decoder,
    glyphs: GlyphSet,
    steps: int,
    batch_size: int = 128,
    lr: float = 2e-3,
    noise: float = 0.5,
    cfg: aug.AugmentConfig = VIEWS,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """A denoising autoencoder (Vincent et al., 2008), the generative family: the encoder sees a view of a glyph
    with Gaussian noise of standard deviation `noise` added to every pixel, and the decoder must produce the whole
    clean view. Nothing is hidden and nothing is undistorted: the network learns to reproduce its data. Returns the
    loss of every step."""
    device = _same_device(encoder, decoder)

    def batch_loss(g: torch.Generator) -> torch.Tensor:
        view = aug.augment(unlabelled_batch(glyphs, batch_size, g), cfg, g)
        noisy = view + noise * torch.randn(view.shape, generator=g)
        return F.mse_loss(decoder(encoder.features(noisy.to(device))), view.to(device))

    return _pretrain_loop(encoder, decoder, batch_loss, steps, lr, seed, "denoising autoencoder", progress)


def linear_probe(
    train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor, test_labels: torch.Tensor
) -> float:
    """Test accuracy of a logistic regression on standardised frozen features (the same probe for every encoder)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    probe.fit(train_features.cpu().numpy(), train_labels.cpu().numpy())
    return float((probe.predict(test_features.cpu().numpy()) == test_labels.cpu().numpy()).mean())


def probe_encoder(
    encoder: nn.Module, sizes: Sequence[int | None] = PROBE_SIZES, draws: int = 3, seed: int = 0
) -> dict[int | None, float]:
    """Linear-probe accuracy on the wild handwritten test digits with `k` labelled training digits per class,
    the mean over `draws` labelled subsets, for each `k` in `sizes` (None: every training digit)."""
    data = digits.handwritten_digits("wild")
    f_train = extract_features(encoder, data.X_train, cache=False)
    f_test = extract_features(encoder, data.X_test, cache=False)
    out = {}
    for k in sizes:
        accs = []
        for d in range(1 if k is None else draws):
            rows = digits.labelled_subset(data.y_train, k, seed=1000 * seed + d)
            accs.append(linear_probe(f_train[rows], data.y_train[rows], f_test, data.y_test))
        out[k] = float(np.mean(accs))
    return out
