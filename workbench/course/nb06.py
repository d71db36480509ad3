"""Checks of notebook 06 (the LLM lab): the pieces of the trainers on plain tensors — the token-level geometric
mixture, RLOO's leave-one-out baseline and Nash-MD-PG's advantage. The references are the trainers' own
formulas (:mod:`workbench.llm.sampling`, :mod:`workbench.llm.rlhf`, :mod:`workbench.llm.nash_md_pg`)."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import Case, describe, function_check, register

NB = "06_llm_nash"


def _logp(g: torch.Generator, shape: tuple[int, ...], dtype=torch.float32) -> torch.Tensor:
    return torch.log_softmax(3 * torch.randn(shape, generator=g).to(dtype), -1)


@register("06.1", NB, "implement the token-level geometric mixture", "function", S.mixture_logprobs)
def _check_mixture(answer, g: torch.Generator) -> str:
    cases = []
    for shape in ((7,), (4, 11), (2, 3, 50)):
        m = float(torch.rand((), generator=g)) * 0.8 + 0.1
        cases.append(Case({"policy_logp": _logp(g, shape), "ref_logp": _logp(g, shape), "m": m},
                          f"log-probabilities of shape {shape} (vocabulary last), m = {m:.3g}"))
    lp = _logp(g, (3, 9))
    cases.append(Case({"policy_logp": lp, "ref_logp": _logp(g, (3, 9)), "m": 0.0}, "m = 0, shape (3, 9)"))
    properties = [
        ("normalized: logsumexp over the vocabulary (last dim) is 0",
         lambda kw, out: bool(torch.allclose(torch.logsumexp(out, -1), torch.zeros(()), atol=1e-5))),
        ("m = 0 gives the policy itself", lambda kw, out: kw["m"] != 0.0 or bool(torch.allclose(out, kw["policy_logp"], atol=1e-5))),
    ]
    return function_check(answer, S.mixture_logprobs, cases, properties, what="mixture_logprobs", rtol=1e-5, atol=1e-5)


@register("06.2", NB, "implement RLOO's leave-one-out baseline (the advantage)", "function", S.loo_advantage)
def _check_loo(answer, g: torch.Generator) -> str:
    cases = []
    for B, k in ((1, 2), (4, 4), (3, 7)):
        R = torch.randn(B, k, generator=g)
        cases.append(Case({"returns": R}, f"returns of shape ({B}, {k}) (B prompts, k samples each)"))
    const = torch.full((2, 5), 0.7)
    cases.insert(0, Case({"returns": const}, "equal returns 0.7 in every group of k = 5"))
    properties = [("equal returns in a group give zero advantage",
                   lambda kw, out: bool((kw["returns"] != kw["returns"][..., :1]).any() or torch.allclose(out, torch.zeros_like(out), atol=1e-6)))]
    return function_check(answer, S.loo_advantage, cases, properties, what="loo_advantage", rtol=1e-5, atol=1e-6)


@register("06.3", NB, "implement Nash-MD-PG's advantage", "function", S.pg_advantage)
def _check_pg(answer, g: torch.Generator) -> str:
    cases = []
    for B in (1, 6, 16):
        beta = float(torch.rand((), generator=g)) * 0.5 + 0.01
        kw = {"pref": torch.rand(B, generator=g), "logp": -5 * torch.rand(B, generator=g),
              "logp_ref": -5 * torch.rand(B, generator=g), "beta": beta}
        cases.append(Case(kw, describe((B,), beta=beta) + ", random preferences and log-probabilities"))
    z = torch.zeros(3)
    cases.insert(0, Case({"pref": torch.full((3,), 0.5), "logp": z - 1, "logp_ref": z - 1, "beta": 0.1},
                         "a tie P = 1/2 with pi(y) = mu(y)"))
    properties = [("a tie with pi(y) = mu(y) has zero advantage",
                   lambda kw, out: bool((kw["pref"] != 0.5).any() or (kw["logp"] != kw["logp_ref"]).any()
                                        or torch.allclose(out, torch.zeros_like(out))))]
    return function_check(answer, S.pg_advantage, cases, properties, what="pg_advantage", rtol=1e-5, atol=1e-6)
