"""The KL term of a Nash-MD step, ours against TRL's per-token weighting, by exact expectation on the enumerable task.

Both estimate the gradient of ``beta KL(pi || mu)`` by the score function from ``y ~ pi``:

* ours (:func:`workbench.llm.losses.pg_advantage`): the sequence's log-ratio weights the sequence's score,
  ``(sum_s r_s) * sum_t grad log pi_t`` with ``r_t = log pi(y_t | y_<t) - log mu(y_t | y_<t)``; since
  ``E[grad log pi(y)] = 0`` its expectation is ``grad KL`` exactly;
* TRL 1.13's ``NashMDTrainer._compute_losses`` (re-implemented here from its source, trl is not imported):
  ``kl_div_loss = (log_ratio * model_logprobs).sum(1)``, each token's log-ratio weighting that token's score only,
  ``sum_t r_t grad log pi_t``. The dropped cross terms ``E[r_s grad log pi_t]`` vanish for ``s < t`` (a past
  ratio times a future score) but not for ``s > t`` (a token's score times the later tokens' ratios, which
  depend on it), so the expectation is biased unless the tokens are independent.

On the tiny task (3 tokens per response) the expectations are sums over the 27 responses of each prompt
weighted by ``pi``: no sampling, no tolerance for noise.
"""

import pytest
import torch

from workbench.device import make_generator
from workbench.llm.exact import _batch
from workbench.llm.losses import pg_advantage, pg_loss
from workbench.llm.models import TinyLMConfig, load_policy

BETA = 0.1


@pytest.fixture(scope="module")
def lab():
    task = TinyLMConfig().task()
    policy = load_policy("tiny", device="cpu", seed=0).constrain(task.words)
    g = make_generator(1)
    policy.load_snapshot({n: w + 0.3 * torch.randn(w.shape, generator=g) for n, w in policy.snapshot().items()})
    batch = _batch(policy, task)  # every (prompt, response): (X n, Tp), (X n, L)
    tok = policy.response_logprobs(*batch)  # (X n, L) log pi(y_t | x, y_<t), with grad
    tok_mu = policy.response_logprobs(*batch, reference=True)  # (X n, L)
    pi = tok.sum(-1).detach().exp().reshape(task.n_prompts, task.n)  # (X, n)
    return task, policy, [p for _, p in policy.trainable()], tok, tok_mu, pi


def grad(loss, params):
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])


def kl_gradients(lab):
    """``(exact, ours, trl)``: the gradient of ``beta mean_x KL(pi || mu)`` and the two estimators' expectations."""
    task, policy, params, tok, tok_mu, pi = lab
    X, n = task.n_prompts, task.n
    w = pi.reshape(-1)  # (X n,) sampling weights pi(y | x), fixed
    seq, seq_mu = tok.sum(-1), tok_mu.sum(-1)  # (X n,)
    exact = grad(BETA * (seq.exp() * (seq - seq_mu)).sum() / X, params)
    # ours: pg_loss with P = 1/2 (the KL part only), each response weighted by pi(y|x) X n / X
    ours = grad(pg_loss(seq, pg_advantage(torch.full_like(seq, 0.5), seq, seq_mu, BETA) * w * n), params)
    r = (tok - tok_mu).detach()  # (X n, L) TRL's log_ratio, under no_grad
    trl = grad(BETA * (w * (r * tok).sum(-1)).sum() / X, params)  # E[beta * kl_div_loss], TRL's per-token weighting
    return exact, ours, trl


def relative(a, b):
    return float((a - b).norm() / b.norm())


def test_our_kl_estimator_is_exact_and_trls_per_token_weighting_is_biased(lab):
    exact, ours, trl = kl_gradients(lab)
    assert relative(ours, exact) < 1e-4, relative(ours, exact)
    bias = relative(trl, exact)
    assert bias > 0.03, f"TRL's per-token KL weighting: {bias:.3f} of the exact KL gradient"  # measured 0.097


def test_per_token_weighting_is_exact_when_tokens_are_independent(lab):
    """With one token per response there are no cross terms: the check is not merely finding a difference."""
    task, policy, params, *_ = lab
    t1 = TinyLMConfig().task(length=1)
    batch = _batch(policy, t1)
    tok, tok_mu = policy.response_logprobs(*batch), policy.response_logprobs(*batch, reference=True)  # (X n, 1)
    pi = tok.sum(-1).detach().exp()  # (X n,)
    seq, seq_mu = tok.sum(-1), tok_mu.sum(-1)
    exact = grad((seq.exp() * (seq - seq_mu)).sum(), params)
    trl = grad((pi * ((tok - tok_mu).detach() * tok).sum(-1)).sum(), params)
    assert relative(trl, exact) < 1e-4
