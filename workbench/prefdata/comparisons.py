"""The pairwise-comparison dataset type shared by every preference model in the workbench.

A comparison is ``(x, y_a, y_b, label)``: a prompt ``x``, two responses and the probability that
``y_a`` is preferred, ``label = P(y_a ≻ y_b | x)`` as observed (1.0 = ``response_a`` preferred,
0.0 = ``response_b`` preferred, values in between are soft labels such as a vote share).
Synthetic data also carries ``p_true``, the ground-truth ``P(y_a ≻ y_b | x)``.

`Comparisons` is a thin, frozen wrapper around a pandas DataFrame with the columns

============ ======= =============================================================================
column       dtype   meaning
============ ======= =============================================================================
prompt       str     the prompt ``x`` (non-empty)
response_a   str     first response ``y_a`` (non-empty)
response_b   str     second response ``y_b`` (non-empty)
label        float   observed P(a ≻ b) in [0, 1]; 1.0 = ``response_a`` preferred
p_true       float   optional: ground-truth P(a ≻ b) (synthetic data)
source       str     where the row came from (file name or generator), always present
============ ======= =============================================================================

Other columns (ids, ``swapped``, scores, ...) are kept as they are.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("prompt", "response_a", "response_b", "label")
TEXT_COLUMNS = ("prompt", "response_a", "response_b")


class ComparisonsError(ValueError):
    """A comparison dataset is malformed (the message names the problem, and file/line/field if known)."""


def _validate_frame(df: pd.DataFrame, where: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ComparisonsError(f"{where}: missing column(s) {missing}; have {list(df.columns)}")
    for col in TEXT_COLUMNS:
        bad = ~df[col].map(lambda v: isinstance(v, str) and v.strip() != "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ComparisonsError(
                f"{where}: column {col!r} must hold non-empty strings; row {i} has {df[col].iloc[i]!r}"
                f" ({int(bad.sum())} bad row(s) in all)"
            )
    for col in ("label", "p_true"):
        if col not in df.columns:
            continue
        vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(vals) | (vals < 0.0) | (vals > 1.0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ComparisonsError(
                f"{where}: column {col!r} must be a float in [0, 1]; row {i} has {df[col].iloc[i]!r}"
            )


@dataclasses.dataclass(frozen=True, eq=False)
class Comparisons:
    """Pairwise comparisons ``(prompt, response_a, response_b, label)``; see the module docstring.

    Build one with `Comparisons.from_frame` (validates) or the loaders / generators in this package.
    ``skipped`` and ``skip_reasons`` report records dropped by a loader with ``on_error="skip"``;
    ``info`` holds provenance (format, files, side-randomization seed, generator parameters).
    """

    frame: pd.DataFrame
    skipped: int = 0
    skip_reasons: tuple[str, ...] = ()
    info: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", dict(self.info))  # a private copy (plain dict: picklable)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        source: str | None = None,
        *,
        skipped: int = 0,
        skip_reasons: Sequence[str] = (),
        info: Mapping[str, Any] | None = None,
    ) -> Comparisons:
        """Validate ``df`` and wrap a copy. ``source`` fills the ``source`` column where it is missing."""
        if not isinstance(df, pd.DataFrame):
            raise ComparisonsError(f"from_frame expects a pandas DataFrame, got {type(df).__name__}")
        where = f"Comparisons.from_frame(source={source!r})"
        _validate_frame(df, where)
        out = df.reset_index(drop=True).copy()
        out["label"] = pd.to_numeric(out["label"]).astype(float)
        if "p_true" in out.columns:
            out["p_true"] = pd.to_numeric(out["p_true"]).astype(float)
        if "source" not in out.columns:
            out["source"] = source if source is not None else "unknown"
        elif source is not None:
            out["source"] = out["source"].fillna(source)
        order = [c for c in (*REQUIRED_COLUMNS, "p_true", "source") if c in out.columns]
        out = out[order + [c for c in out.columns if c not in order]]
        return cls(out, skipped=int(skipped), skip_reasons=tuple(skip_reasons), info=dict(info or {}))

    @classmethod
    def concat(cls, parts: Sequence[Comparisons]) -> Comparisons:
        """Stack several datasets (skip counts add up)."""
        if not parts:
            raise ComparisonsError("Comparisons.concat needs at least one dataset")
        df = pd.concat([p.frame for p in parts], ignore_index=True)
        return cls(
            df,
            skipped=sum(p.skipped for p in parts),
            skip_reasons=tuple(r for p in parts for r in p.skip_reasons),
            info={"parts": [dict(p.info) for p in parts]},
        )

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        src = ", ".join(map(str, self.frame["source"].unique()[:3])) if len(self) else "-"
        return (
            f"Comparisons(n={len(self)}, prompts={self.frame['prompt'].nunique() if len(self) else 0}, "
            f"mean_label={self.labels.mean() if len(self) else float('nan'):.3f}, "
            f"p_true={'p_true' in self.frame.columns}, skipped={self.skipped}, source={src})"
        )

    def to_frame(self) -> pd.DataFrame:
        """A copy of the underlying frame."""
        return self.frame.copy()

    @property
    def prompts(self) -> list[str]:
        return self.frame["prompt"].tolist()

    @property
    def responses_a(self) -> list[str]:
        return self.frame["response_a"].tolist()

    @property
    def responses_b(self) -> list[str]:
        return self.frame["response_b"].tolist()

    @property
    def labels(self) -> np.ndarray:
        """Labels as a float array ``(N,)``."""
        return self.frame["label"].to_numpy(dtype=float)

    @property
    def p_true(self) -> np.ndarray | None:
        """Ground-truth P(a ≻ b) ``(N,)`` when known, else None."""
        return self.frame["p_true"].to_numpy(dtype=float) if "p_true" in self.frame.columns else None

    def _with_frame(self, df: pd.DataFrame, **info: Any) -> Comparisons:
        return Comparisons(df.reset_index(drop=True), skipped=self.skipped, skip_reasons=self.skip_reasons,
                           info={**self.info, **info})

    def subset(self, index: Sequence[int] | np.ndarray) -> Comparisons:
        """Rows at positions ``index``."""
        return self._with_frame(self.frame.iloc[np.asarray(index, dtype=int)])

    def head(self, n: int) -> Comparisons:
        return self._with_frame(self.frame.iloc[: int(n)])

    # ------------------------------------------------------------------ transforms
    def swap(self) -> Comparisons:
        """Exchange ``response_a`` and ``response_b``; ``label -> 1 - label`` (and ``p_true`` likewise).

        Columns named ``*_a`` / ``*_b`` or ``a_*`` / ``b_*`` (ids, scores) are exchanged too; a ``swapped`` column is flipped.
        """
        df = self.frame.copy()
        cols = set(df.columns)
        pairs = [(c, c[:-2] + "_b") for c in df.columns if c.endswith("_a") and c[:-2] + "_b" in cols]
        pairs += [(c, "b_" + c[2:]) for c in df.columns if c.startswith("a_") and "b_" + c[2:] in cols]
        for ca, cb in pairs:
            df[ca], df[cb] = self.frame[cb].to_numpy(), self.frame[ca].to_numpy()
        df["label"] = 1.0 - self.frame["label"].to_numpy(dtype=float)
        if "p_true" in cols:
            df["p_true"] = 1.0 - self.frame["p_true"].to_numpy(dtype=float)
        if "swapped" in cols:
            df["swapped"] = ~self.frame["swapped"].astype(bool)
        return self._with_frame(df)

    def with_both_orders(self) -> Comparisons:
        """The data plus its swapped copy (a symmetrized training set, 2N rows)."""
        return Comparisons.concat([self, self.swap()])

    def split(
        self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> tuple[Comparisons, ...]:
        """Split by prompt (all comparisons of one prompt go to the same part, so no prompt leaks).

        Prompts are shuffled with ``numpy.random.default_rng(seed)`` and cut into consecutive groups
        whose sizes are the rounded ``fractions`` of the number of distinct prompts (every part with a
        positive fraction gets at least one prompt when there are enough; with fewer prompts than
        parts, a `UserWarning` names the empty parts). Returns one `Comparisons`
        per fraction, in the same order; row order inside a part follows the original data.
        """
        fr = np.asarray(fractions, dtype=float)
        if fr.ndim != 1 or len(fr) == 0 or np.any(fr < 0) or not np.isclose(fr.sum(), 1.0):
            raise ComparisonsError(f"split fractions must be >= 0 and sum to 1, got {tuple(fractions)}")
        prompts = pd.unique(self.frame["prompt"])
        n = len(prompts)
        rng = np.random.default_rng(seed)
        perm = prompts[rng.permutation(n)]
        counts = np.floor(fr * n).astype(int)
        # hand out the remaining prompts by largest remainder, then make sure positive parts are non-empty
        rest = n - counts.sum()
        for i in np.argsort(-(fr * n - counts), kind="stable")[:rest]:
            counts[i] += 1
        for i in np.flatnonzero((fr > 0) & (counts == 0)):
            j = int(np.argmax(counts))
            if counts[j] > 1:
                counts[j] -= 1
                counts[i] += 1
        bounds = np.concatenate([[0], np.cumsum(counts)])
        parts = []
        for k in range(len(fr)):
            keep = set(perm[bounds[k]: bounds[k + 1]])
            mask = self.frame["prompt"].isin(keep).to_numpy()
            parts.append(self._with_frame(self.frame[mask], split={"part": k, "fractions": tuple(fr), "seed": seed}))
        empty = [k for k in range(len(fr)) if fr[k] > 0 and len(parts[k]) == 0]
        if empty:
            warnings.warn(f"Comparisons.split: part(s) {empty} of fractions {tuple(fractions)} came out empty: "
                          f"{n} distinct prompt(s) cannot fill {int(np.sum(fr > 0))} parts", stacklevel=2)
        return tuple(parts)
