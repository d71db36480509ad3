"""Checks of notebook 01 (preference games): the 2x2 closed form, the regularized exploitability, and three
numbers read off the equilibrium path and the BT fit."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import (
    BATCH_SHAPES, Case, describe, function_check, number_check, random_game_tensors, register,
)

NB = "01_preference_games"


@register("01.1", NB, "closed form: the regularized equilibrium of a 2x2 game", "function", S.equilibrium_2x2)
def _check_2x2(answer, g: torch.Generator) -> str:
    cases = []
    for batch in BATCH_SHAPES:
        p = torch.rand(batch, generator=g, dtype=torch.float64)
        mu0 = 0.05 + 0.9 * torch.rand(batch, generator=g, dtype=torch.float64)
        beta = torch.exp(torch.empty(batch, dtype=torch.float64).uniform_(-3, 1, generator=g))
        cases.append(Case({"p": p, "mu0": mu0, "beta": beta}, describe(batch, p=p, mu0=mu0, beta=beta)))
    half = torch.full((4,), 0.5, dtype=torch.float64)
    mu0 = torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=torch.float64)
    tie = Case({"p": half, "mu0": mu0, "beta": torch.full((4,), 0.2, dtype=torch.float64)}, "a tie p = 1/2, beta = 0.2")
    properties = [
        ("a probability in (0, 1)", lambda kw, out: bool(((out > 0) & (out < 1)).all())),
        ("no preference (p = 1/2) leaves pi* = mu", lambda kw, out: bool((kw["p"] != 0.5).any() or torch.allclose(out, kw["mu0"]))),
        ("pi*(y0) > mu0 exactly when y0 is preferred (p > 1/2)",
         lambda kw, out: bool((((out > kw["mu0"]) == (kw["p"] > 0.5)) | (kw["p"] == 0.5)).all())),
    ]
    return function_check(answer, S.equilibrium_2x2, [tie, *cases], properties, what="equilibrium_2x2")


@register("01.2", NB, "implement the regularized exploitability", "function", S.regularized_exploitability)
def _check_reg_expl(answer, g: torch.Generator) -> str:
    from workbench.games import PreferenceGame, solve

    cases = []
    for batch, n in zip(BATCH_SHAPES, (3, 6, 4)):
        kw = random_game_tensors(g, batch, n)
        cases.append(Case(kw, describe(batch, n, beta=kw["beta"]) + ", a random pi"))
    kw = random_game_tensors(g, (4,), 5)
    kw["pi"] = solve(PreferenceGame(kw["P"], kw["mu"], kw["beta"]))
    cases.append(Case(kw, "pi = the regularized equilibrium of 4 random games (n = 5)"))
    properties = [("zero at the regularized equilibrium, >= 0 elsewhere",
                   lambda kw, out: bool((out > -1e-9).all()))]
    return function_check(answer, S.regularized_exploitability, cases, properties, what="regularized_exploitability",
                          atol=1e-8)


@register("01.3", NB, "predict, then run: the exploitability of pi*_0.3 on the skewed RPS", "number",
          S.rps_exploitability_at_beta_03)
def _check_rps_03(answer, g) -> str:
    return number_check(answer, S.rps_exploitability_at_beta_03(), rtol=0.01, what="exploitability of pi*_0.3",
                        hint="the unregularized exploitability max_y P(y ≻ pi) - 1/2 of the beta = 0.3 equilibrium")


@register("01.4", NB, "the beta at which KL(pi*_beta || mu) = 0.1", "number", S.beta_at_kl_01)
def _check_beta_kl(answer, g) -> str:
    return number_check(answer, S.beta_at_kl_01(), rtol=0.05, what="beta",
                        hint="KL(pi* || mu) (pi* first) falls as beta grows; interpolate in log beta")


@register("01.5", NB, "the BT fit on mu-weighted comparisons and its RLHF policy", "number",
          S.mu_weighted_bt_exploitability)
def _check_mu_bt(answer, g) -> str:
    return number_check(answer, S.mu_weighted_bt_exploitability(), rtol=0.01, what="exploitability",
                        hint="fit with weights='mu', then the Gibbs policy at beta = 0.1, then max_y P(y ≻ pi) - 1/2")
