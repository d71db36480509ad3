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
axis the trainers report. The training loop does not trust a judge's or a trainer's own count: it wraps
the judge in a :class:`CountingJudge` and records what was actually asked (:mod:`workbench.llm.loop`).
A judge's ``identity()`` (kind and a checksum of its tables) enters the loop's checkpoint, so a resume
with another judge is refused (:mod:`workbench.llm.checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import torch

from workbench.llm.checkpoint import tensor_digest

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

    def identity(self) -> dict:
        return {"kind": "OracleJudge", "checksum": tensor_digest([self.P])}


class RewardJudge:
    """A Bradley–Terry judge from a reward function ``reward(prompts, responses) -> (B,)``."""

    def __init__(self, reward: Callable[[Sequence[str], Sequence[str]], torch.Tensor], checksum: str | None = None):
        self._reward = reward
        self.checksum = checksum  # identifies the reward (e.g. a digest of its table) for checkpoints
        self.queries = 0

    def identity(self) -> dict:
        return {"kind": "RewardJudge", "checksum": self.checksum}

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
    return RewardJudge(lambda prompts, responses: r[task.prompt_index(prompts), task.index(responses)],
                       checksum=tensor_digest([r]))


def model_reward_judge(model) -> RewardJudge:
    """A reward judge from a trained :class:`workbench.prefmodels.BTRewardModel` (its ``reward``)."""
    def reward(prompts, responses):
        with torch.no_grad():
            return model.reward(list(prompts), list(responses)).detach().cpu()
    return RewardJudge(reward)



class CountingJudge:
    """The loop's view of a judge: forwards ``prob`` / ``reward`` and counts what is asked, one query per
    compared pair and one per rewarded response (CleanRL's one counter, advanced where the cost happens).
    ``reward`` exists only when the judge has one, so ``hasattr(judge, "reward")`` keeps its meaning."""

    def __init__(self, judge):
        self.judge = judge  # None for a trainer that asks no judge (offline DPO: its comparisons are given)
        self.queries = 0

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        if self.judge is None:
            raise TypeError("train: this trainer asks a judge but judge=None was given")
        self.queries += len(prompts)
        return self.judge.prob(prompts, responses_a, responses_b)

    def __getattr__(self, name):  # reward, task, P, ... of the wrapped judge
        if name == "judge":  # not yet set (copy / unpickling): no recursion
            raise AttributeError(name)
        if name == "reward":
            inner = getattr(self.judge, "reward")  # AttributeError when the judge has none

            def reward(prompts, responses):
                self.queries += len(prompts)
                return inner(prompts, responses)
            return reward
        return getattr(self.judge, name)


class BTModelJudge:
    """A saved Bradley–Terry :class:`workbench.prefmodels.ModelJudge` with its reward exposed: ``prob`` as the
    judge computes it, ``reward(prompts, responses)`` the model's scalar reward (for RLHF / RSO / best-of-n)."""

    def __init__(self, judge):
        self.judge = judge
        self.model = judge.model

    def prob(self, prompts, responses_a, responses_b) -> torch.Tensor:
        return self.judge.prob(prompts, responses_a, responses_b)

    @torch.no_grad()
    def reward(self, prompts, responses) -> torch.Tensor:
        was = self.model.training
        self.model.eval()
        try:
            return self.model.reward(list(prompts), list(responses)).float().cpu()  # (B,)
        finally:
            self.model.train(was)

    def identity(self) -> dict:
        from workbench.prefmodels.persistence import persistent_state

        return {"kind": "ModelJudge/bt", "checksum": tensor_digest(persistent_state(self.model))}


class SequenceRewardJudge(RewardJudge):
    """A scalar reward model in a local ``transformers`` folder (``AutoModelForSequenceClassification`` with
    one label), as a reward judge and its Bradley–Terry ``prob``. The text scored is the prompt and the
    response through the model's chat template (user / assistant turns) when it has one, else the pair
    ``tokenizer(prompt, response)``."""

    def __init__(self, folder: str | os.PathLike, device="cpu", batch_size: int = 32, max_length: int = 512):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from workbench.prefmodels.persistence import file_sha256

        folder = Path(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(folder)).to(device).eval()
        labels = int(getattr(self.model.config, "num_labels", 0))
        if labels != 1:
            raise ValueError(f"load_judge: {folder} is a classifier with {labels} labels; a reward model has one "
                             f"(num_labels=1 in config.json)")
        vocab = self.model.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > vocab:
            raise ValueError(f"load_judge: the tokenizer in {folder} has {len(self.tokenizer)} tokens but the reward "
                             f"model's embedding has {vocab}: they do not match (a tokenizer of another model?)")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.batch_size, self.max_length, self.device = int(batch_size), int(max_length), device
        weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
        super().__init__(self._score, checksum=file_sha256(weights[0]) if weights else None)

    @torch.no_grad()
    def _score(self, prompts, responses) -> torch.Tensor:
        tok, out = self.tokenizer, []
        for s in range(0, len(prompts), self.batch_size):
            p, r = list(prompts[s:s + self.batch_size]), list(responses[s:s + self.batch_size])
            if getattr(tok, "chat_template", None):
                texts = [tok.apply_chat_template([{"role": "user", "content": a}, {"role": "assistant", "content": b}],
                                                 tokenize=False) for a, b in zip(p, r)]
                enc = tok(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            else:
                enc = tok(p, r, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            out.append(self.model(**enc.to(self.device)).logits[:, 0].float().cpu())  # (b,)
        return torch.cat(out) if out else torch.zeros(0)

    def identity(self) -> dict:
        return {"kind": "SequenceRewardJudge", "checksum": self.checksum}


def load_judge(spec: str | os.PathLike, *, task: RPSTask | None = None, device="cpu"):
    """A judge from a command-line spec: ``"oracle"`` / ``"bt"`` (the enumerable task's oracle or its BT
    projection; need ``task``), a folder saved by :meth:`workbench.prefmodels.ModelJudge.save` (``judge.json``;
    a BT model also exposes its ``reward``), or a scalar reward model in a local ``transformers`` folder
    (``config.json``, :class:`SequenceRewardJudge`). Every error names the path and what was expected."""
    if str(spec) in ("oracle", "bt"):
        if task is None:
            raise ValueError(f"load_judge: {spec!r} is the enumerable task's judge; with your own prompts give a judge "
                             f"folder (a saved ModelJudge or a reward model)")
        return OracleJudge(task) if str(spec) == "oracle" else bt_oracle_judge(task)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"load_judge: no judge at {path} (expected 'oracle', 'bt', a saved ModelJudge folder "
                                f"or a reward-model folder)")
    if not path.is_dir():
        raise ValueError(f"load_judge: {path} is a file; a judge is a folder (judge.json from ModelJudge.save, or a "
                         f"transformers reward model with config.json)")
    if (path / "judge.json").exists():
        from workbench.prefmodels import ModelJudge

        judge = ModelJudge.load(path, device=device)
        return BTModelJudge(judge) if judge.model.kind == "bt" else judge
    if (path / "config.json").exists():
        return SequenceRewardJudge(path, device=device)
    raise ValueError(f"load_judge: {path} is not a judge folder: it has neither judge.json (a saved "
                     f"workbench.prefmodels.ModelJudge) nor config.json (a transformers reward model)")
