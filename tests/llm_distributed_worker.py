"""Started by ``torchrun`` from tests/test_llm_distributed.py: several :mod:`workbench.llm.run` runs in one
process group (one launch, one model load per process), each process saving its final weights.

    torchrun --standalone --nproc_per_node 2 tests/llm_distributed_worker.py OUTDIR -- ARGS... -- ARGS...
"""

import sys

import torch

from workbench.llm.run import run

if __name__ == "__main__":
    out, rest = sys.argv[1], sys.argv[2:]
    runs, cur = [], None
    for a in rest:
        if a == "--":
            cur = []
            runs.append(cur)
        else:
            cur.append(a)
    for i, argv in enumerate(runs):
        _, policy, acc = run(argv)
        torch.save(policy.snapshot(), f"{out}/run{i}_rank{acc.process_index}.pt")
