"""``python -m workbench.llm.compare``: the judged pairwise win-rate matrix of exported policies and a ranking.

    python -m workbench.llm.compare --prompts data/prefs/tldr_sample.jsonl --judge judges/pairwise --model tiny \\
        --policy nash=runs/nash_model --policy rlhf=runs/rlhf_model --samples 8 --out runs/matrix.csv

Each ``--policy LABEL=DIR`` is a LoRA adapter folder written by ``python -m workbench.llm.run --save-model DIR``
(or :meth:`Policy.save_pretrained`) on the same ``--model``; the reference ``mu`` (the model itself) joins the
matrix. On the held-out prompts of ``--prompts`` (the same split as the training run's for the same ``--seed``
and ``--heldout``) every policy samples ``--samples`` responses per prompt and the judge scores every pair
(:func:`workbench.llm.evaluation.sampled_win_rates`): ``P(row ≻ column)``, with the standard error of each
entry. Printed: the matrix, the sampled ``KL(pi || mu)`` of each policy (a negative estimate counts as 0 in the
price), the regularized matrix
``W - beta KL_i + beta KL_j`` (the game NLHF solves, ``--beta``) and the meta-game ("Nash averaging") ranking
beside the average win rate. ``--out`` writes the long frame (results schema + ``opponent``) as CSV.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from workbench.cli import OneLineParser, run_cli

PROG = "python -m workbench.llm.compare"


def parse_args(argv=None) -> argparse.Namespace:
    ap = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", required=True, help="the prompts or comparisons file of the training runs")
    ap.add_argument("--judge", required=True, help="a saved ModelJudge folder or a transformers reward-model folder")
    ap.add_argument("--model", default="tiny", help="the base model the adapters were trained on (as --model of the runs)")
    ap.add_argument("--policy", action="append", default=[], metavar="LABEL=DIR", required=True,
                    help="an exported LoRA adapter folder and its label; repeatable")
    ap.add_argument("--heldout", type=float, default=0.2, help="held-out fraction (as in the training runs)")
    ap.add_argument("--seed", type=int, default=0, help="the split's seed (as in the training runs) and sampling's")
    ap.add_argument("--samples", type=int, default=8, help="responses per prompt and policy")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="response length cap")
    ap.add_argument("--beta", type=float, default=0.1, help="KL strength of the regularized matrix")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ap.add_argument("--out", default=None, help="CSV of the long win-rate frame")
    ap.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return ap.parse_args(argv)


def _adapters(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for item in pairs:
        label, sep, folder = item.partition("=")
        if not sep or not label.strip() or not folder.strip():
            raise ValueError(f"--policy expects LABEL=DIR; got {item!r}")
        path = Path(folder).expanduser()
        if not (path / "adapter_config.json").exists():
            raise FileNotFoundError(f"--policy {item}: {path} has no adapter_config.json (export LoRA runs with "
                                    f"--save-model DIR, without --merge)")
        if label in out or label == "reference":
            raise ValueError(f"--policy label {label!r} is used twice (or is 'reference', the base model's)")
        out[label.strip()] = path
    return out


def adapter_snapshot(policy, folder: Path) -> dict:
    """The trainable weights of ``policy`` with the adapter of ``folder`` loaded (checked names and shapes);
    the policy's own weights are restored."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    files = sorted(folder.glob("adapter_model.safetensors"))
    if not files:
        raise FileNotFoundError(f"{folder} has no adapter_model.safetensors")
    rank = json.loads((folder / "adapter_config.json").read_text()).get("r")
    mine = next(iter(policy.model.peft_config.values())).r
    if rank != mine:
        raise ValueError(f"{folder} is a LoRA adapter of rank {rank}; the others (and this comparison) use rank {mine}")
    saved = policy.snapshot()
    try:
        set_peft_model_state_dict(policy.model, load_file(str(files[0])))
        return policy.snapshot()
    finally:
        policy.load_snapshot(saved)


def run(args: argparse.Namespace):
    """Compute the matrix; returns ``(frame, tables, ranking)``."""
    import pandas as pd

    from workbench.device import make_generator
    from workbench.llm import evaluation as V
    from workbench.llm.judges import load_judge
    from workbench.llm.models import load_policy
    from workbench.llm.prompts import fit_prompts, load_prompts

    adapters = _adapters(args.policy)
    if args.samples < 1 or args.max_new_tokens < 1:
        raise ValueError("--samples and --max-new-tokens must be >= 1")
    split = load_prompts(args.prompts, heldout=args.heldout, seed=args.seed)
    prompts = split.heldout or split.train
    judge = load_judge(args.judge)
    ranks = {json.loads((p / "adapter_config.json").read_text()).get("r") for p in adapters.values()}
    from workbench.llm.run import model_label, resolve_model

    policy = load_policy(resolve_model(args.model, exclude=split.heldout), device=args.device,
                         lora_r=int(next(iter(ranks))) if len(ranks) == 1 else 8)
    prompts, _ = fit_prompts(policy, prompts, args.max_new_tokens)
    trained = [V.Trained(label, args.seed, adapter_snapshot(policy, path)) for label, path in adapters.items()]
    frame = V.sampled_win_rates(policy, judge, prompts, trained, n_samples=args.samples,
                                max_new_tokens=args.max_new_tokens, generator=make_generator(args.seed, policy.device),
                                model_name=model_label(args.model), beta=args.beta)
    tables = V.win_rate_table(frame)
    front = V.sampled_frontier(policy, judge, prompts, trained, n_samples=args.samples,
                               max_new_tokens=args.max_new_tokens,
                               generator=make_generator(args.seed + 1, policy.device), beta=args.beta)
    kl = front[front.metric == "kl_to_mu"].set_index("algo")["value"]
    # a Monte-Carlo estimate of KL may fall below 0 (noise around a small KL); the game's price is KL >= 0
    regularized = V.regularized_win_rates(tables["mean"], kl.clip(lower=0.0), args.beta)
    ranking = V.meta_game_ranking(regularized)
    tables = {**tables, "kl_to_mu": pd.DataFrame({"KL(pi || mu)": kl}), "regularized": regularized}
    return frame, tables, ranking


def main(argv=None) -> int:
    args = parse_args(argv)
    done = {}

    def body():
        done["frame"], done["tables"], done["ranking"] = run(args)
        if args.out:
            from workbench.io import atomic_write_text

            atomic_write_text(args.out, done["frame"].to_csv(index=False))

    if run_cli(PROG, body, debug=args.debug):
        return 2
    tables, ranking = done["tables"], done["ranking"]
    import pandas as pd

    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 160):
        print("judged win rate P(row ≻ column):\n" + tables["mean"].to_string())
        print("\nsampled KL(pi || mu):\n" + tables["kl_to_mu"].to_string())
        print(f"\nregularized (beta = {args.beta:g}): W - beta KL_row + beta KL_column:\n" + tables["regularized"].to_string())
        print("\nranking (meta-game Nash averaging vs average win rate, on the regularized matrix):\n"
              + ranking.table.to_string() + "\n" + ranking.explanation)
    return 0


if __name__ == "__main__":
    sys.exit(main())
