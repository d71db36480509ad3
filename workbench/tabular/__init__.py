"""Tabular NLHF algorithms: one module per method, all with the stepwise ``init``/``step`` API.

    from workbench.tabular import METHODS, make_method
    method = make_method("Nash-MP", eta=0.2)
    state = method.init(game)
    state = method.step(game, state)               # batched over the game's batch dims

Registry names: see :data:`METHODS`; the driver (:mod:`workbench.tabular.driver`) runs several methods
and records the metrics in a tidy frame.
"""

from workbench.tabular.base import ExactOracle, SampledOracle, TabularState
from workbench.tabular.nash_md import NashMD
from workbench.tabular.nash_mp import NashMP

METHODS: dict[str, type] = {
    "Nash-MD": NashMD,
    "Nash-MP": NashMP,
}


def make_method(name: str, **hyper):
    """A method from its registry name and hyperparameters, e.g. ``make_method("Nash-MP", eta=0.2)``."""
    if name not in METHODS:
        raise KeyError(f"unknown tabular method {name!r}; known: {', '.join(METHODS)}")
    try:
        return METHODS[name](**hyper)
    except TypeError as exc:
        raise TypeError(f"bad hyperparameters for {name!r}: {hyper} ({exc})") from exc


__all__ = ["METHODS", "make_method", "ExactOracle", "SampledOracle", "TabularState", "NashMD", "NashMP"]
