"""The machinery behind :func:`workbench.course.check`: verdicts, the registry, and the two kinds of check.

- :func:`function_check` calls the student's function and the reference on the same fresh random inputs
  (several games, betas, shapes, batch dimensions), first checks the type, shape and dtype of what came back,
  then named properties (a distribution sums to 1, a tie gives no tilt, ...), then the values; a failure names
  the property and describes the input, never the reference's output.
- :func:`number_check` compares a number with the reference's value within a tolerance and says only whether
  it is within it (and, if given, a hint about what to look at).

A check raises :class:`ExerciseFailed` (an ``AssertionError``, so nbgrader's autograder counts it as a failed
test) or :class:`NotAttempted` (a stub that was not filled in), and returns a :class:`Verdict` on success.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch

from workbench.device import make_generator

#: Statuses a verdict can carry (``grade`` prints them per exercise).
PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"


class ExerciseFailed(AssertionError):
    """A check failed: the message says which property failed on which input (never the expected answer)."""


class NotAttempted(ExerciseFailed):
    """The answer is still the stub (``None``, ``...`` or a function that raises ``NotImplementedError``)."""


@dataclass(frozen=True)
class Verdict:
    exercise: str
    status: str
    message: str

    def __str__(self) -> str:
        return f"Exercise {self.exercise} {self.status}: {self.message}"

    def _repr_pretty_(self, p, cycle):  # IPython shows the sentence, not the dataclass
        p.text(str(self))


@dataclass(frozen=True)
class Case:
    """One input of a function check: keyword arguments and a short description (shapes, beta, ...)."""

    kwargs: dict[str, Any]
    description: str


@dataclass(frozen=True)
class Exercise:
    """A registered exercise: ``id`` ("NN.k"), the notebook it belongs to, a title, what the answer is
    (``"function"`` or ``"number"``), the reference (a function of :mod:`workbench.course.solutions`, or a
    function of no arguments that computes the number), and ``run(answer, generator)`` which raises
    :class:`ExerciseFailed` or returns a success message."""

    id: str
    notebook: str
    title: str
    kind: str
    reference: Callable
    run: Callable[[Any, torch.Generator], str] = field(repr=False)


#: exercise id -> :class:`Exercise`; filled by the per-notebook modules ``workbench.course.nbNN``.
CHECKS: dict[str, Exercise] = {}


def register(id: str, notebook: str, title: str, kind: str, reference: Callable):
    """Decorator: register ``run(answer, generator) -> str`` as the check of exercise ``id``."""
    if kind not in ("function", "number"):
        raise ValueError(f"exercise {id}: kind must be 'function' or 'number'; got {kind!r}")

    def deco(run):
        if id in CHECKS:
            raise ValueError(f"exercise {id} is registered twice ({CHECKS[id].run.__module__} and {run.__module__})")
        CHECKS[id] = Exercise(id, notebook, title, kind, reference, run)
        return run

    return deco


def fresh_generator(seed: int | None = None) -> torch.Generator:
    """A CPU generator seeded by ``seed``, or from the OS when ``None`` (fresh inputs on every call)."""
    return make_generator(int.from_bytes(os.urandom(8), "little") >> 1 if seed is None else seed)


def _is_stub(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _type_name(x: Any) -> str:
    t = type(x)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"


def expect_tensor(out: Any, ref: torch.Tensor, what: str, case: Case) -> None:
    """Raise :class:`ExerciseFailed` unless ``out`` is a tensor with ``ref``'s shape and dtype."""
    __tracebackhide__ = True
    if out is None:
        raise NotAttempted(f"{what} returned None on input {case.description}: the stub is still in place, or a "
                           f"`return` is missing (expected a torch.Tensor of shape {tuple(ref.shape)})")
    if not isinstance(out, torch.Tensor):
        raise ExerciseFailed(f"{what} returned a {_type_name(out)} on input {case.description}; expected a "
                             f"torch.Tensor of shape {tuple(ref.shape)} and dtype {ref.dtype} (use torch operations on "
                             "the input tensors, not numpy or Python floats)")
    if out.shape != ref.shape:
        raise ExerciseFailed(f"{what} returned shape {tuple(out.shape)} on input {case.description}; expected "
                             f"{tuple(ref.shape)} (keep the leading batch dimensions; reduce over the right dim)")
    if out.dtype != ref.dtype:
        raise ExerciseFailed(f"{what} returned dtype {out.dtype} on input {case.description}; expected {ref.dtype}, "
                             "the dtype of the inputs (do not convert)")
    if not bool(torch.isfinite(out).all()) and bool(torch.isfinite(ref).all()):
        raise ExerciseFailed(f"{what} returned NaN or inf on input {case.description}; every entry should be finite")


def _call(answer: Callable, case: Case, what: str):
    __tracebackhide__ = True
    try:
        return answer(**case.kwargs)
    except NotImplementedError as exc:
        raise NotAttempted(f"{what} is still the stub (it raised NotImplementedError); fill in its body") from exc
    except ExerciseFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of the student's code is reported, with its input
        raise ExerciseFailed(f"{what} raised {type(exc).__name__}: {exc} on input {case.description}") from exc


