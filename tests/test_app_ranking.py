"""The meta-game ranking ("Nash averaging", Balduzzi et al. 2018) and the regularized win-rate matrix of
workbench.llm.evaluation, against hand-solved cases; a planted wrong solver fails them."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.games import SolverError, solve_unregularized
from workbench.llm import evaluation as V


def frame(W, names):
    return pd.DataFrame(np.asarray(W, dtype=float), index=names, columns=names)


def rps(s=0.9):
    """Rock, paper, scissors: each beats the next with probability s."""
    return np.array([[0.5, 1 - s, s], [s, 0.5, 1 - s], [1 - s, s, 0.5]])


def with_strategies(W, M):
    """The win-rate matrix of new policies that are the mixtures M (rows) of the old ones: 1/2 + M A M^T."""
    return 0.5 + M @ (W - 0.5) @ M.T


def bt(r):
    r = np.asarray(r, dtype=float)
    return 1 / (1 + np.exp(-(r[:, None] - r[None, :])))


# hand-solved meta-games: (matrix, names, the maximum-entropy Nash mixture)
CLONE = with_strategies(rps(), np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float))
NULL = np.full((4, 4), 0.5)
NULL[:3, :3] = rps()  # a fourth policy that ties everyone: every mix of (uniform RPS, null) is a Nash equilibrium
HAND_SOLVED = {
    "transitive": (bt([2.0, 1.0, 0.0, -1.0]), list("ABCD"), [1, 0, 0, 0]),
    "rps": (rps(), ["rock", "paper", "scissors"], [1 / 3] * 3),
    # a copy of rock: the equilibria put 1/3 on {rock, rock copy} in any split; maximum entropy splits it evenly
    "rps + clone": (CLONE, ["rock", "rock copy", "paper", "scissors"], [1 / 6, 1 / 6, 1 / 3, 1 / 3]),
    # (1 - t) uniform RPS + t null for every t; maximum entropy: t = 1/4, uniform over the four
    "rps + null": (NULL, ["rock", "paper", "scissors", "null"], [1 / 4] * 4),
}


def check_hand_solved(case, solver=None):
    W, names, expected = HAND_SOLVED[case]
    res = V.meta_game_ranking(frame(W, names), solver=solver)
    np.testing.assert_allclose(res.nash.loc[names].to_numpy(), expected, atol=1e-5, err_msg=case)
    return res


@pytest.mark.parametrize("case", list(HAND_SOLVED))
def test_meta_nash_hand_solved(case):
    res = check_hand_solved(case)
    assert abs(res.nash.sum() - 1) < 1e-12 and (res.nash >= 0).all()
    # every policy in the support scores 1/2 against the mixture, none above
    assert res.table["nash_rating"].max() <= 0.5 + 1e-6
    support = res.table[res.table["nash_mass"] > 1e-3]
    np.testing.assert_allclose(support["nash_rating"], 0.5, atol=1e-6)


def test_transitive_ranks_like_the_averages():
    rng = np.random.default_rng(0)
    for _ in range(5):
        r = rng.normal(size=6) * 2
        names = [f"p{i}" for i in range(6)]
        res = V.meta_game_ranking(frame(bt(r), names))
        by_avg = list(pd.Series(V.average_win_rates(bt(r)), index=names).sort_values(ascending=False).index)
        assert list(res.table.index) == by_avg == [names[i] for i in np.argsort(-r)]
        assert res.agree and "agree" in res.explanation
        assert res.table["nash_mass"].iloc[0] == pytest.approx(1.0, abs=1e-9)


def test_rps_equal_mass_and_a_tie_where_the_average_disagrees():
    res = check_hand_solved("rps")
    assert set(res.table["nash_rank"]) == {1}
    res = check_hand_solved("rps + clone")  # the copy of rock inflates paper's average win rate
    assert not res.agree
    assert res.table.loc["paper", "average_win_rate"] > res.table.loc["scissors", "average_win_rate"] + 0.2
    assert res.table.loc["paper", "nash_rank"] == res.table.loc["scissors", "nash_rank"] == 1
    assert "paper" in res.explanation and "scissors" in res.explanation and "_" not in res.explanation


def test_planted_wrong_solvers_fail():
    # returns the reference (uniform), not an equilibrium: the exploitability check inside meta_nash raises
    uniform = lambda game: game.mu  # noqa: E731
    with pytest.raises(SolverError, match="not a Nash equilibrium"):
        check_hand_solved("transitive", solver=uniform)
    # the LP (beta = 0) returns AN equilibrium, a vertex, not the maximum-entropy one: the hand-solved check fails
    with pytest.raises(AssertionError):
        check_hand_solved("rps + clone", solver=solve_unregularized)
    with pytest.raises(AssertionError):
        check_hand_solved("rps + null", solver=solve_unregularized)
    # the real solver passes the same checks
    check_hand_solved("rps + clone")


def test_meta_nash_inputs():
    W, names, _ = HAND_SOLVED["rps"]
    np.testing.assert_allclose(V.meta_nash(torch.tensor(W)), [1 / 3] * 3, atol=1e-9)  # a tensor
    np.testing.assert_allclose(V.meta_nash(np.full((3, 3), 0.5)), [1 / 3] * 3)  # all ties: uniform
    assert V.meta_game_ranking(np.array([[0.5]])).table["nash_mass"].tolist() == [1.0]
    with pytest.raises(ValueError, match="square"):
        V.meta_nash(np.ones((2, 3)) / 2)
    with pytest.raises(ValueError, match="NaN"):
        V.meta_nash(np.array([[0.5, np.nan], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="same policies"):
        V.meta_nash(pd.DataFrame(W, index=names, columns=names[::-1]))


def test_regularized_win_rates_hand_computed():
    W = frame(rps(), ["rock", "paper", "scissors"])
    kl = pd.Series({"scissors": 0.3, "rock": 0.1, "paper": 0.0})
    Wb = V.regularized_win_rates(W, kl, beta=0.5)
    assert list(Wb.index) == list(W.index) and list(Wb.columns) == list(W.columns)
    assert Wb.loc["rock", "paper"] == pytest.approx(0.1 - 0.5 * 0.1 + 0.5 * 0.0)
    assert Wb.loc["paper", "scissors"] == pytest.approx(0.1 + 0.5 * 0.3)
    np.testing.assert_allclose(np.diag(Wb), 0.5)
    np.testing.assert_allclose(Wb + Wb.T, 1.0)
    pd.testing.assert_frame_equal(V.regularized_win_rates(W, kl, 0.0), W)
    arr = V.regularized_win_rates(rps(), [0.1, 0.0, 0.3], 0.5)
    np.testing.assert_allclose(arr, Wb.to_numpy())
    # the meta-game of W_beta: entries may leave [0, 1]; the ranking still solves it
    big = V.regularized_win_rates(W, kl * 10, beta=1.0)
    assert big.to_numpy().min() < 0
    res = V.meta_game_ranking(big)
    assert res.table.index[0] == "paper"  # no KL price: it beats the costly policies in the regularized game
    with pytest.raises(ValueError, match="beta"):
        V.regularized_win_rates(W, kl, -0.1)
    with pytest.raises(KeyError, match="rock"):
        V.regularized_win_rates(W, {"paper": 0.0, "scissors": 0.1}, 0.1)
    with pytest.raises(ValueError, match="2 KL values"):
        V.regularized_win_rates(rps(), [0.1, 0.2], 0.1)
