"""Checks of notebook 03 (offline bandits): the BT log-likelihood on features, GSHF's pointwise pessimistic
reward, and the plug-in policy's suboptimality on the shipped sample CSV."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import Case, describe, function_check, number_check, register

NB = "03_offline_bandits"


@register("03.1", NB, "implement the BT negative log-likelihood with its ridge", "function", S.bt_nll)
def _check_nll(answer, g: torch.Generator) -> str:
    cases = []
    for batch, N, D in (((), 6, 3), ((4,), 20, 5), ((2, 3), 9, 2)):
        theta = torch.randn(*batch, D, generator=g, dtype=torch.float64)
        Z = torch.randn(*batch, N, D, generator=g, dtype=torch.float64) / D**0.5
        labels = (torch.rand(*batch, N, generator=g, dtype=torch.float64) < 0.6).double()
        lam = float(torch.rand((), generator=g)) * 2 + 0.1
        cases.append(Case({"theta": theta, "Z": Z, "labels": labels, "lam": lam},
                          describe(batch, N=N, D=D, lam=lam) + ", 0/1 labels"))
    soft = {**cases[1].kwargs, "labels": torch.rand(4, 20, generator=g, dtype=torch.float64)}
    cases.append(Case(soft, "batch shape (4,), soft labels in [0, 1]"))
    zero = {**cases[1].kwargs, "theta": torch.zeros(4, 5, dtype=torch.float64)}
    cases.insert(0, Case(zero, "theta = 0, batch shape (4,), N = 20"))
    properties = [("at theta = 0 every comparison costs log 2 whatever its label (and the ridge is 0)",
                   lambda kw, out: bool((kw["theta"] != 0).any())
                   or torch.allclose(out, torch.full_like(out, kw["Z"].shape[-2] * 0.6931471805599453)))]
    return function_check(answer, S.bt_nll, cases, properties, what="bt_nll")


@register("03.2", NB, "implement GSHF's pointwise pessimistic reward", "function", S.pessimistic_reward)
def _check_pess(answer, g: torch.Generator) -> str:
    cases = []
    for lead, D in (((8,), 3), ((10, 8), 4), ((2, 5, 6), 2)):
        A = torch.randn(D, D, generator=g, dtype=torch.float64)
        Sigma_inv = torch.linalg.inv(torch.eye(D, dtype=torch.float64) + A @ A.T * 5)
        gamma = float(torch.rand((), generator=g)) * 3 + 0.1
        kw = {"theta": torch.randn(D, generator=g, dtype=torch.float64),
              "phi": torch.randn(*lead, D, generator=g, dtype=torch.float64) / D**0.5,
              "nu": torch.randn(D, generator=g, dtype=torch.float64) * 0.2, "Sigma_inv": Sigma_inv, "gamma": gamma}
        cases.append(Case(kw, f"phi of shape {lead + (D,)}, gamma = {gamma:.3g}, a random Sigma^-1"))
    properties = [("never above the plug-in reward <theta, phi> (the bonus is subtracted)",
                   lambda kw, out: bool((out <= kw["phi"] @ kw["theta"] + 1e-12).all()))]
    return function_check(answer, S.pessimistic_reward, cases, properties, what="pessimistic_reward")


@register("03.3", NB, "the plug-in policy's suboptimality on the sample CSV", "number", S.sample_csv_plug_in_gap)
def _check_csv(answer, g) -> str:
    return number_check(answer, S.sample_csv_plug_in_gap(), rtol=0.01, what="the plug-in suboptimality",
                        hint="B.fit (lam = 1) on the loaded comparisons, B.plug_in, then env.gap of that policy")
