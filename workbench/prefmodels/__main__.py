"""``python -m workbench.prefmodels``: train a judge on a comparisons file and save it as a folder.

    python -m workbench.prefmodels --data data/prefs/tldr_sample.jsonl --kind pairwise --out judges/pairwise
    python -m workbench.prefmodels --data my_prefs.jsonl --kind bt --backbone smollm2 --epochs 3 --out judges/bt

The comparisons are read by :func:`workbench.prefdata.load_comparisons` (TL;DR, HH-RLHF, UltraFeedback, the plain
CSV / JSONL schema) and split by prompt into training and validation parts (``--val``); the model (``--kind``:
``pairwise``, ``bt`` or ``skew``) on a backbone (``tiny``: a small Llama with a tokenizer trained on the file's
texts; ``smollm2``; or a local Hugging Face folder) is fitted by :func:`workbench.prefmodels.train` with early
stopping and saved by :meth:`workbench.prefmodels.ModelJudge.save` (checksummed folder) for
``python -m workbench.llm.run --judge DIR``. An existing non-empty ``--out`` is replaced only with
``--overwrite``; every error is one line (``--debug`` for the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli import OneLineParser, run_cli

PROG = "python -m workbench.prefmodels"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def parse_args(argv=None) -> argparse.Namespace:
    ap = OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="comparisons file (or folder / glob) for load_comparisons")
    ap.add_argument("--kind", default="pairwise", choices=("pairwise", "bt", "skew"),
                    help="general pairwise model, Bradley-Terry reward, or skew-bilinear (default pairwise)")
    ap.add_argument("--backbone", default="tiny", help="'tiny' (trained on the file's texts), 'smollm2' or a local "
                                                        "Hugging Face folder")
    ap.add_argument("--out", required=True, help="folder to save the judge in")
    ap.add_argument("--val", type=_fraction, default=0.2, help="fraction of the prompts held out for validation")
    ap.add_argument("--epochs", type=_positive, default=10, help="passes over the training part (early stopping)")
    ap.add_argument("--batch-size", type=_positive, default=32, help="comparisons per step")
    ap.add_argument("--lr", type=float, default=3e-3, help="AdamW learning rate")
    ap.add_argument("--seed", type=int, default=0, help="split, initialisation and batch order")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    ap.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    ap.add_argument("--progress", action="store_true", help="show a progress bar")
    ap.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    """Train and save; returns the validation metrics (empty without a validation part)."""
    from workbench.prefdata import load_comparisons
    from workbench.prefmodels import ModelJudge, build_model, load_backbone, metrics, train
    from workbench.prefmodels.training import predict

    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        raise FileExistsError(f"--out {out} exists and is not empty; add --overwrite to replace it")
    comps = load_comparisons(args.data)
    if len(comps) < 2:
        raise ValueError(f"--data {args.data} holds {len(comps)} comparison(s); a judge needs more")
    train_part, val_part = comps.split((1 - args.val, args.val), seed=args.seed) if args.val > 0 else (comps, None)
    texts = comps.prompts + comps.responses_a + comps.responses_b
    bb = load_backbone(args.backbone, texts=texts if args.backbone == "tiny" else None, device=args.device,
                       seed=args.seed)
    model = build_model(args.kind, bb, seed=args.seed)
    train(model, train_part, val_part if val_part is not None and len(val_part) else None, epochs=args.epochs,
          batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=args.progress)
    scores = {}
    if val_part is not None and len(val_part):
        scores = metrics(predict(model, val_part), val_part.labels)
    ModelJudge(model, meta={"data": str(args.data), "kind": args.kind, "backbone": args.backbone,
                            "validation": scores}).save(out)
    return scores


def main(argv=None) -> int:
    args = parse_args(argv)
    done = {}
    if run_cli(PROG, lambda: done.setdefault("scores", run(args)), debug=args.debug):
        return 2
    scores = done["scores"]
    shown = ", ".join(f"{k}={v:.3f}" for k, v in scores.items() if isinstance(v, float))
    print(f"{args.kind} judge saved to {args.out}" + (f"; validation: {shown}" if shown else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
