"""Two checks behind docs/design.md's "where UMM departs from the authors' code" ->
``bench/results/umm_departure_checks.json``.

    python -m bench.umm_departure_checks          # about 10 s on 1 CPU core

The methods review's checks (its ``c2.py`` and ``c3.py``), committed so the figures design.md
cites are measured by code in the repository:

* ``outer_batch``: a randomly initialised ResNet-18 (CIFAR stem) after ``umm.early_cut`` with the
  default :class:`drac_ssl.config.UMMConfig`, 8 images of 16 px with two noisy views, one seed:
  the cosine between UMM's outer hypergradient (:func:`drac_ssl.umm.bilevel.hypergradient`) and
  the inner gradient when the outer loss is taken on the same batch and on another batch; the
  look-ahead step's length ``xi |grad L_in|`` against a first Adam step's ``xi sqrt(#params)``;
  the cross term ``xi H v`` against ``v`` (the first-order hypergradient).
* ``membership``: free features (32 pairs, 512-d, the second view the first plus noise 0.5,
  one seed): the cosine between the gradients of the soft and the pairs Delta R
  (:func:`drac_ssl.losses.mcr2.rate_reduction`) at temperatures 0.1, 0.5 and 1, and the
  directional derivative of the mean view cosine along each gradient (negative: the step pushes
  the two views apart).

One seed, a random network, not a trained model: directions, not results of training.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from bench.common import write_result
from drac_ssl.starting import python_command


def outer_batch_check(seed: int = 0) -> dict[str, Any]:
    """The outer hypergradient's cosine with the inner gradient, same batch and another batch."""
    import torch
    import torch.nn.functional as F
    from torch.func import functional_call

    from drac_ssl.config import UMMConfig
    from drac_ssl.losses.mcr2 import rate_reduction
    from drac_ssl.losses.vicreg import VICRegLoss
    from drac_ssl.models import Backbone, Expander, VICRegModel
    from drac_ssl.umm.bilevel import global_norm, hypergradient
    from drac_ssl.umm.layers import AfterCut, early_features, make_batch_norm_composable
    from drac_ssl.umm.step import inner_objective, outer_objective

    torch.manual_seed(seed)
    for n, d in ((8, 32), (16, 512)):  # the review's first draws, kept so the figures are its own
        a = torch.randn(n, d)
        rate_reduction(a, a + 0.3 * torch.randn(n, d), membership="soft")
    model = VICRegModel(Backbone("resnet18", in_channels=3, cifar_stem=True), Expander(512, "128-128-128"))
    uc = UMMConfig()
    model.backbone.freeze_until(uc.early_cut)
    for stage in model.backbone.stage_modules(uc.early_cut):
        make_batch_norm_composable(stage)
    make_batch_norm_composable(model.expander)
    head = AfterCut(model, uc.early_cut)
    tuned = {k: p for k, p in head.named_parameters() if p.requires_grad}
    params, names = list(tuned.values()), list(tuned)
    buffers = {k: b.detach().clone() for k, b in head.named_buffers()}
    loss_fn = VICRegLoss()

    def views(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (early_features(model, x + 0.05 * torch.randn_like(x), uc.early_cut, False),
                early_features(model, x + 0.05 * torch.randn_like(x), uc.early_cut, False))

    def outer_on(ha: torch.Tensor, hb: torch.Tensor):
        def outer_fn(theta):
            state = {**buffers, **dict(zip(names, theta, strict=True))}
            fa, za = functional_call(head, state, (ha,), {"embed": True})
            fb, zb = functional_call(head, state, (hb,), {"embed": True})
            return outer_objective(fa, fb, za, zb, loss_fn, uc).objective
        return outer_fn

    def flat(grads) -> torch.Tensor:
        return torch.cat([g.flatten() for g in grads])

    x = torch.rand(8, 3, 16, 16)
    ha, hb = views(x)
    inner_objective(head, ha, hb, loss_fn, beta=1.0, use_js=True)  # the review printed its JS here
    same = hypergradient(params, inner_objective(head, ha, hb, loss_fn, beta=1.0, use_js=True).inner,
                         outer_on(ha, hb), inner_lr=uc.inner_lr)
    first_order = hypergradient(params, inner_objective(head, ha, hb, loss_fn, beta=1.0, use_js=True).inner,
                                outer_on(ha, hb), inner_lr=uc.inner_lr, method="neumann", neumann_steps=0)
    cross = [a - b for a, b in zip(same.gradient, first_order.gradient, strict=True)]
    look_ahead = float(global_norm([uc.inner_lr * g for g in same.inner_gradient]))
    n_params = sum(p.numel() for p in params)
    adam_step = uc.inner_lr * math.sqrt(n_params)
    x2 = torch.rand(8, 3, 16, 16)
    ha2, hb2 = views(x2)
    other = hypergradient(params, inner_objective(head, ha, hb, loss_fn, beta=1.0, use_js=True).inner,
                          outer_on(ha2, hb2), inner_lr=uc.inner_lr)
    return {"seed": seed, "images": 8, "pixels": 16, "early_cut": uc.early_cut, "tuned_parameters": n_params,
            "cos_outer_inner_same_batch": round(float(F.cosine_similarity(flat(same.gradient),
                                                                          flat(same.inner_gradient), dim=0)), 4),
            "cos_outer_inner_other_batch": round(float(F.cosine_similarity(flat(other.gradient),
                                                                           flat(other.inner_gradient), dim=0)), 4),
            "look_ahead_length": round(look_ahead, 4), "first_adam_step_length": round(adam_step, 4),
            "adam_over_look_ahead": round(adam_step / look_ahead, 1),
            "cross_term_over_first_order": round(float(global_norm(cross) / global_norm(first_order.gradient)), 4)}


def membership_check(seed: int = 1, temperatures: tuple[float, ...] = (0.1, 0.5, 1.0)) -> list[dict[str, Any]]:
    """Soft vs pairs Delta R gradients on free features, one row per temperature."""
    import torch
    import torch.nn.functional as F

    from drac_ssl.losses.mcr2 import rate_reduction

    def grads(a: torch.Tensor, b: torch.Tensor, fn) -> torch.Tensor:
        za, zb = a.clone().requires_grad_(), b.clone().requires_grad_()
        return torch.cat([g.flatten() for g in torch.autograd.grad(fn(za, zb), (za, zb))])

    def view_cosine(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cosine_similarity(x, y, dim=1).mean()

    torch.manual_seed(seed)
    rows = []
    for tau in temperatures:
        a = torch.randn(32, 512)
        b = a + 0.5 * torch.randn(32, 512)
        soft = grads(a, b, lambda x, y, tau=tau: rate_reduction(x, y, membership="soft", temperature=tau).delta)
        pairs = grads(a, b, lambda x, y: rate_reduction(x, y, membership="pairs").delta)
        towards = grads(a, b, view_cosine)
        rows.append({"temperature": tau, "cos_soft_pairs": round(float(F.cosine_similarity(soft, pairs, dim=0)), 4),
                     "view_cosine_along_soft": round(float(soft @ towards), 5),
                     "view_cosine_along_pairs": round(float(pairs @ towards), 5)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=python_command("bench.umm_departure_checks"), allow_abbrev=False,
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="umm_departure_checks")
    args = parser.parse_args(argv)
    outer = outer_batch_check()
    print(f"[umm_departure_checks] outer hypergradient vs inner gradient: cosine {outer['cos_outer_inner_same_batch']} "
          f"(same batch), {outer['cos_outer_inner_other_batch']} (another batch); look-ahead "
          f"{outer['look_ahead_length']} vs first Adam step {outer['first_adam_step_length']}", flush=True)
    membership = membership_check()
    for row in membership:
        print(f"  tau {row['temperature']}: cos(soft, pairs) {row['cos_soft_pairs']}; view cosine along soft "
              f"{row['view_cosine_along_soft']:+}, along pairs {row['view_cosine_along_pairs']:+}", flush=True)
    write_result(args.name, {
        "what": "design.md's UMM departure checks (the methods review's c2.py, c3.py): the outer "
                "hypergradient's cosine with the inner gradient on the same and another batch, the look-ahead "
                "step's length, and the soft vs pairs Delta R gradients by temperature; a random ResNet-18 and "
                "free features, one seed each",
        "outer_batch": outer, "membership": membership,
    })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
