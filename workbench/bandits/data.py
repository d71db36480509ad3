"""Comparison data ``(x, y, y', label)``: sampling from a behaviour policy, frames, CSV/Parquet loading.

A comparison says, in context ``x``, whether response ``y`` beat ``y_prime`` (``label = 1``) or lost
(``label = 0``); the label is a Bernoulli draw of the true ``P(y ≻ y'|x)``. In code a batch of datasets
(one per seed) is a :class:`BanditComparisons` of ``(S, N)`` long tensors (integer ids, unlike the text
records of :class:`workbench.prefdata.Comparisons`); on disk and for users it is a tidy
pandas frame with columns ``x, y, y_prime, label`` (and ``seed`` when several datasets are stored).

Coverage knob (offline data): the behaviour policy ``(1 - coverage) * base + coverage * pi*`` mixes the
optimal policy into a base policy; ``coverage`` is the share of samples that follow ``pi*`` (the single-
policy concentrability coefficient of Xiong et al. / Ye et al. grows like ``1/coverage`` when the base
avoids ``pi*``'s actions).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from workbench.bandits.env import BanditEnv, BanditError

__all__ = [
    "BanditComparisons", "COMPARISON_COLUMNS", "behaviour_policy", "sample_comparisons", "to_frame", "from_frame",
    "load_bandit_comparisons", "save_bandit_comparisons", "BanditDataError",
]

COMPARISON_COLUMNS = ("x", "y", "y_prime", "label")


class BanditDataError(BanditError):
    """Invalid comparison data; the message names the file, row, column and value."""


@dataclass(frozen=True)
class BanditComparisons:
    """``S`` datasets of ``N`` comparisons each: long tensors ``x, y, y_prime, label`` of shape ``(S, N)``."""

    x: torch.Tensor
    y: torch.Tensor
    y_prime: torch.Tensor
    label: torch.Tensor

    @property
    def n(self) -> int:
        return self.x.shape[-1]

    @property
    def n_seeds(self) -> int:
        return self.x.shape[0]

    def cat(self, other: "BanditComparisons") -> "BanditComparisons":
        """Append ``other``'s comparisons to every dataset (same ``S``)."""
        return BanditComparisons(*(torch.cat([a, b], -1) for a, b in zip(self.astuple(), other.astuple())))

    def head(self, n: int) -> "BanditComparisons":
        """The first ``n`` comparisons of every dataset (nested datasets for data-size curves)."""
        return BanditComparisons(*(t[:, :n] for t in self.astuple()))

    def astuple(self):
        return (self.x, self.y, self.y_prime, self.label)

    @staticmethod
    def empty(n_seeds: int, device=None) -> "BanditComparisons":
        z = torch.zeros(n_seeds, 0, dtype=torch.long, device=device)
        return BanditComparisons(z, z, z, z)


def behaviour_policy(env: BanditEnv, coverage: float = 0.5, base: str = "uniform") -> torch.Tensor:
    """``(1 - coverage) * base + coverage * pi*``, ``(K, n)``.

    ``base``: ``"uniform"``, ``"reference"`` (``pi_0``) or ``"avoid_optimal"`` (uniform over every action
    but the argmax of ``pi*`` in each context, so the best action is seen only through ``coverage``).
    """
    if not 0 <= coverage <= 1:
        raise BanditError(f"coverage must lie in [0, 1]; got {coverage}")
    pi_star = env.optimal_policy()  # (K, n)
    if base == "uniform":
        b = torch.full_like(pi_star, 1.0 / env.n_actions)
    elif base == "reference":
        b = env.mu
    elif base == "avoid_optimal":
        best = torch.nn.functional.one_hot(pi_star.argmax(-1), env.n_actions).to(pi_star)
        b = (1 - best) / (env.n_actions - 1)
    else:
        raise BanditError(f"base must be 'uniform', 'reference' or 'avoid_optimal'; got {base!r}")
    return (1 - coverage) * b + coverage * pi_star


def sample_comparisons(
    env: BanditEnv,
    n: int,
    generator: torch.Generator,
    policy: torch.Tensor | None = None,
    policy_prime: torch.Tensor | None = None,
    n_seeds: int = 1,
) -> BanditComparisons:
    """``n`` comparisons per seed: ``x`` uniform, ``y ~ policy(.|x)``, ``y' ~ policy_prime(.|x)``, label ~ P.

    ``policy`` / ``policy_prime`` are ``(K, n)`` or per-seed ``(S, K, n)``; default ``pi_0`` and ``policy``.
    """
    S, K, A = n_seeds, env.n_contexts, env.n_actions
    dev = env.phi.device
    pol = env.mu if policy is None else policy
    pol2 = pol if policy_prime is None else policy_prime
    x = torch.randint(K, (S, n), generator=generator, device=dev)  # (S, N)

    def draw(p):
        p = p.expand(S, K, A)  # (S, K, A)
        rows = p.gather(1, x[..., None].expand(S, n, A)).reshape(S * n, A)  # (S*N, A)
        if n == 0:
            return torch.zeros(S, 0, dtype=torch.long, device=dev)
        return torch.multinomial(rows.clamp_min(0), 1, generator=generator).reshape(S, n)

    y, y2 = draw(pol), draw(pol2)
    P = env.preference()  # (K, A, A)
    p = P[x, y, y2]  # (S, N)
    label = (torch.rand(S, n, generator=generator, device=dev, dtype=P.dtype) < p).long()
    return BanditComparisons(x, y, y2, label)


