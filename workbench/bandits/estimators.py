"""Estimators from comparisons: regularized MLE of BT / general preference, covariance, confidence sets.

Both preference models are logistic in a linear function of antisymmetric features ``psi(x, y, y')``
(``z = phi(x, y) - phi(x, y')`` for BT), so one batched Newton solver fits them:

    theta_hat = argmin_theta  sum_i [softplus(<theta, psi_i>) - label_i <theta, psi_i>] + lam/2 ||theta||^2

(GSHF, Xiong et al. 2023, the BT MLE of Sec. 3 / Algorithm 1 line 1; Ye et al. 2024, the MLE of the
preference model in Algorithms 1-2). The papers use the unregularized MLE over a bounded ball
``||theta|| <= B``; we use the ridge penalty ``lam`` instead (same ``lam`` as the covariance), a choice.

Uncertainty: ``Sigma = lam I + sum_i psi_i psi_i^T`` (GSHF's ``Sigma_D``) and the confidence ellipsoid
``{theta : ||theta - theta_hat||_Sigma <= gamma}``. For the general model this ellipsoid stands in for Ye
et al.'s likelihood version space ``{P : L(P_hat) - L(P) <= radius}``: for a logistic model the log-
likelihood ratio is a quadratic form in ``Sigma`` weighted by ``sigmoid'`` (between 1/4 and
``kappa = 1/sigmoid'(B)``), so the two sets are nested up to that constant (a choice; documented in the note).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from workbench.bandits.data import BanditComparisons
from workbench.bandits.env import BanditEnv
from workbench.optim import backtracking, newton_step

__all__ = ["Estimate", "design", "logistic_mle", "gram", "fit", "elliptic_norm", "confidence_radius"]


@dataclass(frozen=True)
class Estimate:
    """A fitted preference model for ``S`` datasets.

    Attributes:
        theta: ``(S, D)`` MLE.
        Sigma: ``(S, D, D)`` regularized Gram matrix ``lam I + sum psi psi^T``.
        model: ``"bt"`` or ``"general"`` (the fitted model, which may differ from the truth).
        nu: ``(S, d)`` reference feature vector (mean ``phi`` of the compared responses; GSHF's ``nu``).
        n: number of comparisons per dataset.
    """

    theta: torch.Tensor
    Sigma: torch.Tensor
    model: str
    nu: torch.Tensor
    n: int

    @property
    def Sigma_inv(self) -> torch.Tensor:
        return torch.linalg.inv(self.Sigma)


def design(env: BanditEnv, data: BanditComparisons, model: str | None = None) -> torch.Tensor:
    """Pair features ``psi(x_i, y_i, y'_i)`` of every comparison, ``(S, N, D)``."""
    psi = env.psi(model or env.model)  # (K, n, n, D)
    return psi[data.x, data.y, data.y_prime]


def gram(Z: torch.Tensor, lam: float) -> torch.Tensor:
    """``lam I + Z^T Z``, ``(S, D, D)`` from ``Z`` ``(S, N, D)``."""
    eye = torch.eye(Z.shape[-1], dtype=Z.dtype, device=Z.device)
    return lam * eye + Z.transpose(-1, -2) @ Z


def _nll(Z, labels, lam, theta):
    s = torch.einsum("snd,sd->sn", Z, theta)  # (S, N)
    return (torch.nn.functional.softplus(s) - labels * s).sum(-1) + 0.5 * lam * (theta**2).sum(-1)


def logistic_mle(
    Z: torch.Tensor, labels: torch.Tensor, lam: float = 1.0, theta0: torch.Tensor | None = None,
    tol: float = 1e-10, max_iter: int = 50,
) -> torch.Tensor:
    """Ridge-regularized logistic regression, batched over ``S``: damped Newton; ``(S, D)``.

    Every problem steps (Armijo backtracking, ``c = 1/4``, :func:`workbench.optim.backtracking`) until all
    Newton decrements are below ``tol``.
    """
    if lam <= 0:
        raise ValueError(f"lam must be > 0 (the MLE may not exist otherwise); got {lam}")
    S, N, D = Z.shape
    labels = labels.to(Z.dtype)
    theta = torch.zeros(S, D, dtype=Z.dtype, device=Z.device) if theta0 is None else theta0.clone()
    eye = torch.eye(D, dtype=Z.dtype, device=Z.device)
    f = _nll(Z, labels, lam, theta)  # (S,)
    for _ in range(max_iter):
        p = torch.sigmoid(torch.einsum("snd,sd->sn", Z, theta))  # (S, N)
        grad = torch.einsum("snd,sn->sd", Z, p - labels) + lam * theta  # (S, D)
        H = torch.einsum("snd,sn,sne->sde", Z, p * (1 - p), Z) + lam * eye  # (S, D, D)
        step = newton_step(H, grad)  # (S, D)
        dec = -(grad * step).sum(-1)  # (S,) Newton decrement^2 >= 0
        if (dec <= tol).all():
            break
        ls = backtracking(lambda th: _nll(Z, labels, lam, th), theta, step, f, -dec, c=0.25, max_halvings=30)
        theta, f = ls.x, ls.f
    return theta


def fit(env: BanditEnv, data: BanditComparisons, model: str | None = None, lam: float = 1.0,
        theta0: torch.Tensor | None = None) -> Estimate:
    """MLE, Gram matrix and reference vector of ``model`` (default: the truth's model) on ``data``."""
    model = model or env.model
    Z = design(env, data, model)  # (S, N, D)
    theta = logistic_mle(Z, data.label, lam, theta0)
    feats = torch.cat([env.phi[data.x, data.y], env.phi[data.x, data.y_prime]], 1)  # (S, 2N, d)
    nu = feats.mean(1) if data.n > 0 else env.phi.mean((0, 1)).expand(data.n_seeds, env.d)
    return Estimate(theta, gram(Z, lam), model, nu, data.n)


def elliptic_norm(v: torch.Tensor, Sigma_inv: torch.Tensor) -> torch.Tensor:
    """``||v||_{Sigma^-1} = sqrt(v^T Sigma^-1 v)`` for ``v`` ``(S, ..., D)`` and ``Sigma_inv`` ``(S, D, D)``."""
    Si = Sigma_inv.reshape(Sigma_inv.shape[0], *([1] * (v.ndim - 2)), *Sigma_inv.shape[1:])
    return torch.einsum("...d,...de,...e->...", v, Si, v).clamp_min(0).sqrt()


def confidence_radius(dim: int, lam: float = 1.0, bound: float = 3.0, delta: float = 0.1) -> float:
    """GSHF's theoretical radius ``C sqrt((d + log(1/delta)) / kappa^2 + lam B^2)`` with ``C = 1`` and
    ``kappa = 1 / (2 + exp(-B) + exp(B))`` (Xiong et al. 2023, Lemma on the MLE confidence set, following
    Zhu et al. 2023). It is loose (large) in practice; the notebooks scale it with a knob."""
    kappa = 1.0 / (2 + math.exp(-bound) + math.exp(bound))
    return math.sqrt((dim + math.log(1 / delta)) / kappa**2 + lam * bound**2)
