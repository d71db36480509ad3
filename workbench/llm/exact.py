"""Exact ground truth for a neural policy on an enumerable task: its full distribution, the game, the metrics.

On :class:`~workbench.llm.task.RPSTask` every response can be listed, so one batched forward gives the
policy's exact sequence distribution ``pi(. | x)`` ``(X, n)``. With the oracle ``P`` and ``mu`` = the
reference model's exact distribution, the KL-regularized preference game is a tabular
:class:`~workbench.games.PreferenceGame`; :func:`workbench.games.solve` gives ``pi*_beta`` and
:mod:`workbench.metrics` scores the neural policy with the same numbers the tabular lab reports
(regularized exploitability, ``KL(pi* || pi)``, win rate and KL against ``mu``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench import metrics
from workbench.games.game import PreferenceGame
from workbench.games.solvers import solve
from workbench.llm.policy import Policy
from workbench.llm.sampling import mixture_logprobs
from workbench.llm.task import RPSTask


def task_prompts(policy: Policy, task: RPSTask) -> list[str]:
    """The prompt texts a policy is asked: the chat wording for an instruction-tuned model."""
    return task.chat_prompts() if policy.chat else task.prompts


def _batch(policy: Policy, task: RPSTask):
    """Every (prompt, response) pair as ids: prompts ``(X*n, Tp)``, responses ``(X*n, L)`` (prompt-major)."""
    prompt_ids, prompt_mask = policy.encode_prompts(task_prompts(policy, task))  # (X, Tp)
    words = policy.word_ids(task.words)  # (3,)
    resp = words[task.moves().to(words.device)]  # (n, L)
    X, n = task.n_prompts, task.n
    return (prompt_ids.repeat_interleave(n, 0), prompt_mask.repeat_interleave(n, 0),
            resp.repeat(X, 1), torch.ones_like(resp).repeat(X, 1))


def enumerate_logprobs(
    policy: Policy,
    task: RPSTask,
    *,
    reference: bool = False,
    mixture: float | None = None,
    weights: dict[str, torch.Tensor] | None = None,
    grad: bool = False,
    batch_size: int = 512,
) -> torch.Tensor:
    """Exact ``log pi(y | x)`` of every task response, ``(X, n)`` (float32, on the policy's device).

    ``reference=True`` gives ``mu``; ``mixture=m`` the token-level geometric mixture of
    :mod:`workbench.llm.sampling` (``m`` weights the reference); ``weights`` a snapshot of the policy.
    The policy must be constrained to the task's words (``policy.constrain(task.words)``)."""
    if policy.allowed is None:
        policy.constrain(task.words)
    p_ids, p_mask, r_ids, r_mask = _batch(policy, task)
    out = []
    for s in range(0, r_ids.shape[0], batch_size):
        batch = (p_ids[s:s + batch_size], p_mask[s:s + batch_size], r_ids[s:s + batch_size], r_mask[s:s + batch_size])
        with torch.enable_grad() if grad else torch.no_grad():
            if mixture is None:
                logp = policy.response_logprobs(*batch, reference=reference, weights=weights, vocab=True)  # (b, L, V)
            else:
                lp_pi = policy.response_logprobs(*batch, weights=weights, vocab=True)  # (b, L, V)
                lp_mu = policy.response_logprobs(*batch, reference=True, vocab=True)  # (b, L, V)
                logp = mixture_logprobs(lp_pi, lp_mu, mixture)  # (b, L, V)
            tok = torch.gather(logp, -1, batch[2].unsqueeze(-1)).squeeze(-1)  # (b, L)
        out.append(tok.sum(-1))
    return torch.cat(out).reshape(task.n_prompts, task.n)  # (X, n)


@dataclass
class ExactEvaluator:
    """The regularized game of an enumerable task and its solution, to score neural policies exactly.

    ``game``: oracle ``P`` ``(X, n, n)``, ``mu`` the reference's exact distribution, ``beta``;
    ``pi_star``: the regularized Nash equilibrium ``(X, n)``."""

    task: RPSTask
    game: PreferenceGame
    pi_star: torch.Tensor

    @classmethod
    def build(cls, policy: Policy, task: RPSTask, beta: float) -> "ExactEvaluator":
        mu = enumerate_logprobs(policy, task, reference=True).double().exp().cpu()  # (X, n)
        game = task.game(mu, beta)
        return cls(task, game, solve(game))

    def distribution(self, policy: Policy, weights=None) -> torch.Tensor:
        """The policy's exact distribution over the task's responses, ``(X, n)`` float64 on CPU."""
        pi = enumerate_logprobs(policy, self.task, weights=weights).double().exp().cpu()
        return pi / pi.sum(-1, keepdim=True)  # remove float32 round-off of the normalisation

    def evaluate(self, pi: torch.Tensor) -> dict[str, float]:
        """The tabular lab's metrics of ``pi`` ``(X, n)``, averaged over prompts: ``reg_exploitability``,
        ``exploitability``, ``win_rate_vs_mu``, ``kl_to_mu``, ``kl_to_eq``, ``span_log_ratio``."""
        pi = metrics.check_distribution(pi, tuple(self.pi_star.shape), where="ExactEvaluator.evaluate")
        out = metrics.evaluate(self.game, pi.to(self.game.P), self.pi_star)
        return {k: float(v.mean()) for k, v in out.items()}

    def score(self, policy: Policy, weights=None) -> dict[str, float]:
        return self.evaluate(self.distribution(policy, weights))