def to_frame(data: BanditComparisons) -> pd.DataFrame:
    """Tidy frame with columns ``seed, x, y, y_prime, label`` (one row per comparison)."""
    S, N = data.x.shape
    cols = {"seed": torch.arange(S).repeat_interleave(N).numpy()}
    for name, t in zip(COMPARISON_COLUMNS, data.astuple()):
        cols[name] = t.reshape(-1).cpu().numpy()
    return pd.DataFrame(cols)


def from_frame(frame: pd.DataFrame, env: BanditEnv, source: str = "frame") -> BanditComparisons:
    """Validate a frame of comparisons against ``env`` and return one dataset per ``seed`` (``(S, N)``).

    Raises :class:`BanditDataError` naming ``source``, the row (1-based data line), column and value
    for missing columns, non-integers, contexts/actions out of range and labels outside {0, 1}. Without
    a ``seed`` column the frame is one dataset; with one, every seed must have the same number of rows.
    """
    missing = [c for c in COMPARISON_COLUMNS if c not in frame.columns]
    if missing:
        raise BanditDataError(
            f"{source}: missing column(s) {missing}; expected columns {list(COMPARISON_COLUMNS)} (got {list(frame.columns)})"
        )
    limits = {"x": env.n_contexts, "y": env.n_actions, "y_prime": env.n_actions, "label": 2}
    what = {"x": "context", "y": "action", "y_prime": "action", "label": "label"}
    values = {}
    for col in COMPARISON_COLUMNS:
        s = pd.to_numeric(frame[col], errors="coerce")
        bad = s.isna() | (s != s.round())
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            v = frame[col].iloc[i]
            v = v.item() if hasattr(v, "item") else v
            raise BanditDataError(f"{source}: row {i + 1}, column {col!r}: value {v!r} is not an integer")
        s = s.astype("int64")
        bad = (s < 0) | (s >= limits[col])
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            rng = "{0, 1}" if col == "label" else f"0..{limits[col] - 1}"
            raise BanditDataError(
                f"{source}: row {i + 1}, column {col!r}: unknown {what[col]} {int(s.iloc[i])} (allowed {rng})"
            )
        values[col] = torch.as_tensor(s.to_numpy().copy(), dtype=torch.long, device=env.phi.device)
    if "seed" in frame.columns:
        seeds = frame["seed"].to_numpy()
        uniq, counts = pd.unique(seeds), pd.Series(seeds).value_counts()
        if counts.nunique() != 1:
            raise BanditDataError(f"{source}: every seed needs the same number of rows; counts {counts.to_dict()}")
        order = torch.as_tensor(pd.Series(seeds).map({s: i for i, s in enumerate(uniq)}).to_numpy().copy())
        idx = torch.argsort(order, stable=True)
        return BanditComparisons(*(values[c][idx].reshape(len(uniq), -1) for c in COMPARISON_COLUMNS))
    return BanditComparisons(*(values[c][None] for c in COMPARISON_COLUMNS))


def load_bandit_comparisons(path: str | Path, env: BanditEnv) -> BanditComparisons:
    """Read a ``.csv`` or ``.parquet`` file of comparisons (columns ``x, y, y_prime, label``) and validate it.

    Row numbers in error messages count data rows from 1 (the CSV header is line 0).
    """
    path = Path(path)
    if not path.exists():
        raise BanditDataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            raise BanditDataError(f"{path}: empty file (expected a header x, y, y_prime, label)") from None
    elif path.suffix.lower() in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise BanditDataError(f"{path}: unknown format {path.suffix!r}; use .csv or .parquet")
    return from_frame(frame, env, source=str(path))


def save_bandit_comparisons(data: BanditComparisons, path: str | Path) -> Path:
    """Write ``data`` as CSV or Parquet (by suffix); returns the path."""
    path = Path(path)
    frame = to_frame(data)
    if data.n_seeds == 1:
        frame = frame.drop(columns="seed")
    if path.suffix.lower() == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path
