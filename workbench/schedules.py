"""Step sizes as ``float | Schedule`` (optax's ``ScalarOrSchedule``), shared by every lab.

A step size is either a positive number or a :class:`Schedule`: a small frozen, hashable callable

    eta_t = schedule(t, beta)        # t: iteration (int >= 0), beta: (*B,) tensor or float -> (*B,) tensor

with a readable ``label`` (for result frames and plot legends) and a flag ``varies_with_t``. The value
has ``beta``'s shape, dtype and device, so the same schedule runs on CPU and CUDA and on a batch of games
with one ``beta`` each. Schedules that do not use ``beta`` (``constant``) accept any ``beta``; a trainer
without a ``beta`` passes ``beta=0.0`` (or its own KL coefficient).

Named constructors, each from the theorem it comes from:

- :func:`constant` ``(eta)``: ``eta_t = eta``;
- :func:`nash_md_theory`: ``eta_t = 2 / (beta (t + 2))``, Munos et al. 2023 (arXiv 2312.00886), Theorem 1;
- :func:`two_beta`: ``eta = 2 beta``, Tiapkin et al. 2025 (arXiv 2505.19731 v1), Theorem 1;
- :func:`inverse_beta_cap` ``(s)``: ``min(s(t, beta), 1 / beta)``, the condition ``eta_t beta <= 1`` of
  Munos et al. Theorem 1 (``1 - eta_t beta`` is an exponent of the geometric mixture).

:func:`as_schedule` turns a user's ``eta`` (number or schedule) into a :class:`Schedule`, refusing
``<= 0``, NaN, inf, booleans and strings with a ``ValueError`` that names the owner (method, trainer)
and the value. Methods call it in ``__post_init__`` so a bad step fails at construction.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch

__all__ = [
    "Schedule", "ScalarOrSchedule", "Constant", "InverseTime", "BetaMultiple", "InverseBetaCap",
    "constant", "nash_md_theory", "two_beta", "inverse_beta_cap", "as_schedule", "positive_number",
]

# Strings that used to select a schedule, and the constructor that replaces each.
_REMOVED = {
    "theory": "workbench.schedules.nash_md_theory() (eta_t = 2/(beta (t+2)), Munos et al. Theorem 1)",
    "2beta": "workbench.schedules.two_beta() (eta = 2 beta, Tiapkin et al. Theorem 1)",
}


def positive_number(value, what: str) -> float:
    """``value`` as a finite float ``> 0``; a ``ValueError`` naming ``what`` and the value otherwise
    (booleans and strings are refused, not read as 1/0 or parsed)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
            value = value.item()
        else:
            raise ValueError(f"{what} must be a positive finite number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a positive finite number; got {value!r}")
    return value


def _beta(beta) -> torch.Tensor:
    return beta if isinstance(beta, torch.Tensor) else torch.as_tensor(beta, dtype=torch.float64)


class Schedule:
    """Base class: ``__call__(t, beta) -> eta_t`` with ``beta``'s shape, dtype and device, a readable
    ``label`` and ``varies_with_t`` (``False``: the step is fixed once ``beta`` is known, so callers may
    compute it once). Subclasses are frozen dataclasses (hashable, comparable, printable)."""

    label: str
    varies_with_t: bool = True
    needs_positive_beta: bool = False  # True where the step divides by or scales with beta

    def __call__(self, t: int, beta: torch.Tensor | float) -> torch.Tensor:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.label


ScalarOrSchedule = float | Schedule


@dataclass(frozen=True)
class Constant(Schedule):
    """``eta_t = eta`` for every ``t`` and every game."""

    eta: float
    varies_with_t = False

    def __post_init__(self):
        object.__setattr__(self, "eta", positive_number(self.eta, "Constant(eta)"))

    @property
    def label(self) -> str:
        return f"{self.eta:g}"

    def __call__(self, t: int, beta: torch.Tensor | float) -> torch.Tensor:
        return torch.full_like(_beta(beta), self.eta)  # (*B,)


@dataclass(frozen=True)
class InverseTime(Schedule):
    """``eta_t = scale / (beta (t + offset))``; ``beta`` is clamped at ``1e-12`` (callers that need
    ``beta > 0`` check it, see :meth:`needs_positive_beta`)."""

    scale: float
    offset: float
    needs_positive_beta = True

    def __post_init__(self):
        positive_number(self.scale, "InverseTime(scale)")
        positive_number(self.offset, "InverseTime(offset)")

    @property
    def label(self) -> str:
        return f"{self.scale:g}/(beta(t+{self.offset:g}))"

    def __call__(self, t: int, beta: torch.Tensor | float) -> torch.Tensor:
        return self.scale / (_beta(beta).clamp_min(1e-12) * (t + self.offset))  # (*B,)


