"""Linear contextual dueling bandits with a KL-regularized target and exact ground truth.

Settings (docs/ALGORITHMS.md, "Contextual bandits"):

* **GSHF** (Xiong et al. 2023, arXiv 2312.11456, Sec. 2): Bradley–Terry preference with a linear reward
  ``r(x, y) = <theta, phi(x, y)>``, ``P(y ≻ y'|x) = sigmoid(r(x, y) - r(x, y'))``; objective
  ``J(pi) = E_x[E_{y~pi} r(x, y) - beta KL(pi(.|x) || pi_0(.|x))]`` (GSHF's ``eta`` is our ``beta``),
  maximized by the Gibbs policy ``pi*(y|x) ∝ pi_0(y|x) exp(r(x, y)/beta)``.
* **Ye et al.** (arXiv 2402.07314, Sec. 2): a general preference
  ``P(y ≻ y'|x) = sigmoid(<theta, psi(x, y, y')>)`` with antisymmetric features
  ``psi = [phi_y - phi_y' ; upper triangle of (phi_y phi_y'^T - phi_y' phi_y^T)]``; the second block makes
  cycles possible (BT is the first block alone). Target: the regularized Nash policy of the game
  ``J(pi, pi') = E_x[P(pi ≻ pi'|x) - beta KL(pi||pi_0) + beta KL(pi'||pi_0)]`` (Ye et al.'s ``1/eta`` is our
  ``beta``), computed per context with the tabular solver :func:`workbench.games.solve`.

Shapes: ``K`` contexts (uniform distribution), ``n`` actions, ``d`` base features, ``D`` parameter
dimension (``d`` for BT, ``d + d(d-1)/2`` for the general model). Policies are ``(*S, K, n)`` with any
leading batch ``S`` (seeds, knobs); every evaluation broadcasts over it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from workbench.device import make_generator
from workbench.games import PreferenceGame, gibbs, kl, solve  # gibbs: re-exported for the bandit lab
from workbench.metrics import duality_gap

__all__ = [
    "BanditEnv", "BanditError", "gibbs", "pair_features", "random_linear", "rare_but_lucky",
    "hidden_good_actions", "MODELS",
]

MODELS = ("bt", "general")


class BanditError(ValueError):
    """Invalid bandit input; the message names the field and the value."""


def pair_features(phi_a: torch.Tensor, phi_b: torch.Tensor, model: str) -> torch.Tensor:
    """Antisymmetric ``psi(a, b)`` (``(..., D)``) from base features ``(..., d)``; ``psi(a, b) = -psi(b, a)``.

    ``bt``: ``phi_a - phi_b``. ``general``: that, then the upper triangle of ``phi_a phi_b^T - phi_b phi_a^T``.
    """
    diff = phi_a - phi_b  # (..., d)
    if model == "bt":
        return diff
    if model != "general":
        raise BanditError(f"model must be one of {MODELS}; got {model!r}")
    d = phi_a.shape[-1]
    iu = torch.triu_indices(d, d, offset=1, device=phi_a.device)
    outer = phi_a[..., :, None] * phi_b[..., None, :]  # (..., d, d)
    anti = outer - outer.transpose(-1, -2)
    return torch.cat([diff, anti[..., iu[0], iu[1]]], -1)  # (..., D)


@dataclass(frozen=True)
class BanditEnv:
    """A finite contextual dueling bandit with a ground-truth preference.

    Attributes:
        phi: ``(K, n, d)`` features ``phi(x, y)``.
        mu: ``(K, n)`` reference policy ``pi_0`` (strictly positive).
        beta: KL strength (GSHF ``eta``; Ye et al. ``1/eta``).
        theta: ``(D,)`` true parameter (reward weights for ``bt``; ``psi`` weights for ``general``).
        model: ``"bt"`` or ``"general"``.
        name: label for tables and plots.
    """

    phi: torch.Tensor
    mu: torch.Tensor
    beta: float
    theta: torch.Tensor
    model: str = "bt"
    name: str = "bandit"

    def __post_init__(self):
        if self.model not in MODELS:
            raise BanditError(f"model must be one of {MODELS}; got {self.model!r}")
        if self.phi.ndim != 3:
            raise BanditError(f"phi must be (K, n, d); got shape {tuple(self.phi.shape)}")
        if self.mu.shape != self.phi.shape[:2]:
            raise BanditError(f"mu must be (K, n) = {tuple(self.phi.shape[:2])}; got {tuple(self.mu.shape)}")
        if (self.mu <= 0).any() or ((self.mu.sum(-1) - 1).abs() > 1e-6).any():
            raise BanditError("mu must be strictly positive and sum to 1 in every context")
        if not self.beta > 0:
            raise BanditError(f"beta must be > 0; got {self.beta}")
        if self.theta.shape != (self.dim,):
            raise BanditError(f"theta must have D = {self.dim} entries for model {self.model!r}; got {tuple(self.theta.shape)}")

    # ------------------------------------------------------------------ shapes
    @property
    def n_contexts(self) -> int:
        return self.phi.shape[0]

    @property
    def n_actions(self) -> int:
        return self.phi.shape[1]

    @property
    def d(self) -> int:
        return self.phi.shape[2]

    @property
    def dim(self) -> int:
        """Parameter dimension ``D`` of the true model."""
        return self.dim_of(self.model)

    def dim_of(self, model: str) -> int:
        return self.d if model == "bt" else self.d + self.d * (self.d - 1) // 2

    def with_(self, **changes) -> "BanditEnv":
        return replace(self, **changes)

    # ------------------------------------------------------------------ model quantities
    def psi(self, model: str | None = None) -> torch.Tensor:
        """All pair features ``psi(x, y, y')``, ``(K, n, n, D)``."""
        return pair_features(self.phi[:, :, None, :], self.phi[:, None, :, :], model or self.model)

    def preference(self, theta: torch.Tensor | None = None, model: str | None = None) -> torch.Tensor:
        """``P_theta(y ≻ y'|x)`` for parameters ``theta`` ``(*S, D)``: ``(*S, K, n, n)`` (default: the truth)."""
        model = model or self.model
        theta = self.theta if theta is None else theta
        if model == "bt":
            r = self.reward(theta)  # (*S, K, n)
            return torch.sigmoid(r[..., :, None] - r[..., None, :])
        logits = torch.einsum("kabd,...d->...kab", self.psi(model), theta)
        return torch.sigmoid(logits)

    def reward(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        """Linear reward ``<theta[:d], phi(x, y)>``, ``(*S, K, n)`` (the BT part of any model)."""
        theta = self.theta if theta is None else theta
        return torch.einsum("knd,...d->...kn", self.phi, theta[..., : self.d])

    def game(self, theta: torch.Tensor | None = None, model: str | None = None) -> PreferenceGame:
        """The per-context preference game(s), batch ``(*S, K)``."""
        P = self.preference(theta, model)
        beta = torch.full(P.shape[:-2], float(self.beta), dtype=P.dtype, device=P.device)
        return PreferenceGame(P=P, mu=self.mu.expand(*P.shape[:-1]).contiguous(), beta=beta)

    # ------------------------------------------------------------------ ground truth
    def optimal_policy(self) -> torch.Tensor:
        """``(K, n)``: the Gibbs policy ``pi_0 exp(r/beta)`` (bt) or the regularized Nash policy (general)."""
        if self.model == "bt":
            return gibbs(self.mu, self.reward(), self.beta)
        return solve(self.game())

    def value(self, pi: torch.Tensor) -> torch.Tensor:
        """GSHF objective ``J(pi) = E_x[<pi, r> - beta KL(pi||pi_0)]``, shape ``S`` (uses the BT reward)."""
        return ((pi * self.reward()).sum(-1) - self.beta * kl(pi, self.mu)).mean(-1)

    def suboptimality(self, pi: torch.Tensor) -> torch.Tensor:
        """``J(pi*) - J(pi) >= 0`` (bt setting), shape ``S``."""
        return self.value(self.optimal_policy()) - self.value(pi)

    def nash_gap(self, pi: torch.Tensor) -> torch.Tensor:
        """Duality gap of ``(pi, pi)`` in the true regularized game, averaged over contexts; shape ``S``."""
        return duality_gap(self.game(), pi).mean(-1)

    def gap(self, pi: torch.Tensor) -> torch.Tensor:
        """The setting's target metric: suboptimality (bt) or Nash duality gap (general); shape ``S``."""
        return self.suboptimality(pi) if self.model == "bt" else self.nash_gap(pi)


# ---------------------------------------------------------------------- instances
def _unit_rows(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def random_linear(
    n_contexts: int = 10,
    n_actions: int = 8,
    dim: int = 4,
    beta: float = 0.1,
    model: str = "bt",
    reward_scale: float = 3.0,
    intransitivity: float = 0.0,
    seed: int = 0,
    dtype=torch.float64,
) -> BanditEnv:
    """Benign regime: Gaussian unit-norm features spanning every direction, ``pi_0`` uniform.

    ``theta`` has norm ``reward_scale`` on the BT block; for ``model="general"`` the antisymmetric block has
    norm ``intransitivity * reward_scale`` (0 = a BT truth written in the general model).
    """
    if model not in MODELS:
        raise BanditError(f"model must be one of {MODELS}; got {model!r}")
    g = make_generator(seed)  # sample on CPU: the same seed gives the same instance on every device
    phi = _unit_rows(torch.randn(n_contexts, n_actions, dim, generator=g, dtype=dtype))  # (K, n, d)
    theta = reward_scale * _unit_rows(torch.randn(dim, generator=g, dtype=dtype))
    if model == "general":
        m = dim * (dim - 1) // 2
        cyc = _unit_rows(torch.randn(m, generator=g, dtype=dtype)) if m else torch.zeros(0, dtype=dtype)
        theta = torch.cat([theta, intransitivity * reward_scale * cyc])
    mu = torch.full((n_contexts, n_actions), 1.0 / n_actions, dtype=dtype)
    return BanditEnv(phi, mu, beta, theta, model, f"random_linear(d={dim}, {model})")


def rare_but_lucky(
    n_arms: int = 30,
    beta: float = 0.1,
    good_reward: float = 1.0,
    spread: float = 0.5,
    model: str = "bt",
    seed: int = 0,
    dtype=torch.float64,
) -> BanditEnv:
    """One context, ``n_arms`` one-hot arms: arm 0 has reward ``good_reward``, the others uniform in
    ``[0, spread]``. With a dataset that covers arm 0 well but sees every other arm a handful of times, a
    rarely compared arm that won its few duels looks best to the MLE ("rare but lucky")."""
    g = make_generator(seed)  # sample on CPU: the same seed gives the same instance on every device
    phi = torch.eye(n_arms, dtype=dtype)[None]  # (1, n, n)
    r = torch.rand(n_arms, generator=g, dtype=dtype) * spread
    r[0] = good_reward
    theta = r
    if model == "general":
        theta = torch.cat([r, torch.zeros(n_arms * (n_arms - 1) // 2, dtype=dtype)])
    mu = torch.full((1, n_arms), 1.0 / n_arms, dtype=dtype)
    return BanditEnv(phi, mu, beta, theta, model, f"rare_but_lucky(n={n_arms})")


def hidden_good_actions(
    n_contexts: int = 10,
    n_actions: int = 8,
    dim: int = 4,
    beta: float = 0.1,
    ref_mass: float = 0.01,
    good_reward: float = 2.0,
    model: str = "bt",
    reward_scale: float = 1.0,
    intransitivity: float = 0.0,
    seed: int = 0,
    dtype=torch.float64,
) -> BanditEnv:
    """Exploration regime: in every context action 0 is the good one, with feature ``e_d`` (a direction no
    other action has) and reward ``good_reward``; the other actions have unit features in the first
    ``d - 1`` coordinates and rewards of size ``<= reward_scale``. The reference ``pi_0`` gives action 0
    mass ``ref_mass``: comparisons among ``pi_0``-likely actions never identify ``theta_d``, so a learner
    that only exploits its current estimate keeps ignoring action 0; the enhancer's uncertainty points at it.
    ``model="general"`` adds an antisymmetric block of norm ``intransitivity * reward_scale``."""
    if model not in MODELS:
        raise BanditError(f"model must be one of {MODELS}; got {model!r}")
    if dim < 2:
        raise BanditError(f"hidden_good_actions needs dim >= 2; got {dim}")
    g = make_generator(seed)  # sample on CPU: the same seed gives the same instance on every device
    phi = torch.zeros(n_contexts, n_actions, dim, dtype=dtype)
    phi[:, 1:, : dim - 1] = _unit_rows(torch.randn(n_contexts, n_actions - 1, dim - 1, generator=g, dtype=dtype))
    phi[:, 0, dim - 1] = 1.0
    theta = torch.zeros(dim, dtype=dtype)
    theta[: dim - 1] = reward_scale * _unit_rows(torch.randn(dim - 1, generator=g, dtype=dtype))
    theta[dim - 1] = good_reward
    if model == "general":
        m = dim * (dim - 1) // 2
        theta = torch.cat([theta, intransitivity * reward_scale * _unit_rows(torch.randn(m, generator=g, dtype=dtype))])
    mu = torch.full((n_contexts, n_actions), (1 - ref_mass) / (n_actions - 1), dtype=dtype)
    mu[:, 0] = ref_mass
    return BanditEnv(phi, mu, beta, theta, model, f"hidden_good_actions(ref_mass={ref_mass:g}, {model})")
