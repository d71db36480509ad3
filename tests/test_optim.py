"""workbench.optim: hand-computed Armijo steps, damped Newton on convex problems with closed-form minimizers."""

import pytest
import torch

from workbench.device import make_generator
from workbench.optim import backtracking, newton_step

F64 = torch.float64


def pseudo_huber(x):
    """``f(x) = sum sqrt(1 + x^2)``: convex, minimum 0 at 0, and the full Newton step overshoots for |x| >= 1."""
    return torch.sqrt(1 + x * x).sum(-1)  # (*B,)


def test_backtracking_hand_computed_steps():
    # 1-D pseudo-Huber: f' = x / sqrt(1+x^2), f'' = (1+x^2)^(-3/2), Newton step d = -x (1 + x^2).
    # x = 1: d = -2, t = 1 lands on -1 (same f, rejected), t = 1/2 lands on 0 (accepted).
    # x = 2: d = -10, t = 1 -> -8, t = 1/2 -> -3 (both worse), t = 1/4 -> -1/2 (accepted).
    # x = 0.1: d = -0.101, t = 1 -> -0.001 (accepted).
    x = torch.tensor([[1.0], [2.0], [0.1]], dtype=F64)  # (B, 1)
    d = -x * (1 + x * x)
    slope = (x / torch.sqrt(1 + x * x) * d).sum(-1)  # (B,)
    ls = backtracking(pseudo_huber, x, d, pseudo_huber(x), slope)
    assert ls.t.tolist() == [0.5, 0.25, 1.0]
    torch.testing.assert_close(ls.x, torch.tensor([[0.0], [-0.5], [-0.001]], dtype=F64), atol=1e-15, rtol=0)
    torch.testing.assert_close(ls.f, pseudo_huber(ls.x), atol=0, rtol=0)
    assert ls.ok.all() and ls.evaluations == 3 and ls.aux == ()


def test_inactive_problems_do_not_move_and_aux_is_returned():
    x = torch.tensor([[1.0], [2.0]], dtype=F64)
    d = -x * (1 + x * x)
    slope = (x / torch.sqrt(1 + x * x) * d).sum(-1)
    active = torch.tensor([False, True])
    ls = backtracking(lambda y: (pseudo_huber(y), 2 * y), x, d, pseudo_huber(x), slope, active=active)
    assert ls.t.tolist() == [0.0, 0.25]
    assert ls.x[0].item() == 1.0 and ls.ok.all()
    torch.testing.assert_close(ls.aux[0], 2 * ls.x, atol=0, rtol=0)


def test_first_step_retraction_and_exhaustion():
    # t0 per problem is the first step tried; the retraction maps every candidate (here: projection to x >= 0.5)
    x = torch.tensor([[2.0]], dtype=F64)
    d = torch.tensor([[-10.0]], dtype=F64)
    slope = (x / torch.sqrt(1 + x * x) * d).sum(-1)
    ls = backtracking(pseudo_huber, x, d, pseudo_huber(x), slope, t0=torch.tensor([0.125], dtype=F64),
                      retract=lambda y: y.clamp_min(0.5))
    assert ls.t.item() == 0.125 and ls.x.item() == 0.75  # 2 - 1.25 = 0.75, not clamped
    ls = backtracking(pseudo_huber, x, d, pseudo_huber(x), slope, retract=lambda y: y.clamp_min(0.5))
    assert ls.t.item() == 1.0 and ls.x.item() == 0.5  # 2 - 10 clamped to 0.5 is already a decrease
    # an ascent direction never passes Armijo: after max_halvings evaluations ok is False and the last
    # candidate (t = 2^-(k-1)) is returned for the caller to reject
    ls = backtracking(pseudo_huber, x, -d, pseudo_huber(x), -slope, max_halvings=4)
    assert not ls.ok.any() and ls.evaluations == 4 and ls.t.item() == 0.125
    # ... unless f is flat to within flat_tol there
    ls = backtracking(pseudo_huber, x, -d, pseudo_huber(x), -slope, max_halvings=4, flat_tol=1e3)
    assert ls.ok.all() and ls.t.item() == 1.0


