"""Stage 3: UMM, the Undoing Memorization Mechanism (methods.md section 2).

Qiang, Song et al., "On the Generalization and Causal Explanation in Self-Supervised
Learning", arXiv:2410.00772, 2024. After VICReg pretraining the early layers still generalise while the last ones
have memorised: UMM freezes the backbone up to and including ``umm.early_cut`` (``layer2``
or ``layer3``) and re-tunes the layers after it by a bi-level problem (the paper's Eq. 8,
as methods.md reconstructs it; issue #13):

    min_theta  F = L_ssl(theta') - alpha * Delta R(f_last(f_early(X); theta'))
    theta'  =  the (one-step) solution of  min_theta L_in(theta),  L_in = L_ssl + beta * JS(p_theta || U)
               started from theta

Defaults (each a ``umm.*`` setting):

* the outer objective is **anchored to the SSL loss** (``outer_ssl=true``); ``alpha``
  weighs the rate reduction, and ``alpha = 0`` is the fair control: the same code path and
  the same two updates per batch with ``F = L_ssl(theta')``. ``outer_ssl=false`` is the
  objective before issue #13 (``-alpha * Delta R`` alone; it raised the SSL loss from 16.9 to
  22.3 on CIFAR-10 and cost 4.4 linear points), kept for the ablation;
* ``Delta R``: MCR^2 rate reduction of the pooled last-layer features of the two views
  (``rate_reduction_on=features``; ``embedding``: of their expander outputs, where the
  authors' code takes it) with
  the **anchor-based soft membership** of the paper's Appendix C (``membership=soft``,
  ``membership_temperature``; our reconstruction,
  :mod:`drac_ssl.losses.mcr2`). ``membership=pairs`` (each image its own group of
  two views) is the old rule: maximising it drives the two views of an image to orthogonal.
  The soft rule only weakens that pull, it does not remove it (Delta R alone, tau 0.1: free
  views at cosine 0.92 end near 0.7, where ``pairs`` ends near 0;
  ``tests/drac_ssl/test_rate_reduction.py``): the SSL term
  of the outer objective (``outer_ssl``) is what holds the views together;
* **Adam at both levels with the same learning rate** (``inner_optimizer=adam``,
  ``inner_lr = outer_lr``), as the authors' code; the outer step skips parameters whose
  only outer gradient is the ``xi H v`` cross-term (with ``outer_ssl=false``: the
  expander); every step logs the outer / inner step-norm ratio of each parameter group;
* F is taken on the inner step's batch and views (``outer_batch=same``); ``next`` takes it
  on the epoch's next batch, as the authors' separate loader iterators do (docs/design.md,
  "Where the code fills in or departs from methods.md", says what differs and that neither
  choice has been measured);
* a **guard**: UMM stops, keeping the last epoch that passed, when the SSL loss rises more
  than ``max_ssl_rise`` (10 %) above its value at the start;
* ``start_from`` picks the pretraining checkpoint: ``best`` (default), ``last``, ``peak``
  or ``past_peak`` (the over-trained one, past the peak of pretraining's rate-reduction
  monitor: UMM is meant for a model that has begun to memorise).

``theta``: the backbone stages after the cut **and the expander** (``umm.tune_expander``,
default true: L_ssl is defined on the expander output). ``JS(p_theta || U)``: the alignment
term of :mod:`drac_ssl.losses.alignment` (density ``p_i ∝ 1 / ||dL_ssl / dz_early,i||``
taken with ``create_graph=True``, so the term trains the layers through second derivatives).

The stage, part by part (read in this order):

* :mod:`drac_ssl.umm.bilevel`: the bi-level maths (inner step, unrolled / Neumann
  hypergradient, Hessian-vector products), pure functions of parameter lists;
* :mod:`drac_ssl.umm.layers`: the frozen early layers, the re-tuned part after the cut and
  :class:`ComposableBatchNorm` (BatchNorm with derivatives of every order);
* :mod:`drac_ssl.umm.step`: one UMM step on a batch (inner objective, hypergradient, the
  inner and outer updates) and what it logs;
* :mod:`drac_ssl.umm.source`: choosing (``start_from``), resolving and loading the
  pretrained model;
* :mod:`drac_ssl.umm.stage`: ``run(cfg, run_dir)``, the stage on the training engine;
  :mod:`drac_ssl.umm.plots` its figures;
* :mod:`drac_ssl.umm.cli`: ``python -m drac_ssl.umm CHECKPOINT|RUN [-c CONFIG.yaml]
  [section.key=value ...] [--run-dir DIR]`` (a checkpoint, or a run folder from whose
  ``pretrain/`` ``umm.start_from`` picks one).

The names below are re-exported so that ``from drac_ssl import umm; umm.run(...)`` works.
"""

