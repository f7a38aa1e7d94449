"""Self-supervised objectives as pure tensor functions (plus thin modules).

- :mod:`drac_ssl.losses.vicreg`: the VICReg loss (Bardes et al., ICLR 2022), official-code
  convention (methods.md section 1).
- :mod:`drac_ssl.losses.mcr2`: coding rate and rate reduction (MCR^2, Yu et al.,
  NeurIPS 2020) for UMM and the label-free overfitting monitor (methods.md section 2), with
  the group memberships (:func:`anchor_membership`, :func:`pair_membership`). The module is
  not named ``rate_reduction``: that is its main function, re-exported here.
- :mod:`drac_ssl.losses.alignment`: UMM's distribution-alignment term, the JS divergence of
  the density the later layers induce to the uniform one (:func:`alignment_js`,
  :func:`js_to_uniform`; methods.md section 2).
- :mod:`drac_ssl.losses.grading`: the fine-tuning's supervised grading loss (cross-entropy of
  the logits, or SmoothL1 of the regression head's score) and its inverse-frequency class
  weights (:func:`grading_loss`, :func:`class_weights_for`).
- :mod:`drac_ssl.losses.view_pairs`: the checks of the two views' embeddings and the float32
  precision a two-view loss shares (:func:`~drac_ssl.losses.view_pairs.check_view_pair`, named
  after the loss in its messages; :func:`~drac_ssl.losses.view_pairs.at_least_float32`).
"""

from drac_ssl.losses.alignment import alignment_js, js_divergence, js_to_uniform
from drac_ssl.losses.grading import class_weights_for, grading_loss
from drac_ssl.losses.mcr2 import (
    RateReduction,
    anchor_membership,
    coding_rate,
    compress_rate,
    pair_compress_rate,
    pair_membership,
    rate_reduction,
    rate_reduction_general,
)
from drac_ssl.losses.vicreg import (
    VICRegLoss,
    VICRegTerms,
    covariance_loss,
    invariance_loss,
    variance_loss,
    vicreg_loss,
)

__all__ = [
    "RateReduction",
    "VICRegLoss",
    "VICRegTerms",
    "alignment_js",
    "anchor_membership",
    "class_weights_for",
    "coding_rate",
    "compress_rate",
    "covariance_loss",
    "grading_loss",
    "invariance_loss",
    "js_divergence",
    "js_to_uniform",
    "pair_compress_rate",
    "pair_membership",
    "rate_reduction",
    "rate_reduction_general",
    "variance_loss",
    "vicreg_loss",
]
