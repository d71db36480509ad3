"""Preference models ``P(a ≻ b | x)`` on top of a text backbone (:mod:`workbench.prefmodels.backbones`).

Every model returns a logit ``z(x, a, b)`` with ``P(a ≻ b | x) = sigmoid(z)`` and is antisymmetric
**by construction**, ``z(x, a, b) = -z(x, b, a)``, so ``P(a ≻ b) + P(b ≻ a) = 1`` up to float rounding
(checked to 1e-6 in the tests).

* :class:`BTRewardModel` - Bradley-Terry (Bradley & Terry 1952; the RLHF reward model of Ouyang et al.
  2022): a scalar reward ``r(x, y) = w^T e(x, y)`` and ``z = r(x, a) - r(x, b)``. Transitive: it cannot
  express a cycle ``a ≻ b ≻ c ≻ a``.
* :class:`PairwiseModel` - a general preference model that reads both responses (Munos et al. 2023,
  arXiv 2312.00886, Section 7: ``P(y ≻ y' | x)`` learned directly). ``z = g(x, a, b) - g(x, b, a)`` with
  ``g`` an MLP on ``[e_a, e_b, e_a*e_b, e_a-e_b]`` (``mode="siamese"``: each response embedded once) or
  ``g = w^T e(x [SEP] a [SEP] b)`` (``mode="cross"``: the backbone reads both responses in one text).
  The siamese model adds a skew-bilinear skip term ``u_a·v_b - v_a·u_b`` (``skip_rank``, default 4; 0: the
  bare MLP). Why: ``z`` is odd under the swap and the MLP's inputs other than ``e_a - e_b`` are swap-symmetric
  (``e_a * e_b``) or swap into each other, so at the start, where ``g`` is nearly constant, an interaction
  between the two responses (what a cycle needs) reaches ``z`` only through the curvature of the GELUs.
  Measured on notebook 05's λ = 1 data (quick profile, seeds 0-9): the bare MLP starts with logits ~15x
  smaller than the skew model's, the gradients of two halves of the training set are uncorrelated
  (cosine ~0), and it stayed at ``z ≈ 0`` (accuracy ~½) on 5 of 10 seeds; the skip gives the cycle a
  first-order gradient from step 1 (``tests/test_prefmodels_robust.py``).
* :class:`SkewBilinearModel` - a compact intransitive model, linear time per response: with response
  features ``u = U e, v = V e`` (rank ``k``) and reward ``r = w^T e``,

      z(x, a, b) = e_a^T (U^T V - V^T U) e_b + r_a - r_b = u_a·v_b - v_a·u_b + r_a - r_b,

  a low-rank skew-symmetric bilinear form plus a BT part (the "general preference embedding" idea of
  Zhang et al. 2024, arXiv 2410.02197). Rank 1 already expresses rock-paper-scissors.

All models embed ``join(prompt, response)`` texts with the backbone; ``logit`` takes lists of strings and
is batched; ``matrix(prompt, responses)`` returns the ``(n, n)`` preference matrix over candidate
responses (one backbone pass per response for the siamese models).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from workbench.prefmodels.backbones import Backbone


class PreferenceModel(nn.Module):
    """Base class: ``logit(prompts, a, b) -> (B,)``, ``prob = sigmoid(logit)``."""

    kind: str = "base"

    def __init__(self, backbone: Backbone):
        super().__init__()
        self.backbone = backbone

    # -- to implement
    def head_config(self) -> dict[str, Any]:
        return {}

    def logit(self, prompts: list[str], responses_a: list[str], responses_b: list[str]) -> torch.Tensor:
        raise NotImplementedError

    # -- shared
    def forward(self, prompts, responses_a, responses_b) -> torch.Tensor:
        return self.logit(prompts, responses_a, responses_b)

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        """``P(a ≻ b | x)``, ``(B,)``."""
        return torch.sigmoid(self.logit(prompts, responses_a, responses_b))

    def _check(self, prompts, a, b) -> None:
        if not (len(prompts) == len(a) == len(b)):
            raise ValueError(f"{type(self).__name__}: prompts/responses_a/responses_b lengths differ: {len(prompts)}, {len(a)}, {len(b)}")

    def _embed_pairs(self, prompts, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings of ``x+a`` and ``x+b`` from one backbone call: ``(B, H), (B, H)``."""
        self._check(prompts, a, b)
        texts = [self.backbone.join(x, y) for x, y in zip(prompts, a)] + [self.backbone.join(x, y) for x, y in zip(prompts, b)]
        e = self.backbone.embed(texts)  # (2B, H)
        B = len(prompts)
        return e[:B], e[B:]

    def embed_responses(self, prompt: str, responses: list[str]) -> torch.Tensor:
        """``(n, H)`` embeddings of ``prompt + response`` for each candidate."""
        return self.backbone.embed([self.backbone.join(prompt, y) for y in responses])

    def logit_from_embeddings(self, ea: torch.Tensor, eb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def matrix(self, prompt: str, responses: list[str]) -> torch.Tensor:
        """``(n, n)`` matrix ``P[i, j] = P(y_i ≻ y_j | x)`` (diagonal exactly 1/2)."""
        n = len(responses)
        e = self.embed_responses(prompt, responses)  # (n, H)
        ea = e.unsqueeze(1).expand(n, n, -1).reshape(n * n, -1)  # (n*n, H)
        eb = e.unsqueeze(0).expand(n, n, -1).reshape(n * n, -1)  # (n*n, H)
        z = self.logit_from_embeddings(ea, eb).reshape(n, n)  # (n, n)
        z = 0.5 * (z - z.T)  # exact antisymmetry on the full matrix (already so up to rounding)
        return torch.sigmoid(z)


class BTRewardModel(PreferenceModel):
    """Bradley-Terry reward model: ``z = r(x, a) - r(x, b)``, ``r = w^T e(x, y) + c``."""

    kind = "bt"

    def __init__(self, backbone: Backbone):
        super().__init__(backbone)
        self.reward_head = nn.Linear(backbone.hidden_size, 1)

    def reward(self, prompts: list[str], responses: list[str]) -> torch.Tensor:
        """Scalar rewards ``r(x, y)``, ``(B,)``."""
        e = self.backbone.embed([self.backbone.join(x, y) for x, y in zip(prompts, responses)])  # (B, H)
        return self.reward_head(e).squeeze(-1)  # (B,)

    def logit_from_embeddings(self, ea, eb):
        return self.reward_head(ea).squeeze(-1) - self.reward_head(eb).squeeze(-1)  # (B,)

    def logit(self, prompts, responses_a, responses_b):
        ea, eb = self._embed_pairs(prompts, responses_a, responses_b)
        return self.logit_from_embeddings(ea, eb)


class PairwiseModel(PreferenceModel):
    """General pairwise model, antisymmetric by construction: ``z = g(x, a, b) - g(x, b, a)``."""

    kind = "pairwise"

    def __init__(self, backbone: Backbone, hidden: int = 128, mode: str = "siamese", skip_rank: int = 4):
        super().__init__(backbone)
        if mode not in ("siamese", "cross"):
            raise ValueError(f"PairwiseModel: mode must be 'siamese' or 'cross', got {mode!r}")
        if isinstance(skip_rank, bool) or not isinstance(skip_rank, int) or skip_rank < 0:
            raise ValueError(f"PairwiseModel: skip_rank must be an integer >= 0, got {skip_rank!r}")
        H = backbone.hidden_size
        self.hidden = int(hidden)
        self.mode = mode
        self.skip_rank = skip_rank if mode == "siamese" else 0
        d_in = 4 * H if mode == "siamese" else H
        self.g = nn.Sequential(nn.Linear(d_in, self.hidden), nn.GELU(), nn.Linear(self.hidden, self.hidden), nn.GELU(), nn.Linear(self.hidden, 1))
        if self.skip_rank:  # skew-bilinear skip u_a·v_b - v_a·u_b: a first-order path for cycles (see the module doc)
            self.U = nn.Linear(H, self.skip_rank, bias=False)
            self.V = nn.Linear(H, self.skip_rank, bias=False)

    def head_config(self):
        return {"hidden": self.hidden, "mode": self.mode, "skip_rank": self.skip_rank}

    def _g(self, ea, eb):
        return self.g(torch.cat([ea, eb, ea * eb, ea - eb], dim=-1)).squeeze(-1)  # (B,)

    def logit_from_embeddings(self, ea, eb):
        B = ea.shape[0]
        g = self._g(torch.cat([ea, eb]), torch.cat([eb, ea]))  # (2B,): g(a,b) then g(b,a)
        z = g[:B] - g[B:]  # (B,)
        if self.skip_rank:
            z = z + (self.U(ea) * self.V(eb)).sum(-1) - (self.V(ea) * self.U(eb)).sum(-1)  # (B,)
        return z

    def logit(self, prompts, responses_a, responses_b):
        if self.mode == "siamese":
            ea, eb = self._embed_pairs(prompts, responses_a, responses_b)
            return self.logit_from_embeddings(ea, eb)
        self._check(prompts, responses_a, responses_b)
        j = self.backbone.join
        texts = [j(x, a, b) for x, a, b in zip(prompts, responses_a, responses_b)]
        texts += [j(x, b, a) for x, a, b in zip(prompts, responses_a, responses_b)]
        g = self.g(self.backbone.embed(texts)).squeeze(-1)  # (2B,)
        B = len(prompts)
        return g[:B] - g[B:]

    def matrix(self, prompt, responses):
        if self.mode == "siamese":
            return super().matrix(prompt, responses)
        n = len(responses)
        ia, ib = torch.triu_indices(n, n, offset=1)
        z = self.logit([prompt] * len(ia), [responses[i] for i in ia], [responses[i] for i in ib])
        Z = torch.zeros(n, n, device=z.device, dtype=z.dtype)
        Z[ia, ib] = z
        Z[ib, ia] = -z
        return torch.sigmoid(Z)


class SkewBilinearModel(PreferenceModel):
    """``z = u_a·v_b - v_a·u_b + r_a - r_b``: low-rank skew-symmetric form + BT reward (rank ``k``)."""

    kind = "skew"

    def __init__(self, backbone: Backbone, rank: int = 4, use_reward: bool = True):
        super().__init__(backbone)
        H = backbone.hidden_size
        self.rank = int(rank)
        self.use_reward = bool(use_reward)
        self.U = nn.Linear(H, self.rank, bias=False)
        self.V = nn.Linear(H, self.rank, bias=False)
        self.reward_head = nn.Linear(H, 1) if self.use_reward else None

    def head_config(self):
        return {"rank": self.rank, "use_reward": self.use_reward}

    def features(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-response ``(u, v, r)``: ``(B, k), (B, k), (B,)`` - everything a pair needs, linear in B."""
        r = self.reward_head(e).squeeze(-1) if self.reward_head is not None else e.new_zeros(e.shape[0])
        return self.U(e), self.V(e), r

    def logit_from_embeddings(self, ea, eb):
        ua, va, ra = self.features(ea)
        ub, vb, rb = self.features(eb)
        return (ua * vb).sum(-1) - (va * ub).sum(-1) + ra - rb  # (B,)

    def logit(self, prompts, responses_a, responses_b):
        ea, eb = self._embed_pairs(prompts, responses_a, responses_b)
        return self.logit_from_embeddings(ea, eb)

    def matrix(self, prompt, responses):
        u, v, r = self.features(self.embed_responses(prompt, responses))  # (n, k), (n, k), (n,)
        z = u @ v.T - v @ u.T + r[:, None] - r[None, :]  # (n, n), exactly skew up to rounding
        return torch.sigmoid(0.5 * (z - z.T))


MODEL_CLASSES = {cls.kind: cls for cls in (BTRewardModel, PairwiseModel, SkewBilinearModel)}


def build_model(kind: str, backbone: Backbone, seed: int = 0, **head) -> PreferenceModel:
    """``kind`` in ``{"bt", "pairwise", "skew"}``; head weights initialised from ``seed``."""
    if kind not in MODEL_CLASSES:
        raise ValueError(f"build_model: unknown model kind {kind!r}; choose one of {sorted(MODEL_CLASSES)}")
    state = torch.random.get_rng_state()
    try:  # nn.Linear init uses the global RNG: seed locally, restore afterwards
        torch.manual_seed(seed)
        model = MODEL_CLASSES[kind](backbone, **head)
    finally:
        torch.random.set_rng_state(state)
    return model.to(backbone.device)
