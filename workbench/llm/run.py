"""Command line for one LLM-lab training run on the enumerable task: argparse -> LoopConfig -> train -> CSV.

    python -m workbench.llm.run --trainer Nash-MD-PG --model tiny --steps 60 --out runs/nash_md.csv
    torchrun --standalone --nproc_per_node 2 -m workbench.llm.run --trainer Nash-MD-PG --batch-size 16  # 2 CPU processes
    accelerate launch --config_file configs/accelerate/ddp.yaml -m workbench.llm.run --model smollm2 ...  # GPUs

The same script runs on one process or under ``accelerate launch`` (:mod:`workbench.llm.distributed`):
each process loads the policy on its own device, ``--batch-size`` is the global batch, the main process
evaluates, writes the checkpoint and the CSV (the tidy frame of :func:`workbench.llm.loop.train`).
``--checkpoint F --resume`` continues a run, also on another number of processes; ``--stop-after K``
leaves a run after step ``K`` (a multiple of ``--eval-every``) for a later ``--resume``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def parse_args(argv=None) -> argparse.Namespace:
    from workbench.llm import TRAINERS

    ap = argparse.ArgumentParser(prog="python -m workbench.llm.run", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trainer", default="Nash-MD-PG", choices=list(TRAINERS), help="registry name")
    ap.add_argument("--beta", type=float, default=0.1, help="KL strength (trainer and exact evaluation)")
    ap.add_argument("--hyper", action="append", default=[], metavar="KEY=VALUE",
                    help="another trainer hyperparameter (YAML value), e.g. --hyper mixture=0.25; repeatable")
    ap.add_argument("--model", default="tiny", help="'tiny', 'smollm2' or a local checkpoint folder")
    ap.add_argument("--finetune", default="lora", choices=("lora", "full"), help="train LoRA adapters or all weights")
    ap.add_argument("--lora-r", type=int, default=8, help="LoRA rank")
    ap.add_argument("--dtype", default=None, choices=("float32", "bfloat16", "float16"),
                    help="model dtype (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--device", default=None, help="device (default: this process's device under accelerate)")
    ap.add_argument("--judge", default=None, choices=("oracle", "bt"),
                    help="the task's oracle, or its BT projection (default: bt for reward-based trainers)")
    ap.add_argument("--pairs-per-prompt", type=int, default=32,
                    help="DPO only: comparisons per prompt drawn from the reference (ignored with --data)")
    ap.add_argument("--data", default=None, help="DPO only: a comparison file for workbench.prefdata.load_comparisons")
    ap.add_argument("--steps", type=int, default=60, help="gradient steps")
    ap.add_argument("--batch-size", type=int, default=16, help="GLOBAL prompts per step (divisible by processes)")
    ap.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate")
    ap.add_argument("--grad-clip", type=float, default=1.0, help="max grad norm (0: none)")
    ap.add_argument("--eval-every", type=int, default=10, help="steps between evaluations and checkpoints")
    ap.add_argument("--seed", type=int, default=0, help="run seed (prompt batches, sampling, DPO data)")
    ap.add_argument("--no-eval", action="store_true", help="skip the exact evaluation (training statistics only)")
    ap.add_argument("--out", default=None, help="CSV of the run's tidy frame (written by the main process)")
    ap.add_argument("--checkpoint", default=None, help="checkpoint file (written by the main process)")
    ap.add_argument("--resume", action="store_true", help="continue the run in --checkpoint")
    ap.add_argument("--stop-after", type=int, default=None, help="leave after this step (resume later)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads per process")
    ap.add_argument("--progress", action="store_true", help="show a progress bar")
    return ap.parse_args(argv)


def _hyper(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--hyper expects KEY=VALUE; got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(argv=None):
    """Parse ``argv``, train, write the CSV (main process); returns ``(TrainRun, Policy, Accelerator)``."""
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from workbench.device import make_generator
    from workbench.llm import REWARD_BASED, ExactEvaluator, LoopConfig, OracleJudge, bt_oracle_judge, load_policy, \
        make_trainer, train
    from workbench.llm.distributed import local_device, make_accelerator
    from workbench.llm.exact import task_prompts
    from workbench.llm.models import TinyLMConfig
    from workbench.llm.task import RPSTask

    acc = make_accelerator()
    device = args.device if args.device is not None else local_device()
    dtype = getattr(torch, args.dtype) if args.dtype else None
    policy = load_policy(args.model, finetune=args.finetune, device=device, dtype=dtype, lora_r=args.lora_r,
                         seed=args.seed)
    task = TinyLMConfig().task() if args.model == "tiny" else RPSTask()
    policy.constrain(task.words)
    hyper = {"beta": args.beta, **_hyper(args.hyper)}
    if args.trainer == "DPO":
        from workbench.llm.dpo import rps_comparisons
        from workbench.prefdata import load_comparisons

        # every process builds the same set: the reference's samples from a generator seeded by --seed
        hyper["data"] = (load_comparisons(args.data) if args.data else
                         rps_comparisons(policy, task, args.pairs_per_prompt, make_generator(args.seed, policy.device)))
    trainer = make_trainer(args.trainer, **hyper)
    judge_name = args.judge or ("bt" if args.trainer in REWARD_BASED else "oracle")
    judge = bt_oracle_judge(task) if judge_name == "bt" else OracleJudge(task)
    evaluator = None if args.no_eval or not acc.is_main_process else ExactEvaluator.build(policy, task, args.beta)
    config = LoopConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, grad_clip=args.grad_clip,
                        max_new_tokens=task.length, eval_every=args.eval_every, seed=args.seed)
    result = train(trainer, policy, judge, task_prompts(policy, task), config, evaluator=evaluator,
                checkpoint=args.checkpoint, resume=args.resume, model_name=Path(str(args.model)).name,
                progress=args.progress, accelerator=acc, stop_after=args.stop_after)
    if acc.is_main_process:
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            result.frame.to_csv(args.out, index=False)
        last = result.frame[result.frame.step == result.frame.step.max()]
        summary = ", ".join(f"{m}={v:.4g}" for m, v in zip(last.metric, last.value))
        print(f"{trainer.name}: {result.steps} steps on {acc.num_processes} process(es), {result.queries} queries, "
              f"{result.tokens} tokens; step {result.steps}: {summary}")
    acc.wait_for_everyone()
    return result, policy, acc


def main(argv=None) -> int:
    run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
