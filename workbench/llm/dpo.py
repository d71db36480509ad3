"""DPO: direct preference optimization on a fixed comparison set (Rafailov et al. 2023, arXiv 2305.18290).

For a comparison ``(x, y_a, y_b, l)`` with ``l = P(y_a ≻ y_b | x)`` observed (1 = ``y_a`` preferred, soft
labels allowed), the implicit reward margin and the loss are (Rafailov et al., Eq. 7)

    h = beta * [ (log pi_theta(y_a|x) - log mu(y_a|x)) - (log pi_theta(y_b|x) - log mu(y_b|x)) ],
    loss = -[ l log sigmoid(h) + (1 - l) log sigmoid(-h) ],

the Bradley–Terry log-likelihood of the label with the reward ``beta log(pi_theta / mu)``. GSHF (Xiong et al.
2023, arXiv 2312.11456) reads DPO as "maximum likelihood, then Gibbs": its minimizer over all
policies is the Gibbs policy ``mu exp(r_MLE / beta)`` of the maximum-likelihood BT reward of the data
(:func:`workbench.games.game.gibbs`), so offline DPO is only as good as the comparison set's coverage.

:class:`OfflineDPO` (registered as ``"DPO"``) trains on a FIXED set of comparisons, e.g. one read with
:func:`workbench.prefdata.load_comparisons`; each step draws a minibatch of records with the loop's
generator and costs no new preference query (the set's size is the cost). :func:`rps_comparisons` makes such
a set for the enumerable task (responses from the reference, labels the oracle's Bernoulli draws) and
:func:`rps_comparisons_csv` writes it as CSV and reads it back through :mod:`workbench.prefdata`.

The loss pieces (:func:`dpo_margin`, :func:`dpo_loss`, :func:`draw_labels`, :func:`pair_logprobs`) are
shared by :mod:`workbench.llm.online_dpo` and the RSO-DPO trainer of :mod:`workbench.llm.best_of_n`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import pandas as pd
import torch
import torch.nn.functional as F

from workbench.io import atomic_write_text
from workbench.llm.loop import StepContext, StepOut
from workbench.llm.policy import Policy
from workbench.llm.sampling import Rollout, sample
from workbench.llm.task import RPSTask
from workbench.prefdata import Comparisons, load_comparisons

LABEL_MODES = ("bernoulli", "soft", "hard")


# ---------------------------------------------------------------------------- loss pieces
def dpo_margin(logp_a: torch.Tensor, logp_ref_a: torch.Tensor, logp_b: torch.Tensor, logp_ref_b: torch.Tensor,
               beta: float) -> torch.Tensor:
    """``h = beta [(log pi(y_a) - log mu(y_a)) - (log pi(y_b) - log mu(y_b))]``, ``(B,)`` (grad through pi)."""
    return beta * ((logp_a - logp_ref_a) - (logp_b - logp_ref_b))  # (B,)


def dpo_loss(margin: torch.Tensor, label: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """``-[l log sigmoid(h) + (1 - l) log sigmoid(-h)]`` with ``l = P(y_a ≻ y_b)`` in [0, 1] (hard or soft).

    ``reduction="mean"`` gives a scalar, ``"none"`` the per-pair losses ``(B,)``."""
    label = torch.as_tensor(label).to(margin)
    if label.shape != margin.shape:
        raise ValueError(f"dpo_loss: label shape {tuple(label.shape)} differs from margin shape {tuple(margin.shape)}")
    if label.numel() and not bool(((label >= 0) & (label <= 1)).all()):
        bad = label[~((label >= 0) & (label <= 1))][0]
        raise ValueError(f"dpo_loss: labels must lie in [0, 1] (P(y_a ≻ y_b)); got {float(bad)!r}")
    per = -(label * F.logsigmoid(margin) + (1 - label) * F.logsigmoid(-margin))  # (B,)
    if reduction == "none":
        return per
    if reduction == "mean":
        return per.mean()
    raise ValueError(f"dpo_loss: reduction must be 'mean' or 'none'; got {reduction!r}")


def draw_labels(pref: torch.Tensor, mode: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Labels from the judge's ``P(y_a ≻ y_b)`` ``(B,)``: ``"bernoulli"`` draws ``1[u < P]`` with ``generator``
    (a human's vote), ``"soft"`` keeps ``P`` (same expected gradient, less noise), ``"hard"`` is
    ``1[P > 1/2]`` (1/2 on ties, the reward-ranking label of RSO)."""
    if mode == "bernoulli":
        return torch.bernoulli(pref, generator=generator)  # (B,)
    if mode == "soft":
        return pref
    if mode == "hard":
        return (pref > 0.5).to(pref) + 0.5 * (pref == 0.5).to(pref)  # (B,)
    raise ValueError(f"draw_labels: mode must be one of {LABEL_MODES}; got {mode!r}")