import sys as _sys

if "-m" in _sys.orig_argv and _sys.orig_argv[_sys.orig_argv.index("-m") + 1:][:1] == ["drac_ssl.umm"]:
    # python -m drac_ssl.umm: cli.main() imports the stage (torch and all) once the arguments
    # are parsed; Ctrl-C in those seconds is one line, not an import's traceback
    # (drac_ssl.starting); cli.main() hands Ctrl-C back to the stage's own handling once
    # everything is imported
    from drac_ssl.starting import quiet_while_starting

    quiet_while_starting("umm")

from typing import TYPE_CHECKING as _TYPE_CHECKING

# The names below resolve on first use (module __getattr__): ``python -m drac_ssl.umm --help``
# and ``import drac_ssl.umm.cli`` load no torch; ``from drac_ssl.umm import run`` imports the stage.
_EXPORTS = {  # name -> the submodule that defines it, imported on first use
    **dict.fromkeys(('HVP_MODES', 'HYPERGRADIENTS', 'Hypergradient', 'ParamFn', 'hessian_vector_product', 'hypergradient'), "bilevel"),
    **dict.fromkeys(('main',), "cli"),
    **dict.fromkeys(('AfterCut', 'ComposableBatchNorm', 'early_features', 'make_batch_norm_composable'), "layers"),
    **dict.fromkeys(('START_RULES', 'StartPoint', 'choose_start', 'default_checkpoint', 'load_pretrained_model', 'monitor_peak', 'resolve_start', 'start_note'), "source"),
    **dict.fromkeys(('EARLY_CUTS', 'UMMNonFiniteError', 'UMMResult', 'describe_objective', 'feed_config', 'run'), "stage"),
    **dict.fromkeys(('STEP_KEYS', 'InnerTerms', 'OuterTerms', 'UMMOptimizers', 'build_optimizers', 'effective_alpha', 'inner_objective', 'outer_objective', 'outer_step_groups', 'parameter_groups', 'step_keys', 'umm_step'), "step"),
}

_SUBMODULES = ("bilevel", "cli", "layers", "plots", "source", "stage", "step")


def __getattr__(name: str) -> object:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})


if _TYPE_CHECKING:  # what a type checker and an IDE read
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
    from drac_ssl.umm.source import (
        START_RULES,
        StartPoint,
        choose_start,
        default_checkpoint,
        load_pretrained_model,
        monitor_peak,
        resolve_start,
        start_note,
    )
    from drac_ssl.umm.stage import (
        EARLY_CUTS,
        UMMNonFiniteError,
        UMMResult,
        describe_objective,
        feed_config,
        run,
    )
    from drac_ssl.umm.step import (
        STEP_KEYS,
        InnerTerms,
        OuterTerms,
        UMMOptimizers,
        build_optimizers,
        effective_alpha,
        inner_objective,
        outer_objective,
        outer_step_groups,
        parameter_groups,
        step_keys,
        umm_step,
    )

__all__ = [
    "EARLY_CUTS",
    "HVP_MODES",
    "HYPERGRADIENTS",
    "START_RULES",
    "STEP_KEYS",
    "AfterCut",
    "ComposableBatchNorm",
    "Hypergradient",
    "InnerTerms",
    "OuterTerms",
    "StartPoint",
    "ParamFn",
    "UMMNonFiniteError",
    "UMMOptimizers",
    "UMMResult",
    "build_optimizers",
    "choose_start",
    "default_checkpoint",
    "describe_objective",
    "early_features",
    "effective_alpha",
    "feed_config",
    "hessian_vector_product",
    "hypergradient",
    "inner_objective",
    "load_pretrained_model",
    "main",
    "make_batch_norm_composable",
    "monitor_peak",
    "outer_objective",
    "outer_step_groups",
    "parameter_groups",
    "resolve_start",
    "run",
    "start_note",
    "step_keys",
    "umm_step",
]
