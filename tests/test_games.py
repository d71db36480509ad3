"""PreferenceGame validation, batching and the game library (workbench/games/game.py, library.py)."""

from pathlib import Path

import pytest
import torch

from workbench.games import (
    GameError,
    PreferenceGame,
    bradley_terry,
    cyclic,
    from_win_counts,
    from_win_counts_csv,
    near_deterministic_mu,
    random_game,
    rock_paper_scissors,
    transitive_cyclic_mixture,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "games"
RPS = [[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]]


# ---------------------------------------------------------------- validation messages
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(P=[[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]), r"P must be square .*got shape \(2, 3\)"),
        (dict(P=[0.5, 0.5]), r"P must be square"),
        (dict(P=[[0.5, 1.2], [-0.2, 0.5]]), r"P entries must lie in \[0, 1\]: P\[0, 1\] = 1\.2"),
        (dict(P=[[0.5, 0.7], [0.4, 0.5]]), r"P \+ P\^T = 1 .*P\[0, 1\] \+ P\[1, 0\] = 1\.1"),
        (dict(P=RPS, mu=[0.5, 0.5, 0.0]), r"mu must be strictly positive.*mu\[2\] = 0"),
        (dict(P=RPS, mu=[0.5, 0.6, -0.1]), r"mu must be strictly positive.*mu\[2\] = -0\.1"),
        (dict(P=RPS, mu=[0.2, 0.2, 0.2]), r"mu must sum to 1: mu\[\]\.sum\(\) = 0\.6"),
        (dict(P=RPS, beta=-0.1), r"beta must be >= 0: beta\[\] = -0\.1"),
        (dict(P=[[0.5, float("nan")], [0.5, 0.5]]), r"P contains NaN or inf: P\[0, 1\] = nan"),
        (dict(P=RPS, mu=[float("nan"), 0.5, 0.5]), r"mu contains NaN or inf: mu\[0\] = nan"),
        (dict(P=RPS, beta=float("nan")), r"beta contains NaN or inf"),
        (dict(P=RPS, mu=[0.5, 0.5]), r"mu must have 3 entries .*got \(2,\)"),
        (dict(P=[RPS, RPS], mu=[[1 / 3] * 3] * 3), r"batch shapes do not broadcast: P \(2,\), mu \(3,\)"),
        (dict(P=RPS, beta=[0.1, 0.2], mu=[[1 / 3] * 3] * 3), r"batch shapes do not broadcast"),
        (dict(P=[[0.5]]), r"at least 2 responses; got n = 1"),
        (dict(P=RPS, names=["a", "b"]), r"names has 2 labels for n = 3"),
    ],
)
def test_validation_names_the_problem(kwargs, match):
    with pytest.raises(GameError, match=match):
        PreferenceGame.create(**kwargs)


def test_validation_reports_batch_index_and_symmetry_tolerance():
    P = torch.tensor([RPS] * 3, dtype=torch.float64)
    P[2, 1, 2] = 0.9  # P[2, 2, 1] stays 0, so P + P^T = 0.9 there
    with pytest.raises(GameError, match=r"P\[2, 1, 2\] \+ P\[2, 2, 1\] = 0\.9"):
        PreferenceGame.create(P)
    P[2, 1, 2] = 1 - 1e-9  # within the default tolerance 1e-6
    PreferenceGame.create(P)
    with pytest.raises(GameError, match=r"tol 1e-12"):
        PreferenceGame.create(P, tol=1e-12)


def test_validate_false_skips_checks_and_validate_catches_later():
    g = PreferenceGame.create([[0.5, 0.9], [0.9, 0.5]], validate=False)
    with pytest.raises(GameError, match=r"P \+ P\^T = 1"):
        g.validate()


# ---------------------------------------------------------------- batching
def test_broadcasting_mu_and_beta_against_batched_P():
    g = random_game(4, beta=0.1, batch=5, seed=0)
    assert g.P.shape == (5, 4, 4) and g.mu.shape == (5, 4) and g.beta.shape == (5,)
    assert torch.allclose(g.mu, torch.full((5, 4), 0.25, dtype=torch.float64))
    h = PreferenceGame.create(RPS, beta=[0.0, 0.1, 1.0])  # beta alone carries the batch
    assert h.batch_shape == (3,) and h.P.shape == (3, 3, 3)
    assert torch.equal(h.P[0], h.P[2]) and h.beta.tolist() == [0.0, 0.1, 1.0]


