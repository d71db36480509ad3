'''Course mode: exercises a student can check alone, and student / instructor copies of the notebooks.

``check(exercise_id, answer)`` compares a student's function or number with the reference in
:mod:`workbench.course.solutions` on fresh random inputs (several games, betas, shapes, batch dimensions). On
success it returns a :class:`Verdict` ("Exercise 01.1 passed: ..."); on failure it raises
:class:`ExerciseFailed` (an ``AssertionError``) saying which property failed on which input, never the
answer; a stub still in place raises :class:`NotAttempted`. ``CHECKS`` maps every exercise id to its
:class:`Exercise`; there is one module of checks per notebook (``workbench/course/nb01.py`` ... ``nb06.py``).

``python -m workbench.course build --out DIR`` writes ``DIR/student/`` (solutions replaced by stubs with
nbgrader's own ``ClearSolutions`` preprocessor, outputs cleared) and ``DIR/instructor/`` (the notebooks as
they are, outputs cleared); ``python -m workbench.course grade DIR/student`` runs every copy (papermill) and
prints passed / failed / not attempted per notebook and exercise (exit 1 when any check fails).

How a notebook adds an exercise (the conventions ``build``, ``grade``, the reports and nbgrader rely on)
------------------------------------------------------------------------------------------------------
Exercise ids are ``"NN.k"``: ``NN`` the notebook's number, ``k`` counting from 1 within it.

1. **The check** (in the package, before the notebook uses it): a function in ``workbench/course/nbNN.py``
   decorated with ``@register("NN.k", NB, "title", "function" | "number", reference)``, where
   ``reference`` is a function of :mod:`workbench.course.solutions`. A function check builds a few
   :class:`~workbench.course.core.Case` inputs from the generator it is given (batch shapes
   ``core.BATCH_SHAPES``, random games from ``core.random_game_tensors``) and returns
   ``core.function_check(answer, reference, cases, properties, what="fn_name")``; a number check returns
   ``core.number_check(answer, reference(), rtol=..., hint=...)``. ``tests/test_course_checks.py`` must
   list at least two plausible wrong answers for it (``WRONG["NN.k"]``), or that test fails.
2. **The task**: a markdown cell ``### Exercise NN.k · title`` saying what to write, with the signature and
   the shapes.
3. **The answer cell**: a code cell tagged ``solution`` with the nbgrader metadata
   ``{"nbgrader": {"solution": true, "grade": false, "locked": false, "grade_id": "exNN_k_answer",
   "schema_version": 3}}``. A function answer keeps its ``def`` line and docstring outside the markers and
   puts the body between them::

       def nash_md_step(P, mu, beta, pi, eta):
           """One Nash-MD step; P (*B, n, n), mu and pi (*B, n), beta and eta (*B,) -> (*B, n)."""
           ### BEGIN SOLUTION
           ...reference code...
           ### END SOLUTION

   A number answer starts with ``answer_NN_k = None`` and computes it between the markers. The student
   copy replaces each marked region by ``# YOUR CODE HERE`` (so a function with its docstring still parses
   and returns ``None``, which the check reports as not attempted).
4. **The check cell**, right after: a code cell tagged ``check`` with the nbgrader metadata
   ``{"nbgrader": {"grade": true, "grade_id": "exNN_k", "points": 1, "locked": true, "solution": false,
   "schema_version": 3}}`` and the one line ``check("NN.k", nash_md_step)`` (``from workbench.course
   import check`` once in the imports cell). ``grade`` finds exercises by this cell's ``grade_id``.
5. **Open exercises** (predict and explain, no check): the markdown task and a ``solution``-tagged cell
   with the same nbgrader solution metadata (``grade_id`` ``exNN_k_answer``) and the code between the
   markers; the student copy gets the stub, the reports fold it under "Show solution".

Every cell tagged ``solution`` is folded in the HTML reports behind a collapsed "Show solution".
'''

from __future__ import annotations

from typing import Any

from workbench.course.core import CHECKS, Exercise, ExerciseFailed, NotAttempted, Verdict, run_check
from workbench.course import nb01, nb02, nb03, nb04, nb05, nb06  # noqa: F401,E402 - register the checks

__all__ = ["CHECKS", "Exercise", "ExerciseFailed", "NotAttempted", "Verdict", "check"]


def check(exercise_id: str, answer: Any, *, seed: int | None = None) -> Verdict:
    """Check ``answer`` (a function or a number) for exercise ``exercise_id`` ("01.1"); the verdict.

    Raises :class:`ExerciseFailed` naming the property that failed and the input it failed on, or
    :class:`NotAttempted` for a stub; ``seed`` fixes the random inputs (default: fresh ones every call).
    """
    __tracebackhide__ = True
    return run_check(exercise_id, answer, seed)
