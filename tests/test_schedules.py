"""Step-size schedules: hand-computed values, labels, validation, device/dtype following beta."""

import math

import numpy as np
import pytest
import torch

from workbench import schedules as S

BETA = torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64)


def test_nash_md_theory_values_by_hand():
    s = S.nash_md_theory()
    # eta_t = 2 / (beta (t + 2)): t = 0 gives 1/beta, t = 3 gives 2 / (5 beta)
    torch.testing.assert_close(s(0, BETA), torch.tensor([10.0, 2.0, 0.5], dtype=torch.float64), rtol=0, atol=1e-15)
    torch.testing.assert_close(s(3, BETA), torch.tensor([4.0, 0.8, 0.2], dtype=torch.float64), rtol=0, atol=1e-15)
    assert (s(0, BETA) * BETA == 1).all()  # eta_0 beta = 1 exactly, as Theorem 1 needs
    assert s.label == "2/(beta(t+2))" and s.varies_with_t and s.needs_positive_beta


def test_two_beta_and_constant_values_by_hand():
    s = S.two_beta()
    torch.testing.assert_close(s(0, BETA), torch.tensor([0.2, 1.0, 4.0], dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(s(7, BETA), s(0, BETA), rtol=0, atol=0)
    assert s.label == "2beta" and not s.varies_with_t
    c = S.constant(0.3)
    torch.testing.assert_close(c(5, BETA), torch.full((3,), 0.3, dtype=torch.float64), rtol=0, atol=0)
    assert c.label == "0.3" and not c.varies_with_t and not c.needs_positive_beta


def test_inverse_beta_cap_clips_to_one_over_beta():
    s = S.inverse_beta_cap(1.0)  # min(1, 1/beta): 1, 1, 0.5
    torch.testing.assert_close(s(0, BETA), torch.tensor([1.0, 1.0, 0.5], dtype=torch.float64), rtol=0, atol=0)
    assert s.label == "min(1, 1/beta)" and not s.varies_with_t
    capped = S.inverse_beta_cap(S.nash_md_theory())  # already eta_t beta <= 1: unchanged, bit for bit
    for t in (0, 1, 10):
        assert torch.equal(capped(t, BETA), S.nash_md_theory()(t, BETA))
    assert capped.varies_with_t and capped.needs_positive_beta
    # beta = 0 leaves a constant step as it is (1/beta clamped at 1e12)
    assert S.inverse_beta_cap(0.4)(0, torch.zeros(2)).tolist() == pytest.approx([0.4, 0.4])


def test_generic_constructors_and_equality():
    assert S.InverseTime(scale=1.0, offset=1.0)(4, 0.5).item() == pytest.approx(1 / (0.5 * 5))
    assert S.BetaMultiple(3.0)(0, 0.25).item() == 0.75 and S.BetaMultiple(3.0).label == "3beta"
    assert S.nash_md_theory() == S.nash_md_theory() and hash(S.two_beta()) == hash(S.two_beta())
    assert S.constant(0.1) != S.constant(0.2)
    assert str(S.nash_md_theory()) == "2/(beta(t+2))"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [lambda: S.constant(0.3), S.nash_md_theory, S.two_beta, lambda: S.inverse_beta_cap(0.7)])
def test_value_follows_beta_shape_dtype_device(make, dtype):
    beta = torch.full((2, 3), 0.25, dtype=dtype)
    out = make()(2, beta)
    assert out.shape == (2, 3) and out.dtype == dtype and out.device == beta.device
    assert make()(2, 0.25).dtype == torch.float64 and make()(2, 0.25).shape == ()  # a plain float beta works too


def test_as_schedule_accepts_numbers_and_schedules():
    assert S.as_schedule(0.5) == S.Constant(0.5)
    assert S.as_schedule(2) == S.Constant(2.0)  # ints become floats
    assert S.as_schedule(np.float32(0.25)) == S.Constant(0.25)
    assert S.as_schedule(torch.tensor(0.5)) == S.Constant(0.5)
    sched = S.nash_md_theory()
    assert S.as_schedule(sched) is sched


@pytest.mark.parametrize("bad", [0, -0.1, math.nan, math.inf, -math.inf, True, None, [0.1], "0.1"])
def test_as_schedule_refuses_bad_numbers_naming_owner_and_value(bad):
    with pytest.raises(ValueError, match=r"^MyTrainer: eta must be a positive") as err:
        S.as_schedule(bad, "MyTrainer")
    assert repr(bad if not isinstance(bad, int) or isinstance(bad, bool) else float(bad)) in str(err.value)


@pytest.mark.parametrize("word,ctor", [("theory", "nash_md_theory()"), ("2beta", "two_beta()")])
def test_removed_strings_point_to_their_constructor(word, ctor):
    with pytest.raises(ValueError, match=f"Nash-MD: eta='{word}' is no longer accepted; pass eta=") as err:
        S.as_schedule(word, "Nash-MD")
    assert f"workbench.schedules.{ctor}" in str(err.value)


def test_plain_callables_are_refused_with_the_way_to_subclass():
    with pytest.raises(ValueError, match="subclass it for a custom step"):
        S.as_schedule(lambda t, beta: 0.1, "OMD")


@pytest.mark.parametrize("build", [lambda: S.Constant(0.0), lambda: S.InverseTime(scale=-1.0, offset=2.0),
                                   lambda: S.InverseTime(scale=2.0, offset=math.nan), lambda: S.BetaMultiple(math.inf),
                                   lambda: S.InverseBetaCap(0.1)])
def test_schedule_constructors_validate(build):
    with pytest.raises(ValueError, match=r"(Constant|InverseTime|BetaMultiple|InverseBetaCap)\("):
        build()


def test_custom_schedule_by_subclassing():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Halving(S.Schedule):
        eta0: float = 1.0
        label = "halving"

        def __call__(self, t, beta):
            return torch.full_like(torch.as_tensor(beta, dtype=torch.float64), self.eta0 * 0.5**t)

    s = S.as_schedule(Halving())
    assert s(3, BETA).tolist() == [0.125] * 3 and s.varies_with_t and str(s) == "halving"
