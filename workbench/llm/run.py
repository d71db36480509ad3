"""Command line for one LLM training run, on the enumerable task or your own prompts: argparse -> train -> CSV.

    python -m workbench.llm.run --trainer Nash-MD-PG --model tiny --steps 60 --out runs/nash_md.csv
    python -m workbench.llm.run --prompts prefs.jsonl --judge runs/judge --model sft:prefs.jsonl --save-model runs/m
    torchrun --standalone --nproc_per_node 2 -m workbench.llm.run --trainer Nash-MD-PG --batch-size 16  # 2 CPU processes
    accelerate launch --config_file configs/accelerate/ddp.yaml -m workbench.llm.run --model smollm2 ...  # GPUs

The same script runs on one process or under ``accelerate launch`` (:mod:`workbench.llm.distributed`):
each process loads the policy on its own device, ``--batch-size`` is the global batch, the main process
evaluates, writes the checkpoint and the CSV (the tidy frame of :func:`workbench.llm.loop.train`, written
atomically). ``--checkpoint F --resume`` continues a run, also on another number of processes;
``--stop-after K`` leaves a run after step ``K`` (a multiple of ``--eval-every``) for a later ``--resume``;
``--resume --extend --steps N`` continues a finished run to ``N`` steps. An existing checkpoint or CSV is
someone's run: it is replaced only with ``--overwrite``.

With ``--prompts FILE`` (a comparisons or prompts file, :mod:`workbench.llm.prompts`) and ``--judge DIR`` (a
saved preference model or a reward model, :func:`workbench.llm.judges.load_judge`) the run trains on the file's
training prompts and is evaluated by the judge on its held-out prompts every ``--eval-every`` steps
(:mod:`workbench.llm.freetext`); ``--save-model DIR`` exports the policy (:mod:`workbench.llm.export`).

The loop's flags (``--steps``, ``--batch-size``, ``--lr``, ``--weight-decay``, ``--grad-clip``,
``--max-new-tokens``, ``--temperature``, ``--eval-every``, ``--seed``) are generated from
:class:`~workbench.llm.loop.LoopConfig`'s fields and their help. ``--beta`` sets the trainer's and the
evaluator's beta (one game); ``--hyper beta=...`` is refused. Every error is one line naming the option
and the fix (exit status 2); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import yaml

from workbench.cli import OneLineParser, run_cli

PROG = "python -m workbench.llm.run"


class UsageError(ValueError):
    """A command-line mistake found before anything is loaded."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_config_flags(ap: argparse.ArgumentParser, cls, defaults: dict | None = None) -> None:
    """One ``--field-name`` per dataclass field of ``cls`` (TRL's ``HfArgumentParser`` idea): the type from the
    field's annotation, the help from ``field(metadata={"help": ...})``; ``defaults`` overrides the defaults."""
    defaults = defaults or {}
    group = ap.add_argument_group(f"{cls.__name__} (the training loop)")
    for f in fields(cls):
        kind = f.type if isinstance(f.type, type) else {"int": int, "float": float, "str": str}[str(f.type)]
        default = defaults.get(f.name, f.default if f.default is not MISSING else None)
        shown = "per task" if default is None else default
        group.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=default, metavar=kind.__name__.upper(),
                           type={int: int, float: _finite_float}.get(kind, kind),
                           help=f"{f.metadata.get('help', '')} (default: {shown})")


