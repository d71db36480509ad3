"""Command line for one LLM-lab training run on the enumerable task: argparse -> LoopConfig -> train -> CSV.

    python -m workbench.llm.run --trainer Nash-MD-PG --model tiny --steps 60 --out runs/nash_md.csv
    torchrun --standalone --nproc_per_node 2 -m workbench.llm.run --trainer Nash-MD-PG --batch-size 16  # 2 CPU processes
    accelerate launch --config_file configs/accelerate/ddp.yaml -m workbench.llm.run --model smollm2 ...  # GPUs

The same script runs on one process or under ``accelerate launch`` (:mod:`workbench.llm.distributed`):
each process loads the policy on its own device, ``--batch-size`` is the global batch, the main process
evaluates, writes the checkpoint and the CSV (the tidy frame of :func:`workbench.llm.loop.train`, written
atomically). ``--checkpoint F --resume`` continues a run, also on another number of processes;
``--stop-after K`` leaves a run after step ``K`` (a multiple of ``--eval-every``) for a later ``--resume``;
``--resume --extend --steps N`` continues a finished run to ``N`` steps. An existing checkpoint or CSV is
someone's run: it is replaced only with ``--overwrite``.

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

PROG = "python -m workbench.llm.run"


class UsageError(ValueError):
    """A command-line mistake found before anything is loaded."""


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line with the fix (``--help`` for the usage), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
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
    ap.add_argument("--model", default="tiny", help="'tiny', 'smollm2' or a local checkpoint folder")
    ap.add_argument("--finetune", default="lora", choices=("lora", "full"), help="train LoRA adapters or all weights")
    ap.add_argument("--lora-r", type=_positive_int, default=8, help="LoRA rank")
    ap.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                    help="model dtype (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--device", default=None, help="device (default: this process's device under accelerate)")
    ap.add_argument("--judge", default=None, choices=("oracle", "bt"),
                    help="the task's oracle, or its BT projection (default: bt for reward-based trainers)")
    ap.add_argument("--pairs-per-prompt", type=_positive_int, default=32,
                    help="DPO only: comparisons per prompt drawn from the reference (ignored with --data)")
    ap.add_argument("--data", default=None, help="DPO only: a comparison file for workbench.prefdata.load_comparisons")
    add_config_flags(ap, LoopConfig, {"max_new_tokens": None})
    ap.add_argument("--no-eval", action="store_true", help="skip the exact evaluation (training statistics only)")
    ap.add_argument("--out", default=None, help="CSV of the run's tidy frame (written atomically by the main process)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint file (written by the main process)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --checkpoint")
    ap.add_argument("--extend", action="store_true", help="with --resume: continue a finished run to --steps")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing --checkpoint / --out")
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
    if args.stop_after is not None and args.stop_after % args.eval_every:
        raise UsageError(f"--stop-after {args.stop_after} must be a multiple of --eval-every {args.eval_every}")


def run(argv=None):
    """Parse ``argv``, train, write the CSV (main process); returns ``(TrainRun, Policy, Accelerator)``."""
    args = parse_args(argv)
    return run_args(args)


def run_args(args: argparse.Namespace):
    import torch

    from workbench.io import atomic_write_text
    from workbench.llm import REWARD_BASED, ExactEvaluator, LoopConfig, OracleJudge, bt_oracle_judge, load_policy, \
        make_trainer, train
    from workbench.llm.distributed import local_device, make_accelerator
    from workbench.llm.exact import task_prompts
    from workbench.llm.models import TinyLMConfig, model_path
    from workbench.llm.task import RPSTask

    hyper = {"beta": args.beta, **_hyper(args.hyper)}
    check_paths(args)
    if args.model not in ("tiny", "smollm2"):
        model_path(args.model)  # a missing folder is named before anything loads
    trainer = make_trainer(args.trainer, **hyper) if args.trainer != "DPO" else None  # bad hyperparameters fail here
    task = TinyLMConfig().task() if args.model == "tiny" else RPSTask()
    loop = {f: getattr(args, f) for f in ("steps", "batch_size", "lr", "weight_decay", "grad_clip", "temperature",
                                          "eval_every", "seed")}
    max_new = task.length if args.max_new_tokens is None else args.max_new_tokens
    config = LoopConfig(**loop, max_new_tokens=max_new)
    if config.max_new_tokens != task.length:
        raise UsageError(f"--max-new-tokens {config.max_new_tokens} differs from the task's response length "
                         f"{task.length}; drop the option (it defaults to the task's length)")
    if args.threads:
        torch.set_num_threads(args.threads)
    acc = make_accelerator()
    device = args.device if args.device is not None else local_device()
    dtype = getattr(torch, args.dtype) if args.dtype else None
    policy = load_policy(args.model, finetune=args.finetune, device=device, dtype=dtype, lora_r=args.lora_r,
                         seed=args.seed)
    policy.constrain(task.words)
    if args.trainer == "DPO":
        from workbench.device import make_generator
        from workbench.llm.dpo import rps_comparisons
        from workbench.prefdata import load_comparisons

        # every process builds the same set: the reference's samples from a generator seeded by --seed
        hyper["data"] = (load_comparisons(args.data) if args.data else
                         rps_comparisons(policy, task, args.pairs_per_prompt, make_generator(args.seed, policy.device)))
        trainer = make_trainer(args.trainer, **hyper)
    judge_name = args.judge or ("bt" if args.trainer in REWARD_BASED else "oracle")
    judge = bt_oracle_judge(task) if judge_name == "bt" else OracleJudge(task)
    evaluator = None if args.no_eval or not acc.is_main_process else ExactEvaluator.build(policy, task, args.beta)
    result = train(trainer, policy, judge, task_prompts(policy, task), config, evaluator=evaluator,
                   checkpoint=args.checkpoint, resume=args.resume, overwrite=args.overwrite, extend=args.extend,
                   model_name=Path(str(args.model)).name, progress=args.progress, accelerator=acc,
                   stop_after=args.stop_after)
    if acc.is_main_process:
        if args.out:
            atomic_write_text(args.out, result.frame.to_csv(index=False))
        last = result.frame[result.frame.step == result.frame.step.max()]
        summary = ", ".join(f"{m}={v:.4g}" for m, v in zip(last.metric, last.value))
        print(f"{trainer.name}: {result.steps} steps on {acc.num_processes} process(es), {result.queries} queries, "
              f"{result.tokens} tokens; step {result.steps}: {summary}")
    acc.wait_for_everyone()
    return result, policy, acc


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's lines joined (a resume refusal lists one field per line)."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    out = ""
    for line in (ln.strip() for ln in text.splitlines() if ln.strip()):
        out += (" " if out.endswith(":") else "; " if out else "") + line
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        run_args(args)
    except (ValueError, TypeError, KeyError, OSError, RuntimeError, ArithmeticError) as exc:
        if args.debug:
            raise
        print(f"{PROG}: error: {one_line(exc)} (--debug shows the traceback)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
