"""Meta-learners for few-shot learning: the prototypical and matching-network losses, episodic training, and
first-order ANIL (a linear head adapted in an inner loop, the feature blocks learned by the outer loop).

Episodes, prototypes and their evaluation are in `course_utils.fewshot`; notebook 05 writes each loop here out
and checks it equal to these.
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from course_utils.fewshot import Classifier, prototypes, sample_episode
from course_utils.glyphs import GlyphSet
from course_utils.learning_rates import schedule_factor
from course_utils.models import device_of


def prototypical_loss(
    support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, query_y: torch.Tensor, way: int
) -> tuple[torch.Tensor, float]:
    """Cross-entropy over negative squared distances to the class prototypes (Snell et al., 2017), and accuracy."""
    logits = -(torch.cdist(query, prototypes(support, support_y, way)) ** 2)
    return torch.nn.functional.cross_entropy(logits, query_y), (logits.argmax(1) == query_y).float().mean().item()


def matching_log_probs(
    support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, way: int, temperature: float = 10.0
) -> torch.Tensor:
    """Matching networks (Vinyals et al., 2016): attention over the support set by cosine similarity, softmax,
    and the attention-weighted vote of the support labels; returns log-probabilities [queries, way]."""
    similarity = torch.nn.functional.normalize(query, dim=1) @ torch.nn.functional.normalize(support, dim=1).T
    attention = (temperature * similarity).softmax(1)
    return torch.log(attention @ torch.nn.functional.one_hot(support_y, way).float() + 1e-8)


def matching_classify(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, way: int) -> torch.Tensor:
    """Predicted query labels of a matching network (a `Classifier` for `score`)."""
    return matching_log_probs(support, support_y, query, way).argmax(1)


def train_episodic(
    net: torch.nn.Module,
    glyphs: GlyphSet,
    steps: int,
    method: str = "prototypical",
    way: int = 20,
    shot: int = 5,
    queries: int = 5,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Episodic training of `net.features`, on its device, with the prototypical or the matching loss; the losses."""
    if method not in ("prototypical", "matching"):
        raise ValueError(f"Unknown method {method!r}: choose 'prototypical' or 'matching'.")
    g, device = torch.Generator().manual_seed(seed), device_of(net)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    net.train()
    for step in tqdm(range(steps), desc=f"{method} training", disable=not progress, leave=False):
        opt.param_groups[0]["lr"] = lr * schedule_factor("cosine", step, steps)
        ep = sample_episode(glyphs, way, shot, queries, g).to(device)
        emb = net.features(torch.cat([ep.support_x, ep.query_x]))
        support, query = emb[: len(ep.support_y)], emb[len(ep.support_y) :]
        if method == "prototypical":
            loss, _ = prototypical_loss(support, ep.support_y, query, ep.query_y, way)
        else:
            loss = torch.nn.functional.nll_loss(matching_log_probs(support, ep.support_y, query, way), ep.query_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    return losses


def adapt_head(
    head: torch.nn.Module,
    params: dict[str, torch.Tensor],
    support: torch.Tensor,
    support_y: torch.Tensor,
    steps: int = 5,
    alpha: float = 0.5,
    first_order: bool = True,
) -> dict[str, torch.Tensor]:
    """MAML's inner loop on a classifier head: `steps` gradient steps of size `alpha` on the support loss,
    written functionally (`torch.func.functional_call`) so the outer loop can differentiate through them.
    The support set moves to the head's device."""
    from torch.func import functional_call

    support, support_y = support.to(device_of(head)), support_y.to(device_of(head))
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(functional_call(head, params, (support,)), support_y)
        grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
        params = {name: p - alpha * g for (name, p), g in zip(params.items(), grads, strict=True)}
    return params


def adapt_linear(
    weight: torch.Tensor,
    bias: torch.Tensor,
    support: torch.Tensor,
    support_y: torch.Tensor,
    steps: int = 10,
    alpha: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`adapt_head`'s steps for a linear head, without autograd: the gradient of the mean cross-entropy written
    out, (softmax - one-hot)ᵀ x / n. The same numbers, fast enough to adapt a head on every test episode."""
    weight, bias = weight.detach(), bias.detach()
    onehot = torch.nn.functional.one_hot(support_y, weight.shape[0]).to(support.dtype)
    for _ in range(steps):
        err = ((support @ weight.T + bias).softmax(1) - onehot) / len(support)
        weight, bias = weight - alpha * err.T @ support, bias - alpha * err.sum(0)
    return weight, bias


def anil_classifier(head: torch.nn.Linear, steps: int = 10, alpha: float = 0.5) -> Classifier:
    """A `Classifier` that adapts a copy of the meta-learned linear `head` (on its device) to each episode's
    support set with `adapt_linear`; the head itself is left unchanged."""

    def classify(support, support_y, query, way):
        device = device_of(head)
        support, support_y, query = (t.detach().to(device) for t in (support, support_y, query))
        weight, bias = adapt_linear(head.weight, head.bias, support, support_y, steps, alpha)
        return (query @ weight.T + bias).argmax(1)

    return classify


def zero_head(dim: int, way: int) -> torch.nn.Linear:
    """A linear head that starts at zero: before adaptation every class gets the same score."""
    head = torch.nn.Linear(dim, way)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    return head


def train_anil(
    body: torch.nn.Module,
    head: torch.nn.Module,
    glyphs: GlyphSet,
    steps: int,
    way: int = 5,
    shot: int = 5,
    queries: int = 10,
    lr: float = 1e-3,
    head_lr: float = 1e-2,
    inner_steps: int = 5,
    inner_lr: float = 0.5,
    first_order: bool = True,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """ANIL (Raghu et al., 2020) meta-training of `body.features` and a starting `head`, on the body's device.

    Each step draws one episode, adapts the head alone to its support set (`adapt_head`), and lowers the
    adapted head's query loss. With `first_order` (the default) the body learns only through the query
    embeddings. Returns the loss of every step.
    """
    from torch.func import functional_call

    opt = torch.optim.AdamW(
        [{"params": body.parameters(), "lr": lr}, {"params": head.parameters(), "lr": head_lr}], weight_decay=0.0
    )
    g, device, losses = torch.Generator().manual_seed(seed), device_of(body), []
    body.train()
    for step in tqdm(
        range(steps), desc="first-order ANIL" if first_order else "ANIL", disable=not progress, leave=False
    ):
        for group, base in zip(opt.param_groups, (lr, head_lr), strict=True):
            group["lr"] = base * schedule_factor("cosine", step, steps)
        ep = sample_episode(glyphs, way, shot, queries, g).to(device)
        emb = body.features(torch.cat([ep.support_x, ep.query_x]))
        n = len(ep.support_y)
        adapted = adapt_head(
            head, dict(head.named_parameters()), emb[:n], ep.support_y, inner_steps, inner_lr, first_order
        )
        loss = torch.nn.functional.cross_entropy(functional_call(head, adapted, (emb[n:],)), ep.query_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    body.eval()
    return losses