def parse_args(argv=None) -> argparse.Namespace:
    from workbench.llm import TRAINERS
    from workbench.llm.loop import LoopConfig

    ap = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainer", default="Nash-MD-PG", choices=list(TRAINERS), help="registry name")
    ap.add_argument("--beta", type=_finite_float, default=0.1,
                    help="KL strength of the game: the trainer's and the exact evaluator's beta")
    ap.add_argument("--hyper", action="append", default=[], metavar="KEY=VALUE",
                    help="another trainer hyperparameter (YAML value), e.g. --hyper mixture=0.25; repeatable")
    ap.add_argument("--model", default="tiny", help="'tiny' (the enumerable task's), 'smollm2', a local checkpoint folder, "
                                                    "or sft:FILE (a tiny free-text reference SFT'd on FILE's comparisons)")
    ap.add_argument("--finetune", default="lora", choices=("lora", "full"), help="train LoRA adapters or all weights")
    ap.add_argument("--lora-r", type=_positive_int, default=8, help="LoRA rank")
    ap.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                    help="model dtype (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--device", default=None, help="device (default: this process's device under accelerate)")
    ap.add_argument("--prompts", default=None, metavar="FILE",
                    help="your own prompts: a comparisons file (TL;DR, HH-RLHF, UltraFeedback, CSV/JSONL) or a prompts "
                         "file (.txt one per line, .jsonl with a 'prompt' field); without it, the enumerable task")
    ap.add_argument("--heldout", type=_fraction, default=0.2,
                    help="with --prompts: fraction of the distinct prompts held out for evaluation (default 0.2)")
    ap.add_argument("--eval-samples", type=_positive_int, default=1,
                    help="with --prompts: judged pairs per held-out prompt at each evaluation (default 1)")
    ap.add_argument("--judge", default=None, metavar="JUDGE",
                    help="'oracle' or 'bt' (the enumerable task; default: bt for reward-based trainers), or a folder: "
                         "a saved workbench ModelJudge (judge.json) or a transformers reward model (config.json)")
    ap.add_argument("--save-model", default=None, metavar="DIR",
                    help="export the trained policy as a Hugging Face folder (the LoRA adapter; the whole model "
                         "with --merge or --finetune full)")
    ap.add_argument("--merge", action="store_true", help="with --save-model and LoRA: fold the adapter into the weights")
    ap.add_argument("--pairs-per-prompt", type=_positive_int, default=32,
                    help="DPO only: comparisons per prompt drawn from the reference (ignored with --data)")
    ap.add_argument("--data", default=None, help="DPO only: a comparison file for workbench.prefdata.load_comparisons")
    add_config_flags(ap, LoopConfig, {"max_new_tokens": None})
    ap.add_argument("--no-eval", action="store_true",
                    help="skip the evaluation (exact on the task, judged on held-out prompts with --prompts)")
    ap.add_argument("--out", default=None, help="CSV of the run's tidy frame (written atomically by the main process)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint file (written by the main process)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --checkpoint")
    ap.add_argument("--extend", action="store_true", help="with --resume: continue a finished run to --steps")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --checkpoint / --out / --save-model")
    ap.add_argument("--stop-after", type=_positive_int, default=None, help="leave after this step (resume later)")
    ap.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads per process (>= 1)")
    ap.add_argument("--progress", action="store_true", help="show a progress bar")
    ap.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return ap.parse_args(argv)