def function_check(
    answer: Any,
    reference: Callable,
    cases: Iterable[Case],
    properties: Iterable[tuple[str, Callable[[dict, torch.Tensor], bool]]] = (),
    what: str = "your function",
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> str:
    """Compare ``answer(**kwargs)`` with ``reference(**kwargs)`` on every case; the success message.

    ``properties``: ``(name, holds(kwargs, out))`` pairs tested on the student's output before the values, so a
    failure can say *which* property fails (e.g. "sums to 1 over the last dim"). A student output that equals
    the reference's passes every property by construction (each property holds for the reference; the tests
    check that too).
    """
    __tracebackhide__ = True
    if _is_stub(answer):
        raise NotAttempted(f"{what} is still the stub (None); define it in the cell above")
    if not callable(answer):
        raise ExerciseFailed(f"expected a function (pass its name without calling it); got a {_type_name(answer)}")
    cases, properties = list(cases), list(properties)
    for case in cases:
        ref = reference(**case.kwargs)
        out = _call(answer, case, what)
        expect_tensor(out, ref, what, case)
        for name, holds in properties:
            if not holds(case.kwargs, out):
                raise ExerciseFailed(f"{what} breaks the property '{name}' on input {case.description}")
        if not torch.allclose(out, ref, rtol=rtol, atol=atol):
            diff = (out - ref).abs()
            where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape)) if diff.dim() else ()
            raise ExerciseFailed(f"{what} gives a wrong value on input {case.description} (at index {where}; the "
                                 "properties checked so far hold): recheck the formula, a sign or a factor")
    checked = f" (properties checked first: {'; '.join(name for name, _ in properties)})" if properties else ""
    return f"{what} matches the reference on {len(cases)} fresh random inputs{checked}"


def number_check(answer: Any, expected: float, rtol: float = 0.02, atol: float = 0.0, what: str = "your number",
                 hint: str = "") -> str:
    """Accept a Python or 0-d tensor number within ``rtol`` (relative) / ``atol`` of ``expected``; the message."""
    __tracebackhide__ = True
    if _is_stub(answer):
        raise NotAttempted(f"{what} is still the stub (None); assign your number to it")
    if isinstance(answer, torch.Tensor):
        if answer.numel() != 1:
            raise ExerciseFailed(f"{what} is a tensor of shape {tuple(answer.shape)}; expected one number "
                                 "(use .item() on a one-element tensor)")
        answer = answer.item()
    if isinstance(answer, bool) or not isinstance(answer, (int, float)) and not hasattr(answer, "__float__"):
        raise ExerciseFailed(f"{what} is a {_type_name(answer)}; expected a number (int or float)")
    value = float(answer)
    if not math.isfinite(value):
        raise ExerciseFailed(f"{what} is {value}; expected a finite number")
    if not math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        tol = f"{rtol:.0%} relative" if rtol else f"{atol:g} absolute"
        raise ExerciseFailed(f"{what} = {value:.4g} is not within {tol} of the expected value" + (f"; {hint}" if hint else ""))
    return f"{what} = {value:.4g} is within tolerance"


def run_check(exercise_id: str, answer: Any, seed: int | None = None) -> Verdict:
    """Run one exercise's check; raise :class:`ExerciseFailed` / :class:`NotAttempted`, or return the verdict."""
    __tracebackhide__ = True
    if exercise_id not in CHECKS:
        known = ", ".join(sorted(CHECKS))
        raise KeyError(f"no exercise {exercise_id!r}; known exercises: {known}")
    ex = CHECKS[exercise_id]
    try:
        message = ex.run(answer, fresh_generator(seed))
    except NotAttempted as exc:
        raise NotAttempted(f"Exercise {exercise_id} not attempted: {exc}") from None
    except ExerciseFailed as exc:  # keeps the student's own error (if any) as the cause, for its traceback
        raise ExerciseFailed(f"Exercise {exercise_id} failed: {exc}") from exc.__cause__
    return Verdict(exercise_id, PASSED, message)


#: Batch shapes every tabular function check runs on: unbatched, one batch dim, two batch dims.
BATCH_SHAPES = ((), (5,), (2, 3))


def random_game_tensors(g: torch.Generator, batch: tuple[int, ...], n: int, beta_range=(0.05, 2.0),
                        dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Random ``P (*B, n, n)`` (``P + P^T = 1``), a positive ``mu`` and ``pi`` (*B, n) and ``beta`` (*B,)
    log-uniform in ``beta_range``, all drawn from ``g``."""
    U = torch.rand(*batch, n, n, generator=g, dtype=dtype)
    P = 0.5 + (U - U.transpose(-1, -2)) / 2

    def simplex():
        e = -torch.log(torch.rand(*batch, n, generator=g, dtype=dtype).clamp_min(1e-12)) + 0.05
        return e / e.sum(-1, keepdim=True)

    lo, hi = math.log(beta_range[0]), math.log(beta_range[1])
    beta = torch.exp(lo + (hi - lo) * torch.rand(batch, generator=g, dtype=dtype))
    return {"P": P, "mu": simplex(), "beta": beta, "pi": simplex()}


def describe(batch: tuple[int, ...], n: int | None = None, **extra) -> str:
    """``"batch (5,), n = 4, beta in [0.06, 1.9]"``: the words a failure message uses for an input."""
    parts = [f"batch shape {batch}" if batch else "no batch dimension"]
    if n is not None:
        parts.append(f"n = {n}")
    for k, v in extra.items():
        if isinstance(v, torch.Tensor) and v.numel() > 1:
            parts.append(f"{k} in [{v.min().item():.3g}, {v.max().item():.3g}]")
        else:
            parts.append(f"{k} = {float(v):.3g}")
    return ", ".join(parts)
