"""Benchmarks for the tabular lab (a script that prints tables, not a test).

(a) Batched sweep: many random games of ``n`` responses stepped at once by a tabular method (Nash-MP
    by default) with torch, on CPU in float64 and float32 and on CUDA when present, against a plain
    float64 numpy loop over the games doing the same work. Throughput in games x steps per second.
(b) Exact solvers: the batched regularized Newton solver ``workbench.games.solve`` against scipy's
    LP (HiGHS) ``workbench.games.solve_unregularized`` on the same games at several ``n``.

    .venv/bin/python benchmarks/bench_tabular.py            # full size (a few minutes)
    .venv/bin/python benchmarks/bench_tabular.py --quick    # small version (seconds)
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd
import torch

from workbench.games import random_game, solve, solve_unregularized
from workbench.metrics import exploitability, regularized_exploitability
from workbench.tabular import make_method
from workbench.tabular.driver import final_state, iterate


# ---------------------------------------------------------------------------------------------- (a)
def numpy_nash_mp(P: np.ndarray, mu: np.ndarray, beta: float, eta: float, steps: int) -> np.ndarray:
    """Nash-MP (see workbench/tabular/nash_mp.py) for one game, plain float64 numpy: the baseline."""
    log_mu = np.log(mu)
    pi = mu.copy()
    for _ in range(steps):
        centre = (np.log(pi) + eta * log_mu) / (1 + eta)
        z = centre + eta / (beta * (1 + eta)) * (P @ pi)
        half = np.exp(z - z.max())
        half /= half.sum()
        z = centre + eta / (beta * (1 + eta)) * (P @ half)
        pi = np.exp(z - z.max())
        pi /= pi.sum()
    return pi


def numpy_nash_md(P: np.ndarray, mu: np.ndarray, beta: float, eta: float, steps: int) -> np.ndarray:
    """Nash-MD with a constant step (see workbench/tabular/nash_md.py), plain float64 numpy."""
    log_mu = np.log(mu)
    pi = mu.copy()
    for _ in range(steps):
        z = (1 - eta * beta) * np.log(pi) + eta * beta * log_mu
        mix = np.exp(z - z.max())
        mix /= mix.sum()
        z = np.log(mix) + eta * (P @ mix)
        pi = np.exp(z - z.max())
        pi /= pi.sum()
    return pi


NUMPY = {"Nash-MP": numpy_nash_mp, "Nash-MD": numpy_nash_md}


def bench_sweep(games: int, n: int, steps: int, method: str, beta: float, numpy_games: int, seed: int = 0) -> pd.DataFrame:
    eta = 2 * beta if method == "Nash-MP" else 0.5
    rows = []
    game64 = random_game(n, beta=beta, batch=games, seed=seed)
    P_np, mu_np = game64.P.numpy(), game64.mu.numpy()
    k = min(numpy_games, games)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = np.stack([NUMPY[method](P_np[g], mu_np[g], beta, eta, steps) for g in range(k)])
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    rows.append(dict(backend="numpy loop", device="cpu", dtype="float64", games=k, seconds=dt, cpu_seconds=dc, max_abs_diff=0.0))
    targets = [("cpu", torch.float64), ("cpu", torch.float32)]
    if torch.cuda.is_available():
        targets += [("cuda", torch.float64), ("cuda", torch.float32)]
    m = make_method(method, eta=eta)
    for device, dtype in targets:
        game = game64.to(device, dtype)
        for chunk in ([None, "auto"] if device == "cpu" else [None]):
            final_state(m, game[:min(games, 256)], 1, chunk=chunk)  # warm-up (CUDA context, allocator)
            if device == "cuda":
                torch.cuda.synchronize()
            t0, c0 = time.perf_counter(), time.process_time()
            state = final_state(m, game, steps, chunk=chunk)
            if device == "cuda":
                torch.cuda.synchronize()
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            diff = float(np.abs(state.pi[:k].double().cpu().numpy() - ref).max())
            label = "torch batched" if chunk is None else "torch batched, cache-sized chunks"
            rows.append(dict(backend=label, device=device, dtype=str(dtype).replace("torch.", ""), games=games, seconds=dt,
                             cpu_seconds=dc, max_abs_diff=diff))
    df = pd.DataFrame(rows)
    df.insert(0, "method", method)
    df["n"], df["steps"] = n, steps
    df["game_steps_per_s"] = df.games * df.steps / df.seconds
    df["speedup_vs_numpy"] = df.game_steps_per_s / df.game_steps_per_s.iloc[0]
    # On a shared CPU the wall clock includes waiting for a core; CPU seconds do not (1 thread: same work).
    df["game_steps_per_cpu_s"] = df.games * df.steps / df.cpu_seconds
    df["cpu_speedup_vs_numpy"] = df.game_steps_per_cpu_s / df.game_steps_per_cpu_s.iloc[0]
    return df


# ---------------------------------------------------------------------------------------------- (b)
def bench_solvers(sizes: list[tuple[int, int]], beta: float, seed: int = 0) -> pd.DataFrame:
    rows = []
    for n, games in sizes:
        game = random_game(n, beta=beta, batch=games, seed=seed + n)
        t0 = time.perf_counter()
        pi_reg = solve(game)
        t_newton = time.perf_counter() - t0
        t0 = time.perf_counter()
        pi_lp = solve_unregularized(game)
        t_lp = time.perf_counter() - t0
        rows.append(dict(solver="solve (batched Newton, beta>0)", n=n, games=games, seconds=t_newton, ms_per_game=1e3 * t_newton / games,
                         worst_residual=float(regularized_exploitability(game, pi_reg).max()), residual="reg. exploitability"))
        rows.append(dict(solver="solve_unregularized (HiGHS LP)", n=n, games=games, seconds=t_lp, ms_per_game=1e3 * t_lp / games,
                         worst_residual=float(exploitability(game, pi_lp).max()), residual="exploitability"))
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--method", default="Nash-MP", choices=sorted(NUMPY), help="method of the batched sweep")
    ap.add_argument("--games", type=int, default=None, help="games in the batched sweep (default 10000; quick 1000)")
    ap.add_argument("--n", type=int, default=50, help="responses per game in the sweep")
    ap.add_argument("--steps", type=int, default=None, help="steps of the sweep (default 50; quick 20)")
    ap.add_argument("--numpy-games", type=int, default=None, help="games timed in the numpy loop (default 500; quick 100)")
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1, like the numpy loop; 0 = torch's choice)")
    ap.add_argument("--skip-solvers", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    games = args.games or (1000 if args.quick else 10_000)
    steps = args.steps or (20 if args.quick else 50)
    numpy_games = args.numpy_games or (100 if args.quick else 500)
    sizes = [(10, 100), (100, 10), (300, 1)] if args.quick else [(10, 1000), (100, 100), (1000, 2)]

    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",)
    print(f"# NLHF workbench tabular benchmarks ({'quick' if args.quick else 'full'})")
    print(f"torch {torch.__version__}, numpy {np.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cpus, torch threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}")
    print(f"load average at start {tuple(round(x, 2) for x in load)}: timings on a shared machine are noisy; compare rows of one run.\n")

    print(f"## (a) batched sweep: {games} random games, n = {args.n}, {steps} steps of {args.method}, beta = {args.beta}")
    print(f"(numpy loop timed on the first {numpy_games} games; max_abs_diff = final policies vs numpy on those games)")
    sweep = bench_sweep(games, args.n, steps, args.method, args.beta, numpy_games)
    print(sweep.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print()
    if not args.skip_solvers:
        print(f"## (b) exact solvers on random games, beta = {args.beta} for Newton (the LP ignores beta)")
        print(bench_solvers(sizes, args.beta).to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    print(f"\nload average at end {tuple(round(x, 2) for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