@dataclass(frozen=True)
class BetaMultiple(Schedule):
    """``eta = factor * beta`` per game, the same at every ``t``."""

    factor: float
    varies_with_t = False
    needs_positive_beta = True

    def __post_init__(self):
        positive_number(self.factor, "BetaMultiple(factor)")

    @property
    def label(self) -> str:
        return f"{self.factor:g}beta"

    def __call__(self, t: int, beta: torch.Tensor | float) -> torch.Tensor:
        return self.factor * _beta(beta)  # (*B,)


@dataclass(frozen=True)
class InverseBetaCap(Schedule):
    """``min(base(t, beta), 1 / beta)``: clips a step to ``eta_t beta <= 1`` (``beta`` clamped at 1e-12,
    so ``beta = 0`` leaves the step as it is)."""

    base: Schedule

    def __post_init__(self):
        if not isinstance(self.base, Schedule):
            raise ValueError(f"InverseBetaCap(base) must be a Schedule; got {self.base!r}")

    @property
    def varies_with_t(self) -> bool:
        return self.base.varies_with_t

    @property
    def needs_positive_beta(self) -> bool:
        return getattr(self.base, "needs_positive_beta", False)

    @property
    def label(self) -> str:
        return f"min({self.base.label}, 1/beta)"

    def __call__(self, t: int, beta: torch.Tensor | float) -> torch.Tensor:
        beta = _beta(beta)
        return torch.minimum(self.base(t, beta), 1.0 / beta.clamp_min(1e-12))  # (*B,)


def constant(eta: float) -> Constant:
    """A constant step ``eta > 0`` (the classical mirror-descent / MWU step)."""
    return Constant(eta)


def nash_md_theory() -> InverseTime:
    """``eta_t = 2 / (beta (t + 2))``: Munos et al. 2023, *Nash Learning from Human Feedback*
    (arXiv 2312.00886), Theorem 1, which gives ``KL(pi*, pi_T) <= 8 / (beta^2 (T + 1))`` for Nash-MD's
    last iterate. ``eta_0 beta = 1`` and ``eta_t beta < 1`` after, as the theorem requires."""
    return InverseTime(scale=2.0, offset=2.0)


def two_beta() -> BetaMultiple:
    """``eta = 2 beta``: Tiapkin et al. 2025, *Accelerating Nash Learning from Human Feedback via Mirror
    Prox* (arXiv 2505.19731 v1), Theorem 1: the largest proximal step for which Nash-MP contracts
    ``KL(pi*, pi_t)`` by ``(1 + eta)^(-1)`` per iteration (``P / beta`` is ``1/(2 beta)``-Lipschitz)."""
    return BetaMultiple(factor=2.0)


def inverse_beta_cap(schedule: ScalarOrSchedule) -> InverseBetaCap:
    """``min(eta_t, 1 / beta)``: the step-size condition ``eta_t beta <= 1`` of Munos et al. 2023,
    Theorem 1 (the mixture ``pi^(1 - eta beta) mu^(eta beta)`` needs a non-negative exponent)."""
    return InverseBetaCap(as_schedule(schedule, "inverse_beta_cap"))


def as_schedule(eta: ScalarOrSchedule, owner: str = "eta") -> Schedule:
    """``eta`` as a :class:`Schedule`: a number becomes :class:`Constant` (``> 0``, finite, not a bool),
    a schedule is returned as is; anything else raises ``ValueError`` naming ``owner`` and the value
    (the removed strings ``"theory"`` / ``"2beta"`` name the constructor that replaces them)."""
    if isinstance(eta, Schedule):
        return eta
    if isinstance(eta, str):
        hint = _REMOVED.get(eta.strip().lower())
        if hint:
            raise ValueError(f"{owner}: eta={eta!r} is no longer accepted; pass eta={hint}")
        raise ValueError(f"{owner}: eta must be a positive number or a workbench.schedules.Schedule; got {eta!r}")
    try:
        return Constant(positive_number(eta, f"{owner}: eta"))
    except ValueError as exc:
        if callable(eta):
            raise ValueError(f"{owner}: eta must be a positive number or a workbench.schedules.Schedule "
                             f"(subclass it for a custom step); got the callable {eta!r}") from None
        raise exc from None