def _right_pad(ids: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return F.pad(ids, (0, width - ids.shape[1]), value=value)  # (B, width)


def pair_rollout(ra: Rollout, rb: Rollout, pad_id: int) -> Rollout:
    """The two sides of ``B`` pairs (same prompts) stacked into one batch of ``2B`` rows (a first, then b)."""
    if ra.prompts != rb.prompts:
        raise ValueError("pair_rollout: both sides of a pair must have the same prompts")
    width = max(ra.response_ids.shape[1], rb.response_ids.shape[1])
    return Rollout(
        ra.prompts + rb.prompts,
        torch.cat([ra.prompt_ids, rb.prompt_ids]), torch.cat([ra.prompt_mask, rb.prompt_mask]),  # (2B, Tp)
        torch.cat([_right_pad(ra.response_ids, width, pad_id), _right_pad(rb.response_ids, width, pad_id)]),
        torch.cat([_right_pad(ra.response_mask, width, 0), _right_pad(rb.response_mask, width, 0)]),  # (2B, Tr)
        ra.responses + rb.responses,
    )


def pair_logprobs(policy: Policy, ra: Rollout, rb: Rollout) -> tuple[torch.Tensor, ...]:
    """``(log pi(y_a), log mu(y_a), log pi(y_b), log mu(y_b))``, each ``(B,)``: one policy forward (grad) and one
    reference forward over the ``2B`` stacked responses."""
    both = pair_rollout(ra, rb, policy.tokenizer.pad_token_id)
    args = (both.prompt_ids, both.prompt_mask, both.response_ids, both.response_mask)
    logp = policy.response_logprobs(*args).sum(-1)  # (2B,)
    logp_ref = policy.response_logprobs(*args, reference=True).sum(-1)  # (2B,)
    B = len(ra)
    return logp[:B], logp_ref[:B], logp[B:], logp_ref[B:]


def dpo_step_out(policy: Policy, ra: Rollout, rb: Rollout, label: torch.Tensor, beta: float, *, queries: int,
                 tokens: int, stats: dict[str, float] | None = None) -> StepOut:
    """The DPO loss of the pairs ``(ra, rb)`` with labels ``P(a ≻ b)`` ``(B,)`` and its diagnostics."""
    lpa, lra, lpb, lrb = pair_logprobs(policy, ra, rb)
    margin = dpo_margin(lpa, lra, lpb, lrb, beta)  # (B,)
    label = label.to(margin)
    agree = ((margin.detach() > 0) == (label > 0.5)).float()[label != 0.5]  # implicit-reward accuracy
    # log_ratio: mean log(pi / mu) of the pair's responses (a KL(pi || mu) estimate when they come from pi)
    out = {"margin": float(margin.detach().mean()), "label_mean": float(label.mean()),
           "reward_accuracy": float(agree.mean()) if agree.numel() else float("nan"),
           "log_ratio": float(0.5 * ((lpa.detach() - lra) + (lpb.detach() - lrb)).mean()), **(stats or {})}
    return StepOut(dpo_loss(margin, label), queries=queries, tokens=tokens, stats=out)


def rollout_from_texts(policy: Policy, prompts: Sequence[str], responses: Sequence[str]) -> Rollout:
    """Encode given (prompt, response) texts as a :class:`Rollout`: prompts left-padded as the sampler does,
    each response tokenized as ``" " + text`` (as a constrained word follows the prompt) and followed by EOS
    unless the policy is constrained to tokens that exclude it; right-padded ``(B, Tr)``."""
    if len(prompts) != len(responses):
        raise ValueError(f"rollout_from_texts: {len(prompts)} prompts but {len(responses)} responses")
    tok = policy.tokenizer
    p_ids, p_mask = policy.encode_prompts(list(prompts))  # (B, Tp)
    eos = tok.eos_token_id
    allowed = policy.allowed.tolist() if policy.allowed is not None else None
    add_eos = eos is not None and (allowed is None or eos in allowed)
    rows = [tok.encode(" " + r.strip(), add_special_tokens=False) + ([eos] if add_eos else []) for r in responses]
    for r, ids in zip(responses, rows):
        if allowed is not None and any(i not in allowed for i in ids):
            raise ValueError(f"rollout_from_texts: response {r!r} uses tokens outside the policy's constraint")
    width = max(len(ids) for ids in rows)
    r_ids = torch.tensor([ids + [tok.pad_token_id] * (width - len(ids)) for ids in rows], dtype=torch.long)
    r_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids in rows], dtype=torch.long)
    return Rollout(list(prompts), p_ids, p_mask, r_ids.to(policy.device), r_mask.to(policy.device),
                   [r.strip() for r in responses])


