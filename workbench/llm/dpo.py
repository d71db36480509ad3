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

The loss pieces (``dpo_margin``, ``dpo_loss``, ``draw_labels``, ``dpo_step_out``) live in
:mod:`workbench.llm.losses`, shared with :mod:`workbench.llm.online_dpo` and :mod:`workbench.llm.rso`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Sequence

import pandas as pd
import torch

from workbench.io import atomic_write_text
from workbench.llm.exact import task_prompts
from workbench.llm.loop import StepContext, StepOut
from workbench.llm.losses import check_beta, dpo_step_out
from workbench.llm.policy import Policy
from workbench.llm.sampling import Rollout, sample
from workbench.llm.task import RPSTask
from workbench.prefdata import Comparisons, load_comparisons

# ---------------------------------------------------------------------------- the fixed comparison set
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
        check_beta(self.name, self.beta, positive=True)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"{self.name}: batch_size must be >= 1 or None; got {self.batch_size!r}")

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


# ---------------------------------------------------------------------------- a comparison set for the RPS task
@torch.no_grad()
def rps_comparisons(policy: Policy, task: RPSTask, pairs_per_prompt: int, generator: torch.Generator,
                    prompts: Sequence[str] | None = None) -> Comparisons:
    """Comparisons on the enumerable task: two responses from the reference ``mu`` per record, labelled by a
    Bernoulli draw of the oracle's ``P(y_a ≻ y_b | x)`` (kept as ``p_true``, which the CSV schema of
    :func:`rps_comparisons_csv` does not carry); ``pairs_per_prompt`` records for each prompt (``prompts``
    defaults to the task's wording for this policy)."""
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