def test_sweep_beta_with_beta_stack_and_indexing():
    g = random_game(4, beta=0.1, batch=2, seed=3)
    s = g.sweep_beta([0.01, 0.1, 1.0])
    assert s.batch_shape == (3, 2)
    assert torch.equal(s.beta[:, 1], torch.tensor([0.01, 0.1, 1.0], dtype=torch.float64))
    assert torch.equal(s.P[2, 1], g.P[1]) and torch.equal(s.mu[0, 0], g.mu[0])
    w = g.with_beta(0.5)
    assert torch.equal(w.P, g.P) and (w.beta == 0.5).all()
    st = PreferenceGame.stack([g, w])
    assert st.batch_shape == (2, 2) and torch.equal(st[1].beta, w.beta) and torch.equal(st[0].P, g.P)
    one = g[1]
    assert one.batch_shape == () and torch.equal(one.P, g.P[1])
    assert g[:1].batch_shape == (1,)
    with pytest.raises(IndexError, match="no batch dimension"):
        one[0]
    with pytest.raises(GameError, match=r"different numbers of responses: \[3, 4\]"):
        PreferenceGame.stack([g, random_game(3, batch=2)])
    with pytest.raises(GameError, match="at least one game"):
        PreferenceGame.stack([])


def test_game_quantities_on_rps():
    g = rock_paper_scissors(beta=0.1)
    u = torch.full((3,), 1 / 3, dtype=torch.float64)
    rock = torch.tensor([1.0, 0, 0], dtype=torch.float64)
    assert torch.allclose(g.win_prob(u), torch.full((3,), 0.5, dtype=torch.float64))
    # each response beats the next (mod 3) with probability 1
    assert torch.allclose(g.win_prob(rock), torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64))
    # P_beta(pi ≻ pi') + P_beta(pi' ≻ pi) = 1 for any pair.
    pi, pj = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64), torch.tensor([0.6, 0.3, 0.1], dtype=torch.float64)
    assert torch.allclose(g.regularized_preference(pi, pj) + g.regularized_preference(pj, pi), torch.tensor(1.0, dtype=torch.float64))


def test_to_changes_dtype():
    g = random_game(3, batch=2).to(dtype=torch.float32)
    assert g.P.dtype == g.mu.dtype == g.beta.dtype == torch.float32


# ---------------------------------------------------------------- library
@pytest.mark.parametrize(
    "make",
    [
        lambda seed: rock_paper_scissors(0.1),
        lambda seed: cyclic(5, 0.1, strength=0.6),
        lambda seed: cyclic(4),
        lambda seed: random_game(6, 0.1, batch=4, seed=seed, mu="random"),
        lambda seed: bradley_terry(torch.randn(3, 5, generator=torch.Generator().manual_seed(seed)), 0.1),
        lambda seed: transitive_cyclic_mixture(6, 0.3, 0.1, batch=3, seed=seed),
        lambda seed: random_game(5, 0.1, seed=seed, mu=near_deterministic_mu(5)),
    ],
)
def test_library_games_are_valid_and_reproducible(make):
    g = make(7)
    resid = (g.P + g.P.transpose(-1, -2) - 1).abs().max()
    assert resid < 1e-12
    assert torch.allclose(torch.diagonal(g.P, dim1=-2, dim2=-1), torch.tensor(0.5, dtype=torch.float64))
    assert ((g.P >= 0) & (g.P <= 1)).all() and (g.mu > 0).all()
    assert torch.allclose(g.mu.sum(-1), torch.tensor(1.0, dtype=torch.float64))
    h = make(7)
    assert torch.equal(g.P, h.P) and torch.equal(g.mu, h.mu)


def test_random_games_depend_on_seed():
    assert not torch.equal(random_game(5, seed=0).P, random_game(5, seed=1).P)
    a, b = transitive_cyclic_mixture(5, 0.5, seed=0), transitive_cyclic_mixture(5, 0.5, seed=1)
    assert not torch.equal(a.P, b.P)
    mu = random_game(5, seed=2, mu="random").mu
    assert (mu > 0).all() and not torch.allclose(mu, torch.full((5,), 0.2, dtype=torch.float64))


