"""Judges for the LLM lab, all through the :class:`workbench.prefmodels.Judge` interface
(``prob(prompts, responses_a, responses_b) -> (B,)``), plus a ``reward`` for the RLHF / best-of-n baselines.

* :class:`OracleJudge`: the exact programmatic preference of an :class:`~workbench.llm.task.RPSTask`
  (a table lookup; deterministic; intransitive when the task's ``intransitivity > 0``).
* :class:`RewardJudge`: a Bradley–Terry judge ``P(a ≻ b) = sigmoid(r(a) - r(b))`` from any reward
  function; :func:`bt_oracle_judge` builds it from the BT projection of the oracle (the maximum-likelihood
  BT rewards of ``P``, :func:`workbench.games.fit_bradley_terry`), the reward model an RLHF pipeline would
  learn from infinite oracle data. A trained ``BTRewardModel`` (notebook 05) plugs in through
  :func:`model_reward_judge`.
* A trained general preference model of notebook 05: :class:`workbench.prefmodels.ModelJudge` as is.

Every judge counts its calls in ``queries`` (one per compared pair, one per rewarded response), the cost
axis the trainers report.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from workbench.games.bradley_terry_fit import fit_bradley_terry
from workbench.llm.task import RPSTask


class OracleJudge:
    """``P_x(a ≻ b)`` of the task's oracle by table lookup, ``(B,)`` float32; texts outside the task raise."""

    def __init__(self, task: RPSTask):
        self.task = task
        self.P = task.preference_matrix().float()  # (X, n, n)
        self.queries = 0

    def prob(self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str]) -> torch.Tensor:
        x = self.task.prompt_index(prompts)  # (B,)
        a, b = self.task.index(responses_a), self.task.index(responses_b)  # (B,)
        self.queries += len(x)
        return self.P[x, a, b]


class RewardJudge:
    """A Bradley–Terry judge from a reward function ``reward(prompts, responses) -> (B,)``."""

    def __init__(self, reward: Callable[[Sequence[str], Sequence[str]], torch.Tensor]):
        self._reward = reward
        self.queries = 0

    def reward(self, prompts: Sequence[str], responses: Sequence[str]) -> torch.Tensor:
        self.queries += len(prompts)
        return self._reward(prompts, responses).float()

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        B = len(prompts)
        r = self._reward(list(prompts) * 2, list(responses_a) + list(responses_b)).float()  # (2B,): one batched call
        self.queries += B
        return torch.sigmoid(r[:B] - r[B:])


def bt_oracle_rewards(task: RPSTask) -> torch.Tensor:
    """Maximum-likelihood BT rewards of the oracle's ``P`` (uniform pair weights), ``(X, n)`` float64."""
    return fit_bradley_terry(task.preference_matrix()).rewards


def bt_oracle_judge(task: RPSTask) -> RewardJudge:
    """The BT projection of the task's oracle as a reward judge (the RLHF baseline's reward model)."""
    r = bt_oracle_rewards(task).float()  # (X, n)
    return RewardJudge(lambda prompts, responses: r[task.prompt_index(prompts), task.index(responses)])


def model_reward_judge(model) -> RewardJudge:
    """A reward judge from a trained :class:`workbench.prefmodels.BTRewardModel` (its ``reward``)."""
    def reward(prompts, responses):
        with torch.no_grad():
            return model.reward(list(prompts), list(responses)).detach().cpu()
    return RewardJudge(reward)
