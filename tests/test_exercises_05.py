"""Checkers of notebook 05's exercises."""

from __future__ import annotations

import torch

from course_utils import exercises as ex


def right_prototypes(embeddings, labels, way):
    return torch.stack([embeddings[labels == c].mean(0) for c in range(way)])


def right_sampler(labels, way, shot, queries, generator):
    classes = torch.unique(labels)[torch.randperm(len(torch.unique(labels)), generator=generator)[:way]]
    support, query = [], []
    for c in classes:
        rows = torch.nonzero(labels == c).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        support.append(rows[:shot])
        query.append(rows[shot : shot + queries])
    return torch.cat(support), torch.cat(query)


def test_prototypes_accepts_right_answers(capsys):
    assert ex.check_prototypes(right_prototypes)

    def by_scatter(embeddings, labels, way):  # another correct way
        sums = torch.zeros(way, embeddings.shape[1]).index_add_(0, labels, embeddings)
        return sums / torch.bincount(labels, minlength=way).unsqueeze(1)

    assert ex.check_prototypes(by_scatter)
    assert "Correct" in capsys.readouterr().out


def test_prototypes_rejects_wrong_answers(capsys):
    assert not ex.check_prototypes(lambda e, y, w: torch.stack([e[y == c].sum(0) for c in range(w)]))
    assert "sums" in capsys.readouterr().out
    assert not ex.check_prototypes(lambda e, y, w: e.mean(0, keepdim=True).repeat(w, 1))
    assert "all* the embeddings" in capsys.readouterr().out
    assert not ex.check_prototypes(lambda e, y, w: torch.stack([e[y == c].mean(0) for c in torch.unique(y)][::-1]))
    assert "wrong order" in capsys.readouterr().out
    assert not ex.check_prototypes(lambda e, y, w: e.view(w, -1, e.shape[1]).mean(1))  # assumes sorted labels
    assert not ex.check_prototypes(lambda e, y, w: e[:w])
    assert not ex.check_prototypes(lambda e, y, w: right_prototypes(e, y, w).T)
    assert "one row per class" in capsys.readouterr().out
    assert not ex.check_prototypes(lambda e, y, w: right_prototypes(e, y, w).tolist())
    assert "Return a tensor" in capsys.readouterr().out


def test_prototypes_reports_unfinished_and_crashing_code(capsys):
    def unfinished(e, y, w):
        raise NotImplementedError

    assert not ex.check_prototypes(unfinished)
    assert "Not done yet" in capsys.readouterr().out
    assert not ex.check_prototypes(lambda e, y, w: e @ torch.ones(3, 3))
    assert "raised RuntimeError" in capsys.readouterr().out


def test_episode_sampler_accepts_a_right_answer(capsys):
    assert ex.check_episode_sampler(right_sampler)
    assert "Correct" in capsys.readouterr().out


def test_episode_sampler_rejects_wrong_answers(capsys):
    def overlapping(labels, way, shot, queries, generator):
        s, q = right_sampler(labels, way, shot, queries, generator)
        return s, torch.cat([s[:1], q[1:]]) if shot == 1 else s[: len(q)]

    assert not ex.check_episode_sampler(overlapping)
    assert "appears twice" in capsys.readouterr().out

    def interleaved(labels, way, shot, queries, generator):
        s, q = right_sampler(labels, way, shot, queries, generator)
        return s.view(way, shot).T.flatten(), q

    assert not ex.check_episode_sampler(interleaved)
    assert "class by class" in capsys.readouterr().out

    def fixed_classes(labels, way, shot, queries, generator):
        g = torch.Generator().manual_seed(0)  # ignores the generator it was given
        return right_sampler(labels, way, shot, queries, g)

    assert not ex.check_episode_sampler(fixed_classes)
    assert "same classes" in capsys.readouterr().out

    def global_rng(labels, way, shot, queries, generator):
        return right_sampler(labels, way, shot, queries, None)

    assert not ex.check_episode_sampler(global_rng)
    assert "same generator seed" in capsys.readouterr().out

    def first_images(labels, way, shot, queries, generator):
        classes = torch.randperm(12, generator=generator)[:way]
        rows = [torch.nonzero(labels == c).flatten() for c in classes]
        return torch.cat([r[:shot] for r in rows]), torch.cat([r[shot : shot + queries] for r in rows])

    assert not ex.check_episode_sampler(first_images)
    assert "same images" in capsys.readouterr().out
    assert not ex.check_episode_sampler(lambda labels, way, shot, queries, g: right_sampler(labels, way, shot, 1, g))
    assert "query indices" in capsys.readouterr().out
    assert not ex.check_episode_sampler(
        lambda labels, way, shot, queries, g: right_sampler(labels, way, shot, queries, g)[0]
    )
    assert "pair" in capsys.readouterr().out


def test_episode_sampler_reports_unfinished_code(capsys):
    def unfinished(labels, way, shot, queries, generator):
        raise NotImplementedError

    assert not ex.check_episode_sampler(unfinished)
    assert "Not done yet" in capsys.readouterr().out
