"""Self-supervised pre-training pieces: NT-Xent, views, masking, the decoder, the probe, shipped encoders."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_utils import glyphs, models, pretext, pretrain_ssl
from course_utils.checkpoints import CheckpointError


def reference_nt_xent(z1, z2, temperature):
    """NT-Xent written out term by term, as in the SimCLR paper."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2, total = len(z), 0.0
    for i in range(n2):
        j = (i + n2 // 2) % n2
        others = [k for k in range(n2) if k != i]
        denom = sum(math.exp(float(z[i] @ z[k]) / temperature) for k in others)
        total += -math.log(math.exp(float(z[i] @ z[j]) / temperature) / denom)
    return total / n2


def test_nt_xent_matches_the_paper_and_rewards_matching_views():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    for t in (0.1, 0.5, 1.0):
        assert pretext.nt_xent(z1, z2, t).item() == pytest.approx(reference_nt_xent(z1, z2, t), rel=1e-4)
    assert pretext.nt_xent(z1, z1 + 0.01 * z2, 0.2) < pretext.nt_xent(z1, z2, 0.2)
    with pytest.raises(ValueError, match="same shape"):
        pretext.nt_xent(z1, z2[:3])


def test_two_views_differ_but_show_the_same_glyphs():
    corpus = glyphs.background_alphabets()
    g = torch.Generator().manual_seed(0)
    base = pretext.unlabelled_batch(corpus, 8, g)
    v1, v2 = pretext.two_views(base, pretext.VIEWS, g)
    assert v1.shape == v2.shape == (8, 1, 28, 28)
    assert not torch.equal(v1, v2)


def test_mask_patches_hides_whole_patches_at_the_asked_ratio():
    x = torch.ones(200, 1, 28, 28)
    masked, mask = pretext.mask_patches(x, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(masked, 1 - mask)
    patches = mask.unfold(2, 4, 4).unfold(3, 4, 4)  # [n, 1, 7, 7, 4, 4]
    assert torch.equal(patches.amin((-1, -2)), patches.amax((-1, -2)))  # all or nothing per patch
    assert mask.mean().item() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="patches"):
        pretext.mask_patches(torch.ones(1, 1, 30, 30), 0.5, torch.Generator())


def test_decoder_and_short_trainings_run_and_lower_their_losses():
    corpus = glyphs.background_alphabets()
    enc = models.GlyphNet(num_classes=1, seed=0)
    assert pretext.Decoder()(torch.zeros(3, 128)).shape == (3, 1, 28, 28)
    losses = pretext.train_simclr(enc, corpus, steps=30, batch_size=32, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])
    enc2, dec = models.GlyphNet(num_classes=1, seed=0), pretext.Decoder()
    losses = pretext.train_masked(enc2, dec, corpus, steps=30, batch_size=32, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])


def test_mask_token_fills_exactly_the_hidden_pixels_and_learns():
    x = torch.rand(4, 1, 28, 28) + 0.1
    masked, mask = pretext.mask_patches(x, 0.5, torch.Generator().manual_seed(0))
    token = pretext.MaskToken(init=0.3)
    filled = token(masked, mask)
    assert torch.allclose(filled[mask == 1], torch.full_like(filled[mask == 1], 0.3))
    assert torch.equal(filled[mask == 0], x[mask == 0])
    filled.sum().backward()
    assert token.value.grad is not None and token.value.grad.item() == pytest.approx(mask.sum().item())
    assert "token.value" in pretext.Decoder().state_dict()  # shipped with the decoder


def test_masked_training_moves_the_token_and_denoising_ignores_it():
    corpus = glyphs.background_alphabets()
    enc, dec = models.GlyphNet(num_classes=1, seed=0), pretext.Decoder()
    pretext.train_masked(enc, dec, corpus, steps=5, batch_size=16, progress=False)
    assert dec.token.value.item() != pytest.approx(0.5)
    enc, dec = models.GlyphNet(num_classes=1, seed=0), pretext.Decoder()
    losses = pretext.train_denoising(enc, dec, corpus, steps=30, batch_size=32, progress=False)
    assert sum(losses[-5:]) < sum(losses[:5])
    assert dec.token.value.item() == pytest.approx(0.5)


def test_probe_reports_every_size_and_separates_good_features_from_noise():
    class Noise(torch.nn.Module):
        def features(self, x):
            return torch.randn(len(x), 16, generator=torch.Generator().manual_seed(len(x)))

    noise = pretext.probe_encoder(Noise(), sizes=(20,), draws=1)
    good = pretext.probe_encoder(models.GlyphNet(num_classes=1, seed=0), sizes=(20,), draws=1)
    assert set(noise) == {20} and noise[20] < 0.2 < good[20]


@pytest.mark.parametrize("method", pretrain_ssl.METHODS)
def test_shipped_encoders_load_with_their_cards(method):
    encoder, decoder, meta = pretrain_ssl.load_pretrained(method)
    assert meta["method"] == method and all(c["holds"] for c in meta["claims"])
    assert encoder.features(torch.zeros(2, 1, 28, 28)).shape == (2, 128)
    assert (decoder is not None) == (method == "masked")
    card = pretrain_ssl.checkpoint_path(method).with_suffix(".md").read_text()
    assert meta["claims"] and "seed" in card and pretrain_ssl.rebuild_command(method) in card


def test_a_damaged_encoder_file_names_the_rebuild_command(tmp_path):
    path = tmp_path / "simclr.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="pretrain_ssl simclr"):
        pretrain_ssl.load_pretrained("simclr", path)
    with pytest.raises(ValueError, match="Unknown pre-training method"):
        pretrain_ssl.load_pretrained("rotation")
