"""Experiment drivers of the LLM lab: every method from the same weights for the same preference-query budget,
and the tabular lab's exact curves on the same game.

    runs = run_methods([NashMDPG(), self_play()], policy, OracleJudge(task), task, LoopConfig(), evaluator,
                       budget=2000, seeds=(0, 1))
    runs.frame                    # results schema (algo, seed, step, queries, metric, value, model, beta)
    runs.finals                   # [Trained(algo, seed, weights, step, queries)] for the win-rate matrix
    tab = tabular_reference(evaluator, budget=2000)     # tabular Nash-MD / Nash-MP on evaluator.game

**Equal budgets.** The cost axis is preference (or reward) queries, not steps: methods spend different
numbers per step (Nash-MD-PG one per prompt, RLOO ``k`` reward queries per prompt, Nash-MP one per prompt
per inner step, ...). :func:`queries_per_step` reads a trainer's ``queries_per_step(batch_size)`` when it
has one and otherwise measures one step (a no-grad call of ``trainer.loss`` with its own generator, which
changes neither the policy nor the run's random stream); each method then gets ``ceil(budget / q)``
steps. A method that spends no queries per step (offline DPO: its comparisons are bought up front) must
be given its steps explicitly (``steps={label: n}``).

**Tabular reference curves.** :func:`tabular_reference` runs :mod:`workbench.tabular` Nash-MD (theory
schedule ``eta_t = 2/(beta (t+2))``) and Nash-MP (``eta = 2 beta``) on ``evaluator.game`` (the same oracle
``P``, the reference model's exact ``mu``, the same ``beta``), starting from ``mu`` as the LoRA policy
does. The tabular methods see all of ``P(. ≻ opponent)`` per call: we count a call as ``n`` queries per
prompt (every response compared once, :class:`workbench.tabular.ExactOracle` ``per_call="n"``) and sum over
the ``X`` prompts, so a tabular step costs ``X n`` (Nash-MD) or ``2 X n`` (Nash-MP) queries on the same axis
as the neural runs; metrics are averaged over prompts as :class:`~workbench.llm.exact.ExactEvaluator` does.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from workbench.device import make_generator
from workbench.llm.evaluation import Trained
from workbench.llm.exact import ExactEvaluator, task_prompts
from workbench.llm.judges import CountingJudge
from workbench.llm.loop import LoopConfig, StepContext, init_state, train
from workbench.llm.policy import Policy
from workbench.llm.task import RPSTask
from workbench.results import check_frame

__all__ = ["MethodRuns", "labelled", "queries_per_step", "plan_steps", "run_methods", "tabular_reference"]


@dataclass
class MethodRuns:
    """The outcome of :func:`run_methods`: the long frame of every run, the final policies, and the plan."""

    frame: pd.DataFrame  # results schema + knobs model, beta: one block per (algo, seed)
    finals: list[Trained]  # the final adapter snapshot of every (algo, seed)
    steps: dict[str, int]  # loop steps given to each method
    queries_per_step: dict[str, int]  # preference queries per step of each method
    initial: dict[str, torch.Tensor]  # the common initial weights (restored in the policy at the end)

    SAVE_VERSION = 1

    def save(self, path: str | Path) -> Path:
        """Write the runs to the folder ``path`` (atomically: a reader sees the old folder or the new one).

        Layout: ``runs.json`` (version, steps, queries per step, one record per final policy: algo, seed, step,
        queries and its adapter file), ``frame.parquet`` (the tidy frame), ``initial.safetensors`` (the common
        initial weights) and ``finals/<k>.safetensors`` (each final policy's adapter snapshot; none for the
        reference). :meth:`load` reads it back."""
        from safetensors.torch import save_file

        from workbench.io import atomic_directory

        path = Path(path)
        records = []
        with atomic_directory(path) as tmp:
            (tmp / "finals").mkdir()
            save_file({k: v.detach().cpu().contiguous() for k, v in self.initial.items()}, str(tmp / "initial.safetensors"))
            for k, t in enumerate(self.finals):
                rel = None
                if t.weights is not None:
                    rel = f"finals/{k:03d}.safetensors"
                    save_file({n: v.detach().cpu().contiguous() for n, v in t.weights.items()}, str(tmp / rel))
                records.append({"algo": t.algo, "seed": int(t.seed), "step": int(t.step), "queries": int(t.queries),
                                "weights": rel})
            self.frame.to_parquet(tmp / "frame.parquet", index=False)
            (tmp / "runs.json").write_text(json.dumps({
                "version": self.SAVE_VERSION, "steps": {k: int(v) for k, v in self.steps.items()},
                "queries_per_step": {k: int(v) for k, v in self.queries_per_step.items()}, "finals": records,
            }, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "MethodRuns":
        """Read a folder written by :meth:`save`; a missing or damaged part raises ``ValueError`` naming it."""
        from safetensors.torch import load_file

        path = Path(path)
        manifest = path / "runs.json"
        if not manifest.is_file():
            raise ValueError(f"MethodRuns.load: {path} has no runs.json (not a folder written by MethodRuns.save)")
        try:
            meta = json.loads(manifest.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"MethodRuns.load: {manifest}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if meta.get("version") != cls.SAVE_VERSION:
            raise ValueError(f"MethodRuns.load: {manifest}: version {meta.get('version')!r}; expected {cls.SAVE_VERSION}")

        def tensors(rel: str) -> dict[str, torch.Tensor]:
            f = path / rel
            if not f.is_file():
                raise ValueError(f"MethodRuns.load: {f} is missing")
            try:
                return load_file(str(f))
            except Exception as exc:  # safetensors' own error types
                raise ValueError(f"MethodRuns.load: {f} cannot be read ({type(exc).__name__}: {exc})") from None

        if not (path / "frame.parquet").is_file():
            raise ValueError(f"MethodRuns.load: {path / 'frame.parquet'} is missing")
        frame = check_frame(pd.read_parquet(path / "frame.parquet"), "llm", name=str(path / "frame.parquet"))
        try:
            finals = [Trained(str(r["algo"]), int(r["seed"]), None if r["weights"] is None else tensors(r["weights"]),
                              int(r["step"]), int(r["queries"])) for r in meta["finals"]]
            steps, per_step = dict(meta["steps"]), dict(meta["queries_per_step"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"MethodRuns.load: {manifest}: a record lacks the field {exc}") from None
        return cls(frame, finals, steps, per_step, tensors("initial.safetensors"))


def labelled(trainers) -> dict[str, object]:
    """``dict`` label -> trainer from a dict, a list of trainers (label = ``trainer.name``) or one trainer."""
    if hasattr(trainers, "loss"):
        trainers = [trainers]
    if isinstance(trainers, Mapping):
        out = dict(trainers)
    else:
        out = {}
        for t in trainers:
            label = getattr(t, "name", type(t).__name__)
            if label in out:
                raise ValueError(f"run_methods: two trainers share the label {label!r}; pass a dict {{label: trainer}}")
            out[label] = t
    if not out:
        raise ValueError("run_methods: no trainers given")
    for label, t in out.items():
        if not callable(getattr(t, "loss", None)):
            raise TypeError(f"run_methods: trainer {label!r} ({type(t).__name__}) has no loss() method")
    return out


def _judge_for(judge, label: str):
    if isinstance(judge, Mapping):
        if label not in judge:
            raise KeyError(f"run_methods: no judge for {label!r}; the judge mapping has {sorted(judge)}")
        return judge[label]
    return judge


def queries_per_step(trainer, policy: Policy, judge, prompts: Sequence[str], config: LoopConfig) -> int:
    """Preference queries one loop step of ``trainer`` spends with ``config.batch_size`` prompts.

    ``trainer.queries_per_step(batch_size)`` when defined, else one measured no-grad step (a throwaway
    generator seeded ``config.seed + 10_007``; the policy's weights are not touched), counted at the judge
    as the loop counts (:class:`~workbench.llm.judges.CountingJudge`)."""
    declared = getattr(trainer, "queries_per_step", None)
    if callable(declared):
        return int(declared(config.batch_size))
    gen = make_generator(config.seed + 10_007, policy.device)
    idx = torch.randint(len(prompts), (config.batch_size,), generator=gen, device=gen.device)  # (B,)
    batch = [prompts[i] for i in idx.tolist()]
    was = policy.model.training
    counting = CountingJudge(judge)
    with torch.no_grad():
        trainer.loss(policy, counting, batch, init_state(trainer, policy), StepContext(config, gen, 0))
    policy.model.train(was)
    return counting.queries


def plan_steps(budget: int, per_step: Mapping[str, int], steps: Mapping[str, int] | None = None) -> dict[str, int]:
    """Loop steps per method: ``steps[label]`` when given, else ``ceil(budget / per_step[label])``."""
    steps = dict(steps or {})
    out = {}
    for label, q in per_step.items():
        if label in steps:
            out[label] = int(steps[label])
        elif q <= 0:
            raise ValueError(f"run_methods: {label!r} spends {q} queries per step, so a query budget cannot set "
                             f"its length; give steps={{{label!r}: n}}")
        else:
            out[label] = max(1, math.ceil(int(budget) / q))
        if out[label] < 1:
            raise ValueError(f"run_methods: steps for {label!r} must be >= 1; got {out[label]}")
    return out


def run_methods(
    trainers,
    policy: Policy,
    judge,
    task: RPSTask,
    config: LoopConfig,
    evaluator: ExactEvaluator | None = None,
    *,
    budget: int | None = None,
    steps: Mapping[str, int] | None = None,
    seeds: Sequence[int] = (0,),
    overrides: Mapping[str, Mapping] | None = None,
    n_evals: int | None = 6,
    prompts: Sequence[str] | None = None,
    model_name: str = "tiny",
    progress: bool = False,
) -> MethodRuns:
    """Train every method from the same initial weights for the same preference-query budget, per seed.

    Args:
        trainers: a dict label -> trainer, or a list of trainers (label = ``trainer.name``).
        policy: the policy; its current trainable weights are every run's start and are restored at the end.
        judge: one judge for all, or a dict label -> judge (e.g. the BT reward judge for RLHF / RSO).
        task: the task (its prompts, worded for the policy by :func:`workbench.llm.exact.task_prompts`).
        config: the :class:`LoopConfig` shared by all runs; ``seed`` and ``steps`` are set per run.
        evaluator: exact scoring during training (enumerable task); ``None`` records training stats only.
        budget: preference queries per run; each method gets ``ceil(budget / queries_per_step)`` steps.
            ``None``: every method runs ``config.steps`` steps.
        steps: explicit steps for some methods (needed for one that spends no queries per step).
        seeds: one run per seed and method (the seed of the loop's generator).
        overrides: per-method :class:`LoopConfig` fields, e.g. ``{"RLHF": {"batch_size": 8}}`` so that a
            method with ``k`` samples per prompt spends its budget over as many steps as the others.
        n_evals: exact evaluations per run (``eval_every = ceil(steps / n_evals)``); ``None`` keeps
            ``config.eval_every``.
        prompts: the prompt pool (default: the task's prompts for this policy).
    """
    methods = labelled(trainers)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1):
        raise ValueError(f"run_methods: budget must be a positive number of preference queries; got {budget!r}")
    seeds = list(seeds) if not isinstance(seeds, int) else [seeds]
    if not seeds:
        raise ValueError("run_methods: seeds is empty; give at least one seed, e.g. seeds=(0,)")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0]
    if bad:
        raise ValueError(f"run_methods: seeds must be non-negative integers; got {bad}")
    if n_evals is not None and (isinstance(n_evals, bool) or not isinstance(n_evals, numbers.Integral) or n_evals < 1):
        raise ValueError(f"run_methods: n_evals must be an integer >= 1 (evaluations per run) or None; got {n_evals!r}")
    pool = list(prompts) if prompts is not None else task_prompts(policy, task)
    initial = {k: v.clone() for k, v in policy.snapshot().items()}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(methods))
    if unknown:
        raise KeyError(f"run_methods: overrides for unknown method(s) {unknown}; methods are {list(methods)}")
    configs = {label: replace(config, **dict(overrides.get(label, {}))) for label in methods}
    if budget is None:
        per_step = {label: 0 for label in methods}
        plan = {label: int(dict(steps or {}).get(label, configs[label].steps)) for label in methods}
    else:
        per_step = {}
        for label, t in methods.items():
            per_step[label] = queries_per_step(t, policy, _judge_for(judge, label), pool, configs[label])
        plan = plan_steps(budget, per_step, steps)
    frames, finals = [], []
    try:
        for seed in seeds:
            for label, trainer in methods.items():
                policy.load_snapshot(initial)
                n = plan[label]
                every = configs[label].eval_every if n_evals is None else max(1, math.ceil(n / n_evals))
                cfg = replace(configs[label], steps=n, seed=int(seed), eval_every=every)
                run = train(trainer, policy, _judge_for(judge, label), pool, cfg, evaluator=evaluator,
                            model_name=model_name, progress=progress)
                frames.append(run.frame.assign(algo=label))
                finals.append(Trained(label, int(seed), {k: v.clone() for k, v in policy.snapshot().items()},
                                      run.steps, run.queries))
    finally:
        policy.load_snapshot(initial)
    frame = check_frame(pd.concat(frames, ignore_index=True), "llm", name="run_methods")
    return MethodRuns(frame, finals, plan, per_step, initial)


def tabular_reference(
    evaluator: ExactEvaluator,
    budget: int,
    *,
    methods: Mapping[str, object] | None = None,
    points: int = 40,
    prefix: str = "tabular ",
) -> pd.DataFrame:
    """The tabular lab's exact curves on ``evaluator.game``, on the neural runs' query axis.

    ``methods``: label -> :mod:`workbench.tabular` method (default Nash-MD with the theory schedule and
    Nash-MP with ``eta = 2 beta``). Each runs until it has spent ``budget`` queries (``X n`` per oracle call,
    summed over the ``X`` prompts); rows are averaged over prompts and labelled ``prefix + label``, in the
    LLM schema (``model = "tabular"``), about ``points`` recorded steps per method.
    """
    from workbench.tabular import ExactOracle, NashMD, NashMP
    from workbench.tabular.driver import run as run_tabular

    methods = dict(methods) if methods is not None else {"Nash-MD": NashMD(), "Nash-MP": NashMP()}
    game = evaluator.game
    X, n = game.batch_shape[0], game.n
    frames = []
    for label, method in methods.items():
        steps = max(1, math.ceil(budget / (X * n)))  # at least one call per step: enough steps for any method
        df = run_tabular({label: method}, game, steps, oracle=ExactOracle(per_call="n"), pi_star=evaluator.pi_star,
                         record_every=max(1, steps // points), progress=False)
        df["queries"] = df["queries"] * X  # per prompt -> all prompts
        df = df[df["queries"] <= budget]
        mean = df.groupby(["step", "queries", "metric"], as_index=False)["value"].mean()  # average over prompts
        frames.append(mean.assign(algo=prefix + label, seed=0, model="tabular", beta=float(game.beta.reshape(-1)[0])))
    out = pd.concat(frames, ignore_index=True)[["algo", "seed", "step", "queries", "metric", "value", "model", "beta"]]
    out["seed"] = out["seed"].astype("int64")
    return check_frame(out.reset_index(drop=True), "llm", name="tabular_reference")