def test_library_structure():
    c = cyclic(5, strength=0.6)
    assert c.P[0, 1] == pytest.approx(0.8) and c.P[4, 0] == pytest.approx(0.8) and c.P[0, 2] == 0.5
    r = torch.tensor([0.0, 1.0, 3.0])
    bt = bradley_terry(r)
    assert bt.P[2, 0].item() == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item())
    t0 = transitive_cyclic_mixture(6, 0.0, seed=1)
    # a = 0 is transitive: P(i ≻ j) > 1/2 and P(j ≻ k) > 1/2 imply P(i ≻ k) > 1/2
    beats = t0.P > 0.5
    assert (~(beats[:, :, None] & beats[None, :, :]) | beats[:, None, :]).all()
    mu = near_deterministic_mu(4, favourite=2, mass=0.99)
    assert mu[2] == pytest.approx(0.99) and mu.sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cyclic(2), r"n >= 3 .*got n = 2"),
        (lambda: cyclic(5, strength=1.5), r"strength must lie in \[0, 1\]; got 1\.5"),
        (lambda: random_game(3, mu="peaked"), r"mu must be 'uniform', 'random' or a tensor; got 'peaked'"),
        (lambda: transitive_cyclic_mixture(4, 1.5), r"intransitivity must lie in \[0, 1\]; got 1\.5"),
        (lambda: near_deterministic_mu(4, mass=1.0), r"mass must lie strictly between 0 and 1"),
        (lambda: from_win_counts([[0, 1, 2], [3, 0, 4]]), r"square table; got shape \(2, 3\)"),
        (lambda: from_win_counts([[0, -1], [3, 0]]), r"finite and >= 0: wins\[0, 1\] = -1"),
        (lambda: from_win_counts([[0, 1], [3, 0]], prior=0), r"prior must be > 0"),
    ],
)
def test_library_errors(call, match):
    with pytest.raises(GameError, match=match):
        call()


def test_from_win_counts_formula():
    g = from_win_counts([[0, 3], [1, 0]], names=["a", "b"], prior=0.5)
    assert g.P[0, 1].item() == pytest.approx(3.5 / 5) and g.P[1, 1] == 0.5 and g.names == ("a", "b")
    never = from_win_counts([[0, 0], [0, 0]])
    assert never.P[0, 1].item() == 0.5


# ---------------------------------------------------------------- CSV files
def test_csv_layouts_agree_on_shipped_data():
    m = from_win_counts_csv(DATA / "arena_wins_matrix.csv", beta=0.05)
    p = from_win_counts_csv(DATA / "arena_wins_pairs.csv", beta=0.05)
    assert set(m.names) == set(p.names) and len(m.names) == 5
    order = [p.names.index(s) for s in m.names]
    assert torch.allclose(m.P, p.P[order][:, order], atol=1e-12)
    i = {s: k for k, s in enumerate(m.names)}
    a, b, c = i["atlas-7b"], i["borealis-13b"], i["cirrus-8x7b"]
    assert m.P[a, b] > 0.5 and m.P[b, c] > 0.5 and m.P[c, a] > 0.5  # the documented cycle
    assert m.P[a, b].item() == pytest.approx((412 + 0.5) / (700 + 1))


def _write(tmp_path, text, name="w.csv"):
    f = tmp_path / name
    f.write_text(text)
    return f


def test_csv_long_layout_without_count_column(tmp_path):
    f = _write(tmp_path, "winner,loser\na,b\na,b\nb,a\n")
    g = from_win_counts_csv(f, prior=0.5)
    assert g.names == ("a", "b") and g.P[0, 1].item() == pytest.approx(2.5 / 4)


@pytest.mark.parametrize(
    "text, match",
    [
        ("a,b,c\nx,0,1\ny,1,0\n", r"w\.csv: expected either columns winner,loser\[,count\] or a square table"),
        ("0,1\n1,0\n", r"w\.csv: line 1: missing header"),
        ("m,a,b\na,0,three\nb,1,0\n", r"w\.csv: line 2, column 'b': not a number: 'three'"),
        ("winner,loser,count\na,b,3\nb,a,-2\n", r"w\.csv: line 3: field 'count' = \S*-2\S* is not a count >= 0"),
        ("winner,loser,count\na,b,3\nb,a,x\n", r"w\.csv: line 3: field 'count' = 'x' is not a count >= 0"),
        ("winner,loser,count\na,b,3\n,a,1\n", r"w\.csv: line 3: empty winner or loser"),
    ],
)
def test_csv_malformed_files_name_file_and_line(tmp_path, text, match):
    with pytest.raises(GameError, match=match):
        from_win_counts_csv(_write(tmp_path, text))


def test_csv_negative_count_in_square_layout(tmp_path):
    f = _write(tmp_path, "m,a,b\na,0,-4\nb,1,0\n")
    with pytest.raises(GameError, match=r"w\.csv.*line 2.*-4"):
        from_win_counts_csv(f)


def test_csv_missing_file(tmp_path):
    with pytest.raises(GameError, match=r"nope\.csv: file not found"):
        from_win_counts_csv(tmp_path / "nope.csv")