def test_bad_arguments_name_the_value():
    x = torch.zeros(1, 1, dtype=F64)
    with pytest.raises(ValueError, match="c must lie in \\(0, 1\\).*got 1.5"):
        backtracking(pseudo_huber, x, x, pseudo_huber(x), pseudo_huber(x), c=1.5)
    with pytest.raises(ValueError, match="max_halvings must be >= 1; got 0"):
        backtracking(pseudo_huber, x, x, pseudo_huber(x), pseudo_huber(x), max_halvings=0)


def damped_newton(b, x, iters):
    """Minimize ``f(x) = sum exp(x) - <b, x>`` (minimizer ``log b``) with the shared step and line search."""
    f_of = lambda y: (y.exp() - b * y).sum(-1)  # noqa: E731  (*B,)
    f = f_of(x)
    history = []
    for _ in range(iters):
        grad = x.exp() - b  # (*B, n)
        H = torch.diag_embed(x.exp())  # (*B, n, n)
        d = newton_step(H, grad)
        ls = backtracking(f_of, x, d, f, (grad * d).sum(-1), c=1e-4)
        x, f = ls.x, ls.f
        history.append((x - b.log()).abs().amax().item())
    return x, history


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_damped_newton_reaches_the_closed_form_minimizer(dtype):
    b = torch.tensor([[0.5, 2.0, 30.0], [1e-3, 1.0, 1e3]], dtype=dtype)  # (B, n)
    x, history = damped_newton(b, torch.full_like(b, 3.0), 40)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(x, b.log(), atol=tol, rtol=0)
    # quadratic convergence at the end: the error is at least squared from one step to the next
    errs = [e for e in history if e > (1e-14 if dtype == torch.float64 else 1e-6)]
    assert errs[-1] < 10 * errs[-2] ** 2 or errs[-1] < tol


def test_newton_step_on_a_quadratic_is_exact():
    # f(x) = 1/2 x^T A x - c^T x: one full Newton step from anywhere lands on A^-1 c, and Armijo (c < 1/2) takes t = 1
    g = make_generator(0)
    M = torch.randn(3, 4, 4, generator=g, dtype=F64)
    A = M @ M.transpose(-1, -2) + 4 * torch.eye(4, dtype=F64)  # (B, n, n) SPD
    cvec = torch.randn(3, 4, generator=g, dtype=F64)
    x0 = torch.randn(3, 4, generator=g, dtype=F64)
    f_of = lambda y: 0.5 * (y * (A @ y[..., None])[..., 0]).sum(-1) - (cvec * y).sum(-1)  # noqa: E731
    grad = (A @ x0[..., None])[..., 0] - cvec
    d = newton_step(A, grad)
    ls = backtracking(f_of, x0, d, f_of(x0), (grad * d).sum(-1), c=0.25)
    assert (ls.t == 1).all()
    torch.testing.assert_close(ls.x, torch.linalg.solve(A, cvec), atol=1e-12, rtol=0)
    # the decrease is exactly half the Newton decrement: f(x0) - f(x*) = 1/2 g^T A^-1 g
    torch.testing.assert_close(f_of(x0) - ls.f, -0.5 * (grad * d).sum(-1), atol=1e-12, rtol=0)
    assert ls.evaluations == 1


@pytest.mark.gpu
def test_cuda_matches_cpu():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    b = torch.tensor([[0.5, 2.0, 30.0], [1e-3, 1.0, 1e3]], dtype=F64)
    x_cpu, _ = damped_newton(b, torch.full_like(b, 3.0), 40)
    x_gpu, _ = damped_newton(b.cuda(), torch.full_like(b, 3.0).cuda(), 40)
    assert x_gpu.device.type == "cuda"
    torch.testing.assert_close(x_gpu.cpu(), x_cpu, atol=1e-12, rtol=0)