# ---------------------------------------------------------------------------- the fixed comparison set
class PairSet:
    """An immutable comparison set ``(prompt, response_a, response_b, label)`` named by its content hash.

    The trainer's fields enter every checkpoint and the resume check compares them; a ``PairSet`` compares
    by its hash and prints as one line, so a 100k-record set is neither diffed nor printed."""

    def __init__(self, prompts: Sequence[str], responses_a: Sequence[str], responses_b: Sequence[str],
                 labels: Sequence[float], source: str = ""):
        self.prompts, self.responses_a, self.responses_b = tuple(prompts), tuple(responses_a), tuple(responses_b)
        self.labels = tuple(float(v) for v in labels)
        self.source = str(source)
        sizes = {len(self.prompts), len(self.responses_a), len(self.responses_b), len(self.labels)}
        if len(sizes) != 1:
            raise ValueError(f"PairSet: prompts, responses_a, responses_b and labels differ in length: {sizes}")
        if not self.labels:
            raise ValueError(f"PairSet: the comparison set {source!r} is empty")
        bad = [(i, v) for i, v in enumerate(self.labels) if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"PairSet: label of record {bad[0][0]} is {bad[0][1]!r}; labels must lie in [0, 1]")
        blob = json.dumps([self.prompts, self.responses_a, self.responses_b, self.labels]).encode()
        self.digest = hashlib.sha1(blob).hexdigest()[:16]

    @classmethod
    def from_comparisons(cls, data: Comparisons) -> "PairSet":
        src = ",".join(map(str, pd.unique(data.frame["source"])[:3]))
        return cls(data.prompts, data.responses_a, data.responses_b, data.labels.tolist(), source=src)

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other) -> bool:
        return isinstance(other, PairSet) and other.digest == self.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def __deepcopy__(self, memo) -> "PairSet":  # immutable: ``dataclasses.asdict`` may share it
        return self

    def __repr__(self) -> str:
        return f"PairSet(n={len(self)}, sha1={self.digest}, source={self.source!r})"


