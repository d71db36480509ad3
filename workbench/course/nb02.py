"""Checks of notebook 02 (Nash-MD vs Nash-MP): one exact Nash-MD step, one exact Nash-MP iteration, and the
last iterate of MWU on rock-paper-scissors."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import BATCH_SHAPES, Case, describe, function_check, number_check, random_game_tensors, register

NB = "02_nash_md_vs_nash_mp"


def _step_cases(g: torch.Generator, eta_of_beta) -> list[Case]:
    cases = []
    for batch, n in zip(BATCH_SHAPES, (3, 7, 4)):
        kw = random_game_tensors(g, batch, n, beta_range=(0.03, 1.0))
        kw["eta"] = eta_of_beta(kw["beta"], torch.rand(batch, generator=g, dtype=torch.float64))
        cases.append(Case(kw, describe(batch, n, beta=kw["beta"], eta=kw["eta"])))
    return cases


def _distribution(kw, out) -> bool:
    return bool((out >= 0).all() and torch.allclose(out.sum(-1), torch.ones_like(out[..., 0])))


@register("02.1", NB, "implement one Nash-MD step", "function", S.nash_md_step)
def _check_md(answer, g: torch.Generator) -> str:
    cases = _step_cases(g, lambda beta, u: (0.2 + 0.8 * u) / beta)  # eta beta in [0.2, 1]
    properties = [("a distribution over the last dim", _distribution)]
    return function_check(answer, S.nash_md_step, cases, properties, what="nash_md_step")


@register("02.2", NB, "implement one Nash-MP iteration (two proximal steps)", "function", S.nash_mp_step)
def _check_mp(answer, g: torch.Generator) -> str:
    cases = _step_cases(g, lambda beta, u: 2 * beta * (0.25 + 0.75 * u))  # eta in [beta/2, 2 beta]
    properties = [("a distribution over the last dim", _distribution)]
    return function_check(answer, S.nash_mp_step, cases, properties, what="nash_mp_step")


@register("02.3", NB, "predict, then run: MWU's last iterate on rock-paper-scissors", "number",
          S.mwu_last_iterate_exploitability)
def _check_mwu(answer, g) -> str:
    return number_check(answer, S.mwu_last_iterate_exploitability(), rtol=0.01, what="exploitability of the last iterate",
                        hint="the last iterate pi_1000, not the running average")
