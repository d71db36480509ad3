"""A library of preference games: cycles, random, transitive (Bradley–Terry), mixtures, from data.

Every constructor returns a validated :class:`PreferenceGame`; random ones take an explicit ``seed``
and a ``batch`` size (a leading batch dimension) so thousands of games are made in one call.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import torch

from workbench.device import DeviceLike, make_generator, resolve_device
from workbench.games.game import GameError, PreferenceGame

__all__ = [
    "rock_paper_scissors",
    "cyclic",
    "random_game",
    "bradley_terry",
    "transitive_cyclic_mixture",
    "from_win_counts",
    "from_win_counts_csv",
    "near_deterministic_mu",
]


def _make(P, mu, beta, names, dtype, device) -> PreferenceGame:
    return PreferenceGame.create(P, mu, beta, names=names, dtype=dtype, device=resolve_device(device))


def cyclic_matrix(n: int, strength: float = 1.0, dtype=torch.float64) -> torch.Tensor:
    """``n``-cycle: ``y`` beats ``y+1 (mod n)`` with prob ``(1+strength)/2``; other pairs tie. (n, n)"""
    if n < 3:
        raise GameError(f"a cycle needs n >= 3 responses; got n = {n}")
    if not 0 <= strength <= 1:
        raise GameError(f"cycle strength must lie in [0, 1]; got {strength}")
    P = torch.full((n, n), 0.5, dtype=dtype)
    idx = torch.arange(n)
    P[idx, (idx + 1) % n] = 0.5 + strength / 2
    P[(idx + 1) % n, idx] = 0.5 - strength / 2
    return P


def rock_paper_scissors(beta: float = 0.0, mu=None, *, dtype=torch.float64, device: DeviceLike = "cpu") -> PreferenceGame:
    """Rock–paper–scissors as a preference game: each response beats the next with probability 1,
    in the order rock ≻ scissors ≻ paper ≻ rock (so it is the 3-cycle of :func:`cyclic`)."""
    P = torch.tensor([[0.5, 1.0, 0.0], [0.0, 0.5, 1.0], [1.0, 0.0, 0.5]], dtype=dtype)
    return _make(P, mu, beta, ("rock", "scissors", "paper"), dtype, device)


def cyclic(n: int = 5, beta: float = 0.0, strength: float = 1.0, mu=None, *, dtype=torch.float64, device: DeviceLike = "cpu") -> PreferenceGame:
    """The ``n``-cycle game (RPS is ``n = 3``); its unregularized equilibrium with uniform ``mu`` is uniform
    only for odd ``n``."""
    return _make(cyclic_matrix(n, strength, dtype), mu, beta, None, dtype, device)


def random_game(
    n: int = 10,
    beta: float = 0.1,
    batch: int | None = None,
    seed: int = 0,
    *,
    mu: str | torch.Tensor = "uniform",
    dtype=torch.float64,
    device: DeviceLike = "cpu",
) -> PreferenceGame:
    """``P = 1/2 + (U - U^T)/2`` with ``U`` uniform on [0,1]^(n×n): a generic intransitive game.

    ``mu="uniform"`` or ``"random"`` (a Dirichlet(1) draw, strictly positive), or a tensor.
    ``batch`` adds a leading batch dimension of that size.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise GameError(f"random_game: n must be a positive integer, got {n!r}")
    g = make_generator(seed)  # sample on CPU, then move: the same seed gives the same game on every device
    shape = (n, n) if batch is None else (batch, n, n)
    U = torch.rand(shape, generator=g, dtype=dtype)
    P = 0.5 + (U - U.transpose(-1, -2)) / 2
    if isinstance(mu, str):
        if mu == "uniform":
            mu_t = None
        elif mu == "random":
            e = -torch.log(torch.rand(shape[:-1], generator=g, dtype=dtype).clamp_min(1e-12))
            mu_t = e / e.sum(-1, keepdim=True)
        else:
            raise GameError(f"mu must be 'uniform', 'random' or a tensor; got {mu!r}")
    else:
        mu_t = mu
    return _make(P, mu_t, beta, None, dtype, device)


def bradley_terry(rewards, beta: float = 0.1, mu=None, *, dtype=torch.float64, device: DeviceLike = "cpu") -> PreferenceGame:
    """Transitive game induced by a reward: ``P(y ≻ y') = sigmoid(r(y) - r(y'))``; rewards ``(*B, n)``."""
    r = torch.as_tensor(rewards, dtype=dtype)
    P = torch.sigmoid(r[..., :, None] - r[..., None, :])
    return _make(P, mu, beta, None, dtype, device)


def transitive_cyclic_mixture(
    n: int = 10,
    intransitivity: float = 0.5,
    beta: float = 0.1,
    batch: int | None = None,
    seed: int = 0,
    *,
    reward_scale: float = 3.0,
    mu=None,
    dtype=torch.float64,
    device: DeviceLike = "cpu",
) -> PreferenceGame:
    """``P = (1 - a) P_BT + a P_cyc``: a knob ``a = intransitivity`` in [0, 1] from a BT game with
    random rewards (``a = 0``, fully transitive) to a random skew game (``a = 1``, generic cycles).

    Both parts satisfy ``P + P^T = 1``, so every mixture does.
    """
    if not 0 <= intransitivity <= 1:
        raise GameError(f"intransitivity must lie in [0, 1]; got {intransitivity}")
    g = make_generator(seed)  # sample on CPU, then move: the same seed gives the same game on every device
    shape = (n,) if batch is None else (batch, n)
    r = reward_scale * torch.randn(shape, generator=g, dtype=dtype)  # (*B, n)
    P_bt = torch.sigmoid(r[..., :, None] - r[..., None, :])
    U = torch.rand((*shape, n), generator=g, dtype=dtype)
    P_cyc = 0.5 + (U - U.transpose(-1, -2)) / 2
    P = (1 - intransitivity) * P_bt + intransitivity * P_cyc
    return _make(P, mu, beta, None, dtype, device)


