"""Checks of notebook 05 (preference models): expected accuracy against a known truth, the best-BT ceiling of a
pure cycle (closed form), and the length baseline of the shipped real-format samples."""

from __future__ import annotations

import torch

from workbench.course import solutions as S
from workbench.course.core import Case, describe, function_check, number_check, register

NB = "05_preference_models"


@register("05.1", NB, "implement the expected accuracy against a known truth", "function", S.expected_accuracy)
def _check_acc(answer, g: torch.Generator) -> str:
    cases = []
    for batch, N in (((), 7), ((4,), 30), ((2, 3), 12)):
        p_hat = torch.rand(*batch, N, generator=g, dtype=torch.float64)
        p_hat[..., 0] = 0.5  # a tie in every row
        cases.append(Case({"p_hat": p_hat, "P": torch.rand(*batch, N, generator=g, dtype=torch.float64)},
                          describe(batch, N=N) + ", one tie p_hat = 1/2 per row"))
    ties = torch.full((3, 5), 0.5, dtype=torch.float64)
    cases.insert(0, Case({"p_hat": ties, "P": torch.rand(3, 5, generator=g, dtype=torch.float64)}, "every p_hat = 1/2 (all ties), shape (3, 5)"))
    properties = [("between 0 and 1", lambda kw, out: bool(((out >= 0) & (out <= 1)).all())),
                  ("a tie scores 1/2 whatever the truth", lambda kw, out: bool((kw["p_hat"] != 0.5).any())
                   or bool(torch.allclose(out, torch.full_like(out, 0.5))))]
    return function_check(answer, S.expected_accuracy, cases, properties, what="expected_accuracy")


@register("05.2", NB, "closed form: the best-BT ceiling of a pure 3-cycle", "function", S.bt_ceiling_cycle)
def _check_ceiling(answer, g: torch.Generator) -> str:
    cases = []
    for batch in ((), (6,), (2, 4)):
        s = torch.rand(batch, generator=g, dtype=torch.float64) * 8
        cases.append(Case({"s": s}, describe(batch, s=s)))
    cases.insert(0, Case({"s": torch.zeros(3, dtype=torch.float64)}, "s = 0 (coin flips)"))
    properties = [("s = 0 (every pair a coin flip) gives 1/2", lambda kw, out: bool((kw["s"] != 0).any())
                   or bool(torch.allclose(out, torch.full_like(out, 0.5)))),
                  ("never above the Bayes ceiling sigma(s)", lambda kw, out: bool((out <= torch.sigmoid(kw["s"]) + 1e-12).all()))]
    return function_check(answer, S.bt_ceiling_cycle, cases, properties, what="bt_ceiling_cycle")


@register("05.3", NB, "the length baseline on the real-format samples", "number", S.length_baseline_accuracy)
def _check_length(answer, g) -> str:
    return number_check(answer, S.length_baseline_accuracy(), rtol=0.005, what="the length baseline's accuracy",
                        hint="all records of the four files of real_files (not a split); labels may be soft")
