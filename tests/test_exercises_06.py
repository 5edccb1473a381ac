"""Checkers of notebook 06's exercises."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from course_utils import exercises as ex
from course_utils import pretext


def by_hand(z1, z2, temperature):
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))


def test_nt_xent_accepts_right_answers(capsys):
    assert ex.check_nt_xent(pretext.nt_xent)
    assert ex.check_nt_xent(by_hand)
    assert "Correct" in capsys.readouterr().out


def test_nt_xent_names_the_usual_slips(capsys):
    def unnormalised(z1, z2, t):
        z, n = torch.cat([z1, z2]), len(z1)
        sim = (z @ z.T / t).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        return F.cross_entropy(sim, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))

    assert not ex.check_nt_xent(unnormalised)
    assert "Normalise" in capsys.readouterr().out
    assert not ex.check_nt_xent(lambda z1, z2, t: by_hand(z1, z2, 1.0))
    assert "temperature" in capsys.readouterr().out

    def keeps_diagonal(z1, z2, t):
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        return F.cross_entropy(z @ z.T / t, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]))

    assert not ex.check_nt_xent(keeps_diagonal)
    assert "-inf" in capsys.readouterr().out

    def wrong_partner(z1, z2, t):
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        sim = (z @ z.T / t).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        return F.cross_entropy(sim, (torch.arange(2 * n) + 1) % (2 * n))

    assert not ex.check_nt_xent(wrong_partner)
    assert "row i + N" in capsys.readouterr().out
    assert not ex.check_nt_xent(lambda z1, z2, t: torch.zeros(3))
    assert "one number" in capsys.readouterr().out


def test_nt_xent_reports_unfinished_code(capsys):
    def unfinished(z1, z2, t):
        raise NotImplementedError

    assert not ex.check_nt_xent(unfinished)
    assert "Not done yet" in capsys.readouterr().out


def test_mask_patches_accepts_the_package_answer(capsys):
    assert ex.check_mask_patches(pretext.mask_patches)
    assert "Correct" in capsys.readouterr().out


def test_mask_patches_rejects_wrong_answers(capsys):
    def pixels(x, ratio, g, patch):
        mask = (torch.rand(x.shape, generator=g) < ratio).float()
        return x * (1 - mask), mask

    assert not ex.check_mask_patches(pixels)
    assert "whole" in capsys.readouterr().out

    def same_for_all(x, ratio, g, patch):
        masked, mask = pretext.mask_patches(x[:1], ratio, g, patch)
        mask = mask.expand_as(x)
        return x * (1 - mask), mask

    assert not ex.check_mask_patches(same_for_all)
    assert "same for all" in capsys.readouterr().out

    def inverted(x, ratio, g, patch):
        masked, mask = pretext.mask_patches(x, ratio, g, patch)
        return x * mask, mask

    assert not ex.check_mask_patches(inverted)
    assert "x * (1 - mask)" in capsys.readouterr().out
    assert not ex.check_mask_patches(lambda x, ratio, g, patch: pretext.mask_patches(x, 1 - ratio, g, patch))
    assert "should be hidden" in capsys.readouterr().out

    def global_rng(x, ratio, g, patch):
        return pretext.mask_patches(x, ratio, torch.Generator().manual_seed(int(torch.randint(10**6, ()))), patch)

    assert not ex.check_mask_patches(global_rng)
    assert "same generator seed" in capsys.readouterr().out