def from_win_counts(wins, names=None, beta: float = 0.1, mu=None, prior: float = 0.5, *, dtype=torch.float64, device: DeviceLike = "cpu") -> PreferenceGame:
    """Game from a table ``wins[i, j]`` = times ``i`` beat ``j``: ``P(i ≻ j) = (w_ij + prior)/(w_ij + w_ji + 2 prior)``.

    ``prior`` (pseudo-counts per side) gives never-compared pairs a tie; the diagonal is 1/2.
    """
    W = torch.as_tensor(wins, dtype=dtype)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise GameError(f"win counts must be a square table; got shape {tuple(W.shape)}")
    if (W < 0).any() or not torch.isfinite(W).all():
        i, j = (int(v) for v in (~torch.isfinite(W) | (W < 0)).nonzero()[0])
        raise GameError(f"win counts must be finite and >= 0: wins[{i}, {j}] = {W[i, j].item()}")
    if prior <= 0:
        raise GameError(f"prior must be > 0 so that never-compared pairs are defined; got {prior}")
    P = (W + prior) / (W + W.T + 2 * prior)
    P.fill_diagonal_(0.5)
    return _make(P, mu, beta, names, dtype, device)


def from_win_counts_csv(path: str | Path, beta: float = 0.1, mu=None, prior: float = 0.5, *, dtype=torch.float64, device: DeviceLike = "cpu") -> PreferenceGame:
    """Game from a CSV of pairwise win counts.

    Two layouts are accepted: a square table (first column = row labels, header = the same labels,
    cell ``(i, j)`` = wins of ``i`` over ``j``), or a long table with columns ``winner,loser[,count]``.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise GameError(f"{path}: file not found")
    df = pd.read_csv(path)
    cols = [c.strip().lower() for c in df.columns]
    if {"winner", "loser"} <= set(cols):
        df.columns = cols
        if "count" not in df:
            df["count"] = 1
        if df[["winner", "loser"]].isna().any().any():
            bad = int(df[["winner", "loser"]].isna().any(axis=1).to_numpy().nonzero()[0][0])
            raise GameError(f"{path}: line {bad + 2}: empty winner or loser")
        counts = pd.to_numeric(df["count"], errors="coerce")
        if counts.isna().any() or (counts < 0).any():
            bad = int((counts.isna() | (counts < 0)).to_numpy().nonzero()[0][0])
            raise GameError(f"{path}: line {bad + 2}: field 'count' = {df['count'].iloc[bad]!r} is not a count >= 0")
        names = sorted(set(df["winner"].astype(str)) | set(df["loser"].astype(str)))
        index = {s: i for i, s in enumerate(names)}
        W = torch.zeros(len(names), len(names), dtype=dtype)
        for w, l, c in zip(df["winner"].astype(str), df["loser"].astype(str), counts):
            W[index[w], index[l]] += float(c)
        W.fill_diagonal_(0)
        return from_win_counts(W, names, beta, mu, prior, dtype=dtype, device=device)
    def _is_number(s) -> bool:
        try:
            float(str(s))
        except ValueError:
            return False
        return True

    if all(_is_number(c) for c in df.columns):
        raise GameError(
            f"{path}: line 1: missing header: expected columns winner,loser[,count] or a row of labels; "
            f"got {[str(c) for c in df.columns]}"
        )
    labels = [str(v) for v in df.iloc[:, 0]]
    header = [str(c) for c in df.columns[1:]]
    if labels != header:
        raise GameError(
            f"{path}: expected either columns winner,loser[,count] or a square table whose header "
            f"{header} repeats the row labels {labels}"
        )
    values = df.iloc[:, 1:].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        r, c = (int(v[0]) for v in values.isna().to_numpy().nonzero())
        raise GameError(f"{path}: line {r + 2}, column {header[c]!r}: not a number: {df.iloc[r, c + 1]!r}")
    if (values < 0).any().any():
        r, c = (int(v[0]) for v in (values < 0).to_numpy().nonzero())
        raise GameError(f"{path}: line {r + 2}, column {header[c]!r}: win count must be >= 0: {df.iloc[r, c + 1]!r}")
    W = torch.as_tensor(values.to_numpy(dtype=float).copy(), dtype=dtype)
    W.fill_diagonal_(0)
    return from_win_counts(W, labels, beta, mu, prior, dtype=dtype, device=device)


def near_deterministic_mu(n: int, favourite: int = 0, mass: float = 1 - 1e-6, dtype=torch.float64) -> torch.Tensor:
    """Edge case: a reference policy with ``mass`` on one response and the rest spread uniformly."""
    if not 0 < mass < 1:
        raise GameError(f"mass must lie strictly between 0 and 1 (mu must stay positive); got {mass}")
    mu = torch.full((n,), (1 - mass) / (n - 1), dtype=dtype)
    mu[favourite] = mass
    return mu