@dataclass(frozen=True)
class OfflineDPO:
    """Hyperparameters of offline DPO; ``data`` is the fixed comparison set (a ``Comparisons`` from
    :mod:`workbench.prefdata` or a :class:`PairSet`)."""

    data: PairSet  # the comparison set (converted from Comparisons at construction)
    beta: float = 0.1  # KL strength: the implicit reward is beta * log(pi / mu)
    batch_size: int | None = None  # records per step, global over processes (None: the loop's batch_size)
    name: str = "DPO"
    needs_judge: ClassVar[bool] = False  # offline: its comparisons are given, the judge is never asked

    def __post_init__(self):
        if isinstance(self.data, Comparisons):
            object.__setattr__(self, "data", PairSet.from_comparisons(self.data))
        if not isinstance(self.data, PairSet):
            raise TypeError(f"{self.name}: data must be a workbench.prefdata.Comparisons or a PairSet; "
                            f"got {type(self.data).__name__}")
        if not (self.beta > 0 and self.beta < float("inf")):
            raise ValueError(f"{self.name}: beta must be a finite number > 0; got {self.beta!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1 or None; got {self.batch_size!r}")

    def init(self, policy: Policy) -> None:
        return None

    def loss(self, policy: Policy, judge, prompts: list[str], state, ctx: StepContext) -> StepOut:
        """A minibatch of records drawn with replacement (``prompts`` only sets its size); no preference query is
        spent. Under several processes this process takes its slice of one global draw
        (:meth:`~workbench.llm.loop.StepContext.draw_shard`): the global minibatch does not depend on their number."""
        if self.batch_size is not None and self.batch_size % ctx.processes:
            raise ValueError(f"{self.name}: batch_size={self.batch_size} (records per step, global) must be divisible "
                             f"by the number of processes ({ctx.processes})")
        B = self.batch_size // ctx.processes if self.batch_size else len(prompts)  # records on this process
        idx = ctx.draw_shard(len(self.data), B).tolist()  # (B,)
        d = self.data
        xs = [d.prompts[i] for i in idx]
        ra = rollout_from_texts(policy, xs, [d.responses_a[i] for i in idx])
        rb = rollout_from_texts(policy, xs, [d.responses_b[i] for i in idx])
        label = torch.tensor([d.labels[i] for i in idx], dtype=torch.float32, device=policy.device)  # (B,)
        return dpo_step_out(policy, ra, rb, label, self.beta, queries=0, tokens=0)

    def after_step(self, policy: Policy, state):
        return state


# ---------------------------------------------------------------------------- a comparison set for the RPS task
@torch.no_grad()
def rps_comparisons(policy: Policy, task: RPSTask, pairs_per_prompt: int, generator: torch.Generator,
                    prompts: Sequence[str] | None = None) -> Comparisons:
    """Comparisons on the enumerable task: two responses from the reference ``mu`` per record, labelled by a
    Bernoulli draw of the oracle's ``P(y_a ≻ y_b | x)`` (kept as ``p_true``, which the CSV schema of
    :func:`rps_comparisons_csv` does not carry); ``pairs_per_prompt`` records for each prompt (``prompts``
    defaults to the task's wording for this policy)."""
    from workbench.llm.exact import task_prompts

    if pairs_per_prompt < 1:
        raise ValueError(f"rps_comparisons: pairs_per_prompt must be >= 1; got {pairs_per_prompt}")
    xs = [p for p in (list(prompts) if prompts is not None else task_prompts(policy, task))
          for _ in range(pairs_per_prompt)]
    ra = sample(policy, xs, task.length, reference=True, generator=generator)
    rb = sample(policy, xs, task.length, reference=True, generator=generator)
    P = task.preference_matrix()  # (X, n, n)
    p = P[task.prompt_index(xs), task.index(ra.responses), task.index(rb.responses)]  # (N,)
    label = torch.bernoulli(p.to(generator.device), generator=generator).cpu()  # (N,)
    frame = pd.DataFrame({"prompt": xs, "response_a": ra.responses, "response_b": rb.responses,
                          "label": label.numpy(), "p_true": p.numpy()})
    return Comparisons.from_frame(frame, source="rps-oracle")


def rps_comparisons_csv(path: str | Path, policy: Policy, task: RPSTask, pairs_per_prompt: int,
                        generator: torch.Generator) -> Comparisons:
    """:func:`rps_comparisons`, written atomically to ``path`` as CSV and read back with
    ``workbench.prefdata.load_comparisons(path, format="csv")`` (the loader path a real dataset takes)."""
    data = rps_comparisons(policy, task, pairs_per_prompt, generator)
    atomic_write_text(path, data.frame.drop(columns=["source"]).to_csv(index=False))
    return load_comparisons(path, format="csv")
