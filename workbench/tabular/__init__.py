"""Tabular NLHF algorithms: one module per method, all with the stepwise ``init``/``step`` API.

    from workbench.tabular import METHODS, make_method
    from workbench.schedules import nash_md_theory
    method = make_method("Nash-MP", eta=0.2)        # eta: a number or a workbench.schedules.Schedule
    state = method.init(game)                       # a typed state (TabularState, NashMPState, OMWUState)
    state = method.step(game, state)               # batched over the game's batch dims

Registry (name -> class, default hyperparameters in each class; Nash-MD defaults to
``nash_md_theory()`` ``eta_t = 2/(beta (t+2))``, Nash-MP to ``two_beta()`` ``eta = 2 beta``):

- regularized game (converge to ``pi*_beta``): ``"Nash-MD"`` (Munos et al. 2023), ``"Nash-MP"``
  (Tiapkin et al. 2025, mirror prox, 2 queries/iteration), ``"OMD"`` (online mirror descent self-play),
  ``"MMD"`` (magnetic mirror descent, Sokota et al. 2022), ``"EGPO"`` (extragradient, Zhou et al. 2025,
  2 queries/iteration), ``"OMWU"`` (optimistic multiplicative weights);
- unregularized baselines (ignore ``beta``): ``"MWU"`` (multiplicative weights / SPPO-style),
  ``"FP"`` (fictitious play).

The driver (:mod:`workbench.tabular.driver`) runs several methods and records the metrics in a tidy frame.
"""

from workbench.registry import build
from workbench.tabular.base import ExactOracle, SampledOracle, SteppedMethod, TabularState
from workbench.tabular.egpo import EGPO
from workbench.tabular.fictitious_play import FictitiousPlay
from workbench.tabular.mmd import MMD
from workbench.tabular.mwu import MWU
from workbench.tabular.nash_md import NashMD
from workbench.tabular.nash_mp import NashMP, NashMPState
from workbench.tabular.omd import OMD
from workbench.tabular.omwu import OMWU, OMWUState

METHODS: dict[str, type] = {
    "Nash-MD": NashMD,
    "Nash-MP": NashMP,
    "OMD": OMD,
    "MMD": MMD,
    "EGPO": EGPO,
    "OMWU": OMWU,
    "MWU": MWU,
    "FP": FictitiousPlay,
}

REGULARIZED = ("Nash-MD", "Nash-MP", "OMD", "MMD", "EGPO", "OMWU")  # converge to pi*_beta
UNREGULARIZED = ("MWU", "FP")  # ignore beta


def make_method(name: str, **hyper):
    """A method from its registry name and hyperparameters, e.g. ``make_method("Nash-MP", eta=0.2)``."""
    return build(METHODS, name, "tabular method", **hyper)


__all__ = [
    "METHODS", "REGULARIZED", "UNREGULARIZED", "make_method", "ExactOracle", "SampledOracle", "TabularState",
    "NashMPState", "OMWUState", "SteppedMethod",
    "NashMD", "NashMP", "OMD", "MMD", "EGPO", "OMWU", "MWU", "FictitiousPlay",
]
