"""Checks of notebook 04 (online bandits): GSHF's uncertainty of a policy, exploit-only's final gap when the
reference no longer hides the good action, and the enhancer's with a narrow uncertainty budget."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import Case, function_check, number_check, register

NB = "04_online_bandits"


def _simplex(g, *shape):
    e = -torch.log(torch.rand(*shape, generator=g, dtype=torch.float64).clamp_min(1e-12)) + 0.05
    return e / e.sum(-1, keepdim=True)


@register("04.1", NB, "implement GSHF's uncertainty Gamma(pi)", "function", S.gshf_uncertainty)
def _check_gamma(answer, g: torch.Generator) -> str:
    cases = []
    for batch, K, n, D in (((), 3, 4, 2), ((5,), 10, 8, 4), ((2, 3), 4, 6, 3)):
        A = torch.randn(*batch, D, D, generator=g, dtype=torch.float64)
        Sigma_inv = torch.linalg.inv(torch.eye(D, dtype=torch.float64) + A @ A.transpose(-1, -2) * 3)
        gamma = float(torch.rand((), generator=g)) * 2 + 0.2
        kw = {"phi": torch.randn(K, n, D, generator=g, dtype=torch.float64) / D**0.5, "pi": _simplex(g, *batch, K, n),
              "pi_main": _simplex(g, *batch, K, n), "Sigma_inv": Sigma_inv, "gamma": gamma}
        desc = f"batch shape {batch}, K = {K} contexts, n = {n} actions, D = {D}, gamma = {gamma:.3g}"
        cases.append(Case(kw, desc))
    same = dict(cases[1].kwargs, pi=cases[1].kwargs["pi_main"])
    cases.insert(0, Case(same, "pi = pi_main (batch shape (5,), K = 10, n = 8, D = 4)"))
    properties = [("zero when pi = pi_main (no new direction)", lambda kw, out: not torch.equal(kw["pi"], kw["pi_main"])
                   or bool(torch.allclose(out, torch.zeros_like(out)))),
                  ("non-negative", lambda kw, out: bool((out >= 0).all()))]
    return function_check(answer, S.gshf_uncertainty, cases, properties, what="gshf_uncertainty")


@register("04.2", NB, "predict, then run: exploit-only with a reference that covers the good action", "number",
          S.exploit_gap_at_ref_mass_02)
def _check_exploit(answer, g) -> str:
    return number_check(answer, S.exploit_gap_at_ref_mass_02(), rtol=0.02, what="exploit-only's final gap",
                        hint="hidden_good_actions(..., ref_mass=0.2, seed=0), online_curves with n_seeds=4, "
                             "then sm.final_means(frame, 'gap')['exploit']")


@register("04.3", NB, "break an assumption: a narrow uncertainty budget", "number", S.enhancer_gap_at_gamma_01)
def _check_narrow(answer, g) -> str:
    return number_check(answer, S.enhancer_gap_at_gamma_01(), rtol=0.02, what="the enhancer's final gap at gamma = 0.1",
                        hint="Run 1's instance (ref_mass 0.01), online_curves with gamma=0.1 and n_seeds=4, then "
                             "sm.final_means(frame, 'gap')['enhancer']")
