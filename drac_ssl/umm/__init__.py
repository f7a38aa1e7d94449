"""Stage 3: UMM, the Undoing Memorization Mechanism (methods.md section 2).

Qiang, Song et al., "On the Generalization and Causal Explanation in Self-Supervised
Learning". After VICReg pretraining the early layers still generalise while the last ones
have memorised: UMM freezes the backbone up to and including ``umm.early_cut`` (``layer2``
or ``layer3``) and re-tunes the layers after it by a bi-level problem (the paper's Eq. 8):

    max_theta  Delta R(f_last(f_early(X); theta))
    s.t.       theta in argmin_theta  L_in(theta),   L_in = L_ssl + beta * JS(p_theta || U)

``theta``: the backbone stages after the cut **and the expander** (``umm.tune_expander``,
default true: L_ssl is defined on the expander output, and a frozen expander that was fitted
to the memorising features would pin the SSL objective to them). ``Delta R``: the MCR^2 rate
reduction of the pooled last-layer features of the two views, each image its own group of
two (:func:`drac_ssl.losses.rate_reduction.rate_reduction`, ``eps^2 = umm.eps2``).
``JS(p_theta || U)``: the alignment term of :mod:`drac_ssl.losses.alignment`
(density ``p_i ∝ 1 / ||dL_ssl / dz_early,i||`` taken with ``create_graph=True``, so the
term trains the layers through second derivatives).

The stage, part by part (read in this order):

* :mod:`drac_ssl.umm.bilevel`: the bi-level maths (inner step, unrolled / Neumann
  hypergradient, Hessian-vector products), pure functions of parameter lists;
* :mod:`drac_ssl.umm.layers`: the frozen early layers, the re-tuned part after the cut and
  :class:`ComposableBatchNorm` (BatchNorm with derivatives of every order);
* :mod:`drac_ssl.umm.step`: one UMM step on a batch (inner objective, hypergradient, the
  inner and outer updates) and what it logs;
* :mod:`drac_ssl.umm.source`: resolving and loading the pretrained model;
* :mod:`drac_ssl.umm.stage`: ``run(cfg, run_dir)``, the stage on the training engine;
  :mod:`drac_ssl.umm.plots` its figures;
* :mod:`drac_ssl.umm.cli`: ``python -m drac_ssl.umm CHECKPOINT [-c CONFIG.yaml]
  [section.key=value ...] [--run-dir DIR]``.

The names below are re-exported so that ``from drac_ssl import umm; umm.run(...)`` works.
"""

from drac_ssl.umm.bilevel import (
    HVP_MODES,
    HYPERGRADIENTS,
    Hypergradient,
    ParamFn,
    hessian_vector_product,
    hypergradient,
)
from drac_ssl.umm.cli import main
from drac_ssl.umm.layers import (
    AfterCut,
    ComposableBatchNorm,
    early_features,
    make_batch_norm_composable,
)
from drac_ssl.umm.source import default_checkpoint, load_pretrained_model
from drac_ssl.umm.stage import EARLY_CUTS, UMMNonFiniteError, UMMResult, feed_config, run
from drac_ssl.umm.step import (
    STEP_KEYS,
    InnerTerms,
    UMMOptimizers,
    build_optimizers,
    inner_objective,
    umm_step,
)

__all__ = [
    "EARLY_CUTS",
    "HVP_MODES",
    "HYPERGRADIENTS",
    "STEP_KEYS",
    "AfterCut",
    "ComposableBatchNorm",
    "Hypergradient",
    "InnerTerms",
    "ParamFn",
    "UMMNonFiniteError",
    "UMMOptimizers",
    "UMMResult",
    "build_optimizers",
    "default_checkpoint",
    "early_features",
    "feed_config",
    "hessian_vector_product",
    "hypergradient",
    "inner_objective",
    "load_pretrained_model",
    "main",
    "make_batch_norm_composable",
    "run",
    "umm_step",
]
