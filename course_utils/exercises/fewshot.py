"""Checkers of notebook 05's exercises (few-shot learning)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_utils.exercises.core import Verdict, as_indices, checker, learner, verdict
from course_utils.fewshot import prototypes


@checker("Return a tensor [way, dim]: row c is the mean embedding of the examples labelled c.")
def check_prototypes(compute_prototypes: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> Verdict:
    """Exercise 05.1: `compute_prototypes(embeddings, labels, way)` returns the mean embedding of each class,
    row c for class c, whatever order the examples come in and however many each class has."""
    g = torch.Generator().manual_seed(5)
    cases = [
        (torch.randn(15, 8, generator=g), torch.arange(5).repeat_interleave(3), 5),  # sorted, 3 shots
        (torch.randn(12, 4, generator=g), torch.tensor([2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]), 3),  # interleaved
        (torch.randn(7, 6, generator=g), torch.tensor([1, 1, 1, 0, 3, 2, 2]), 4),  # unequal counts
        (torch.randn(4, 3, generator=g), torch.tensor([3, 2, 1, 0]), 4),  # one shot, reversed order
    ]
    for embeddings, labels, way in cases:
        answer = learner(compute_prototypes, embeddings.clone(), labels.clone(), way)
        if not isinstance(answer, torch.Tensor):
            return verdict(False, f"Return a tensor [way, dim] (got {type(answer).__name__}).")
        want = prototypes(embeddings, labels, way)
        if answer.shape != want.shape:
            return verdict(
                False,
                f"For {way} classes and {embeddings.shape[1]}-dimensional embeddings the result "
                f"should be {list(want.shape)}, got {list(answer.shape)}: one row per class.",
            )
        if answer.is_complex() or answer.device != want.device:
            return verdict(
                False, f"Return real numbers on the CPU, like the embeddings (got {answer.dtype} on {answer.device})."
            )
        answer = answer.detach().float()
        if torch.allclose(answer, want, atol=1e-5):
            continue
        counts = torch.bincount(labels, minlength=way).float().unsqueeze(1)
        if torch.allclose(answer, want * counts, atol=1e-4):
            return verdict(
                False, "These are the sums of each class's embeddings: divide by the class's count (use .mean(0))."
            )
        if torch.allclose(answer, embeddings.mean(0).expand_as(want), atol=1e-5):
            return verdict(
                False,
                "Every row is the mean of *all* the embeddings: average only the rows whose "
                "label is c (embeddings[labels == c]).",
            )
        rows = [
            next((r for r in range(way) if torch.allclose(answer[r], want[c], atol=1e-5)), None) for c in range(way)
        ]
        if None not in rows:
            return verdict(
                False,
                "The right means, in the wrong order: row c must be the prototype of class c "
                "(labels in this case are not sorted).",
            )
        return verdict(
            False,
            f"Row c should be the mean embedding of the examples labelled c (case: way={way}, "
            f"labels {labels.tolist()}).",
        )
    return verdict(True, "A prototype is just a class mean: no training at test time, any number of shots.")


def _episode_problem(answer: object, labels: torch.Tensor, way: int, shot: int, queries: int) -> str | None:
    """What is wrong with `answer` as (support_idx, query_idx) of a `way`-way `shot`-shot episode, or None."""
    if not (isinstance(answer, tuple) and len(answer) == 2):
        return "Return a pair (support_idx, query_idx) of index tensors."
    support, query = as_indices(answer[0], "support_idx"), as_indices(answer[1], "query_idx")
    if len(support) != way * shot or len(query) != way * queries:
        return (
            f"A {way}-way {shot}-shot episode with {queries} queries per class has {way * shot} support and "
            f"{way * queries} query indices; got {len(support)} and {len(query)}."
        )
    if (support < 0).any() or (support >= len(labels)).any() or (query < 0).any() or (query >= len(labels)).any():
        return f"Indices must lie in 0..{len(labels) - 1} (rows of labels)."
    if len(set(support.tolist()) | set(query.tolist())) != len(support) + len(query):
        return "An image appears twice: support and query images must all be different images."
    support_classes = labels[support].view(way, shot)
    if not (support_classes == support_classes[:, :1]).all():
        return (
            "Put the support class by class: the first `shot` indices are class 0's, the next `shot` class "
            "1's, and so on (the episode's labels are then arange(way).repeat_interleave(shot))."
        )
    classes = support_classes[:, 0]
    if len(set(classes.tolist())) != way:
        return f"The episode needs {way} different classes; some class appears twice."
    if not torch.equal(labels[query].view(way, queries), classes.unsqueeze(1).expand(way, queries)):
        return "The queries must follow the same class order as the support, `queries` per class."
    return None


def _same_episode(first: tuple, second: object) -> bool:
    """Whether two answers of the sampler hold the same indices."""
    if not (isinstance(second, tuple) and len(second) == 2):
        return False
    try:
        return all(
            torch.equal(torch.as_tensor(a).long().flatten(), torch.as_tensor(b).long().flatten())
            for a, b in zip(first, second, strict=True)
        )
    except (TypeError, ValueError, RuntimeError):
        return False


@checker("Return a pair (support_idx, query_idx): two 1-D tensors of row indices into labels, class by class.")
def check_episode_sampler(sample: Callable[[torch.Tensor, int, int, int, torch.Generator], tuple]) -> Verdict:
    """Exercise 05.2: `sample(labels, way, shot, queries, generator)` returns (support_idx, query_idx): `way`
    random classes, `shot` support and `queries` query images of each, all different, class by class."""
    labels = torch.arange(12).repeat_interleave(8)[torch.randperm(96, generator=torch.Generator().manual_seed(0))]
    seen_classes, full_supports = set(), set()
    for i, (way, shot, queries) in enumerate([(5, 1, 3), (3, 5, 2), (12, 2, 6), (4, 4, 4)] * 3):
        generator = torch.Generator().manual_seed(100 + i)
        answer = learner(sample, labels.clone(), way, shot, queries, generator)
        problem = _episode_problem(answer, labels, way, shot, queries)
        if problem:
            return verdict(False, f"{problem} (case way={way}, shot={shot}, queries={queries})")
        support = torch.as_tensor(answer[0]).long().flatten()
        seen_classes.add(tuple(labels[support[::shot]].tolist()))
        if way == 12:  # every class is in the episode: only the choice of images can vary
            full_supports.add(tuple(sorted(support.tolist())))
        again = torch.Generator().manual_seed(100 + i)
        if not _same_episode(answer, learner(sample, labels.clone(), way, shot, queries, again)):
            return verdict(
                False,
                "The same generator seed must give the same episode: draw every random number "
                "from `generator` (torch.randperm(n, generator=generator)).",
            )
    if len(seen_classes) < 6:
        return verdict(
            False,
            "Your episodes keep using the same classes: draw `way` classes at random "
            "(e.g. torch.randperm(num_classes, generator=generator)[:way]).",
        )
    if len(full_supports) < 2:
        return verdict(
            False,
            "Your episodes always use the same images of a class: shuffle each class's images "
            "(with `generator`) before taking the support and the queries.",
        )
    return verdict(True, "Random classes, disjoint support and query: every episode is a new little task.")