def _hyper(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--hyper expects KEY=VALUE; got {item!r}")
        if key == "beta":
            raise UsageError("--hyper beta=... is refused: beta is the game's, set it with --beta (the trainer and "
                             "the exact evaluator then share it)")
        if key in out:
            raise UsageError(f"--hyper {key} given twice; give it once")
        try:
            out[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise UsageError(f"--hyper {key}={value!r}: not a YAML value") from None
    return out


def check_paths(args: argparse.Namespace) -> None:
    """``--out`` and ``--checkpoint`` checked before the model loads (nothing is lost to a late error)."""
    from workbench.llm.checkpoint import check_checkpoint_path, probe_writable

    if args.extend and not args.resume:
        raise UsageError("--extend continues a checkpoint: add --resume (and --checkpoint FILE)")
    check_checkpoint_path(args.checkpoint, resume=args.resume, overwrite=args.overwrite)
    if args.out:
        out = Path(args.out)
        if out.is_dir():
            raise UsageError(f"--out {out} is a folder; give a CSV file path, e.g. {out / 'run.csv'}")
        if out.exists() and not (args.overwrite or args.resume):
            raise UsageError(f"--out {out} already exists; add --overwrite to replace it, or choose another file")
        probe_writable(out.parent, f"--out {out}: the folder")
    if args.save_model:
        from workbench.llm.export import check_export_folder

        check_export_folder(args.save_model, overwrite=args.overwrite)
        probe_writable(Path(args.save_model).expanduser().parent, f"--save-model {args.save_model}: the folder")
    elif args.merge:
        raise UsageError("--merge applies to --save-model DIR; add it")
    if args.stop_after is not None and args.stop_after % args.eval_every:
        raise UsageError(f"--stop-after {args.stop_after} must be a multiple of --eval-every {args.eval_every}")


def run(argv=None):
    """Parse ``argv``, train, write the CSV (main process); returns ``(TrainRun, Policy, Accelerator)``."""
    args = parse_args(argv)
    return run_args(args)


def run_args(args: argparse.Namespace):
    """Train from parsed arguments: every input is checked (paths, hyperparameters, judge, prompts) before the
    model loads; returns ``(TrainRun, Policy, Accelerator)``."""
    import torch

    from workbench.io import atomic_write_text
    from workbench.llm import LoopConfig, load_policy, make_trainer, train
    from workbench.llm.distributed import local_device, make_accelerator, on_main
    from workbench.llm.models import model_path

    hyper = {"beta": args.beta, **_hyper(args.hyper)}
    acc = make_accelerator()
    on_main(acc, lambda: check_paths(args))  # the main process writes --out, --checkpoint and --save-model
    spec = args.model
    trainer = make_trainer(args.trainer, **hyper) if args.trainer != "DPO" else None  # bad hyperparameters fail here
    free = args.prompts is not None
    setup = _free_text_inputs(args) if free else _task_inputs(args)
    # an SFT reference never sees the held-out prompts it is evaluated on
    args.model = resolve_model(args.model, exclude=setup["split"].heldout if free else ())
    if args.model not in ("tiny", "smollm2"):
        model_path(args.model)  # a missing folder is named before anything loads
    loop = {f: getattr(args, f) for f in ("steps", "batch_size", "lr", "weight_decay", "grad_clip", "temperature",
                                          "eval_every", "seed")}
    config = LoopConfig(**loop, max_new_tokens=setup["max_new_tokens"])
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device if args.device is not None else local_device()
    dtype = getattr(torch, args.dtype) if args.dtype else None
    policy = load_policy(args.model, finetune=args.finetune, device=device, dtype=dtype, lora_r=args.lora_r,
                         seed=args.seed)
    prompts, evaluator = (_free_text_policy if free else _task_policy)(args, policy, setup, acc.is_main_process)
    if args.trainer == "DPO":
        hyper["data"] = _dpo_data(args, policy, setup)
        trainer = make_trainer(args.trainer, **hyper)
    result = train(trainer, policy, setup["judge"], prompts, config, evaluator=evaluator,
                   checkpoint=args.checkpoint, resume=args.resume, overwrite=args.overwrite, extend=args.extend,
                   model_name=model_label(spec), progress=args.progress, accelerator=acc,
                   stop_after=args.stop_after)
    if acc.is_main_process:
        if args.out:
            atomic_write_text(args.out, result.frame.to_csv(index=False))
            if free and evaluator is not None and evaluator.last is not None:
                out = Path(args.out)
                atomic_write_text(out.with_name(out.stem + "_generations.csv"), evaluator.last.to_csv(index=False))
        if args.save_model:
            policy.save_pretrained(args.save_model, merge=args.merge, overwrite=args.overwrite,
                                   meta={"trainer": trainer.name, "beta": args.beta, "steps": result.steps,
                                         "queries": result.queries, "seed": args.seed, "model": str(spec),
                                         "prompts": args.prompts, "judge": setup["judge_spec"]})
        last = result.frame[result.frame.step == result.frame.step.max()]
        summary = ", ".join(f"{m}={v:.4g}" for m, v in zip(last.metric, last.value))
        print(f"{trainer.name}: {result.steps} steps on {acc.num_processes} process(es), {result.queries} queries, "
              f"{result.tokens} tokens; step {result.steps}: {summary}"
              + (f"; model saved to {args.save_model}" if args.save_model else ""))
    acc.wait_for_everyone()
    return result, policy, acc


def resolve_model(spec: str, exclude=()) -> str:
    """A ``--model`` value as :func:`workbench.llm.load_policy` takes it: ``"sft:FILE"`` builds (once, cached) the
    tiny free-text reference SFT'd on the comparisons of ``FILE`` whose prompt is not in ``exclude`` (the
    held-out prompts: the reference must not have seen them; :func:`workbench.llm.sft.sft_checkpoint`) and names
    its folder; anything else (``tiny``, ``smollm2``, a folder) is returned as it is."""
    if not str(spec).startswith("sft:"):
        return str(spec)
    from workbench.llm.sft import sft_checkpoint
    from workbench.prefdata import load_comparisons

    data = str(spec)[4:]
    if not data:
        raise UsageError("--model sft:FILE needs the comparisons file, e.g. --model sft:data/prefs/hh_sample.jsonl")
    comps = load_comparisons(data)
    if exclude:
        held = set(exclude)
        keep = [i for i, x in enumerate(comps.prompts) if x not in held]
        if not keep:
            raise UsageError(f"--model sft:{data}: every comparison's prompt is held out; nothing is left to SFT on")
        comps = comps.subset(keep)
    return str(sft_checkpoint(comps))


def model_label(spec: str) -> str:
    """The ``model`` knob of the rows: the name, the folder's name, or ``sft-<file stem>``."""
    spec = str(spec)
    return f"sft-{Path(spec[4:]).stem}" if spec.startswith("sft:") else Path(spec).name


def _needs_reward(args) -> bool:
    from workbench.llm import TRAINERS

    return bool(getattr(TRAINERS[args.trainer], "needs_reward", False))


def _task_inputs(args) -> dict:
    """The enumerable task's judge and response length (checked before the model loads)."""
    from workbench.llm import bt_oracle_judge
    from workbench.llm.judges import load_judge
    from workbench.llm.models import TinyLMConfig
    from workbench.llm.task import RPSTask

    task = TinyLMConfig().task() if args.model == "tiny" else RPSTask()
    if args.max_new_tokens is not None and args.max_new_tokens != task.length:
        raise UsageError(f"--max-new-tokens {args.max_new_tokens} differs from the task's response length "
                         f"{task.length}; drop the option (it defaults to the task's length)")
    spec = args.judge or ("bt" if _needs_reward(args) else "oracle")
    judge = bt_oracle_judge(task) if spec == "bt" else load_judge(spec, task=task)
    _check_reward(args, judge, spec)
    return {"task": task, "judge": judge, "judge_spec": spec, "max_new_tokens": task.length}


def _free_text_inputs(args) -> dict:
    """Your prompts and judge (checked before the model loads): the file, the judge folder, the trainer's needs."""
    from workbench.llm.judges import load_judge
    from workbench.llm.prompts import load_prompts

    if args.judge is None:
        raise UsageError("--prompts needs --judge: a saved ModelJudge folder (notebook 05 / workbench.prefmodels) or a "
                         "transformers reward-model folder")
    if args.judge in ("oracle", "bt"):
        raise UsageError(f"--judge {args.judge} is the enumerable task's judge; with --prompts give a judge folder")
    if args.trainer == "DPO" and not args.data:
        raise UsageError("--trainer DPO with --prompts needs --data FILE (its comparisons)")
    split = load_prompts(args.prompts, heldout=args.heldout, seed=args.seed)  # the same split with --no-eval
    judge = load_judge(args.judge)
    _check_reward(args, judge, args.judge)
    return {"split": split, "judge": judge, "judge_spec": str(args.judge),
            "max_new_tokens": 64 if args.max_new_tokens is None else args.max_new_tokens}


def _check_reward(args, judge, spec) -> None:
    if _needs_reward(args) and not callable(getattr(judge, "reward", None)):
        raise UsageError(f"--trainer {args.trainer} needs a reward judge, but --judge {spec} is pairwise only "
                         f"({type(judge).__name__}); give a BT judge or a reward model")


def _task_policy(args, policy, setup, main: bool):
    from workbench.llm import ExactEvaluator
    from workbench.llm.exact import task_prompts

    task = setup["task"]
    policy.constrain(task.words)
    evaluator = None if args.no_eval or not main else ExactEvaluator.build(policy, task, args.beta)
    return task_prompts(policy, task), evaluator


def _free_text_policy(args, policy, setup, main: bool):
    from workbench.llm.freetext import JudgedEvaluator
    from workbench.llm.prompts import fit_prompts

    split, n = setup["split"], setup["max_new_tokens"]
    train_prompts, cut = fit_prompts(policy, split.train, n)
    heldout, cut_h = fit_prompts(policy, split.heldout, n)
    if (cut or cut_h) and main:
        print(f"{PROG}: {cut + cut_h} of {len(split)} prompts were longer than the model's context minus "
              f"--max-new-tokens {n}; cut from the left to fit", file=sys.stderr)
    if not heldout and not args.no_eval:
        raise UsageError(f"--heldout {args.heldout} leaves no prompt of {args.prompts} to evaluate on; raise --heldout "
                         f"or add --no-eval")
    evaluator = None
    if not args.no_eval and main:
        evaluator = JudgedEvaluator(setup["judge"], heldout, args.beta, n, samples=args.eval_samples, seed=args.seed)
    return train_prompts, evaluator


def _dpo_data(args, policy, setup):
    from workbench.device import make_generator
    from workbench.llm.dpo import rps_comparisons
    from workbench.prefdata import load_comparisons

    if args.data:
        return load_comparisons(args.data)
    # every process builds the same set: the reference's samples from a generator seeded by --seed
    return rps_comparisons(policy, setup["task"], args.pairs_per_prompt, make_generator(args.seed, policy.device))


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(PROG, lambda: run_args(args), debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
