"""Run tabular methods on a (batched) game and record every metric in one tidy frame.

    df = run({"Nash-MD": NashMD(), "Nash-MP": NashMP()}, game, steps=200, record_every=5)
    pis = trajectory(NashMP(), game, steps=50)          # (steps+1, *B, n) last iterates

The frame is the long results schema of :mod:`workbench.results` (core columns ``algo, seed, step,
queries, metric, value``) with the tabular lab's knob columns :data:`KNOB_COLUMNS` ``game, beta, eta,
eta_schedule``, in the order :data:`COLUMNS` ``algo, game, beta, eta, eta_schedule, seed, step, queries,
metric, value``. ``game`` is the flat index into the game's batch shape; ``eta`` the step as a float:
the method's number, the per-game value of a schedule that does not vary with ``t`` (``2 beta`` for
:func:`workbench.schedules.two_beta`), NaN for one that does (Nash-MD's ``2/(beta(t+2))``) and for
methods without a step (FP); ``eta_schedule`` its readable label (``"0.1"``, ``"2beta"``,
``"2/(beta(t+2))"``, ``"none"``). ``queries`` counts the preference queries spent by that step
(``TabularState.queries``), ``metric`` is a key of :func:`workbench.metrics.evaluate`
(``reg_exploitability, exploitability, win_rate_vs_mu, kl_to_mu`` and, when an equilibrium is known,
``kl_to_eq, span_log_ratio``), prefixed ``avg_`` for the average iterate when ``average=True``.
Steps recorded: ``0, record_every, 2 record_every, ...`` and always the last step.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from workbench.device import make_generator
from workbench.games.game import PreferenceGame
from workbench.games.solvers import solve
from workbench.metrics import evaluate
from workbench.results import CORE_COLUMNS, KNOBS, check_frame
from workbench.schedules import Schedule, as_schedule
from workbench.tabular.base import ExactOracle, TabularState

__all__ = ["run", "trajectory", "iterate", "final_state", "recorded_steps", "COLUMNS", "KNOB_COLUMNS"]

CACHE_BYTES = 5 * 2**20  # CPU chunk target for final_state: each chunk's P stays in cache across steps

KNOB_COLUMNS = tuple(KNOBS["tabular"])  # ("game", "beta", "eta", "eta_schedule"): the tabular lab's knobs
COLUMNS = ("algo", *KNOB_COLUMNS, *CORE_COLUMNS[1:])  # algo, game, beta, eta, eta_schedule, seed, step, ...


def _labelled(methods) -> dict[str, object]:
    """``dict`` label -> method from a dict, a list of methods (label = ``method.name``) or one method."""
    if hasattr(methods, "init") and hasattr(methods, "step"):
        methods = [methods]
    if isinstance(methods, Mapping):
        out = dict(methods)
    elif isinstance(methods, Sequence):
        out = {}
        for m in methods:
            label = getattr(m, "name", type(m).__name__)
            if label in out:
                raise ValueError(f"two methods share the label {label!r}; pass a dict {{label: method}} to tell them apart")
            out[label] = m
    else:
        raise TypeError(f"methods must be a dict {{label: method}}, a list of methods or one method; got {type(methods).__name__}")
    if not out:
        raise ValueError("run needs at least one method")
    for label, m in out.items():
        if not (hasattr(m, "init") and hasattr(m, "step")):
            raise TypeError(f"method {label!r} has no init/step (got {type(m).__name__})")
    return out


def _eta_columns(method, beta: torch.Tensor) -> tuple[np.ndarray, str]:
    """The method's step for the frame: per-game floats ``(G,)`` (NaN where the schedule varies with
    ``t`` or the method has no step) and the readable label."""
    eta = getattr(method, "eta", None)
    G = beta.numel()
    if eta is None:
        return np.full(G, np.nan), "none"
    schedule = eta if isinstance(eta, Schedule) else as_schedule(eta, getattr(method, "name", type(method).__name__))
    if schedule.varies_with_t:
        return np.full(G, np.nan), schedule.label
    values = schedule(0, beta.reshape(-1)).detach().to("cpu", torch.float64).numpy()  # (G,) uncapped step
    return values, schedule.label


def recorded_steps(steps: int, record_every: int = 1) -> list[int]:
    """``0, record_every, 2 record_every, ...`` and always ``steps``."""
    if steps < 0:
        raise ValueError(f"steps must be >= 0; got {steps}")
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1; got {record_every}")
    out = list(range(0, steps + 1, record_every))
    if out[-1] != steps:
        out.append(steps)
    return out


def iterate(method, game: PreferenceGame, steps: int, *, oracle=None, seed: int = 0, progress: bool = False,
            desc: str | None = None) -> Iterator[TabularState]:
    """Yield the states ``t = 0..steps`` of ``method`` on ``game`` (generator seeded on the game's device)."""
    oracle = oracle or ExactOracle()
    generator = make_generator(seed, game.device)
    state = method.init(game, oracle)
    yield state
    for _ in tqdm(range(steps), desc=desc or getattr(method, "name", None), disable=not progress, leave=False):
        state = method.step(game, state, oracle, generator)
        yield state


def trajectory(method, game: PreferenceGame, steps: int, *, oracle=None, seed: int = 0, average: bool = False,
               progress: bool = False) -> torch.Tensor:
    """Iterates ``(steps+1, *B, n)``: the last iterates ``pi_0..pi_steps``, or with ``average=True`` the
    average iterates ``avg_0..avg_steps``."""
    return torch.stack([(s.avg if average else s.pi) for s in iterate(method, game, steps, oracle=oracle, seed=seed, progress=progress)])


def final_state(method, game: PreferenceGame, steps: int, *, oracle=None, seed: int = 0,
                chunk: int | str | None = "auto") -> TabularState:
    """The state after ``steps`` iterations on every game of the batch, for sweeps that need only the end.

    The flat batch is processed ``chunk`` games at a time, all steps per chunk, so that on a CPU each
    chunk's ``P`` stays in cache instead of streaming the whole batch from memory every step
    (``"auto"``: chunks of about 5 MiB of ``P`` on CPU, one chunk on CUDA; ``None``: one chunk).
    Exact oracles give the same result for every ``chunk``; sampled ones draw a different random stream
    per chunk (seeded ``seed``, ``seed + 1``, ...).
    """
    n = game.n
    flat = PreferenceGame(game.P.reshape(-1, n, n), game.mu.reshape(-1, n), game.beta.reshape(-1), game.names)
    G = flat.P.shape[0]
    if chunk == "auto":
        chunk = None if game.device.type != "cpu" else max(1, CACHE_BYTES // (n * n * game.P.element_size()))
    elif chunk is not None and (isinstance(chunk, str) or chunk < 1):
        raise ValueError(f"chunk must be a positive int, 'auto' or None; got {chunk!r}")
    size = G if chunk is None else int(chunk)
    states = []
    for i, start in enumerate(range(0, G, size)):
        for state in iterate(method, flat[start:start + size], steps, oracle=oracle, seed=seed + i):
            pass
        states.append(state)
    cat = lambda ts: torch.cat(ts).reshape(*game.batch_shape, *ts[0].shape[1:])  # noqa: E731
    fields_ = {}
    for name, first in states[0].tensors().items():
        parts = [s.tensors()[name] for s in states]
        if name == "queries":
            parts = [q.expand(s.pi.shape[:-1]) for q, s in zip(parts, states)]
        fields_[name] = None if first is None else cat(parts)
    return type(states[0])(t=states[0].t, **fields_)


def run(methods, game: PreferenceGame, steps: int, *, oracle=None, seed: int = 0, record_every: int = 1,
        pi_star: torch.Tensor | None = None, average: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run every method for ``steps`` iterations on ``game`` and return the tidy metrics frame.

    ``methods``: ``dict`` label -> method, or a list of methods (label = ``method.name``).
    ``oracle``: ``None`` (:class:`ExactOracle`) or e.g. ``SampledOracle(samples=k)``; every method
    gets its own ``torch.Generator`` on the game's device seeded with ``seed``.
    ``pi_star``: the equilibrium ``(*B, n)``; computed with :func:`workbench.games.solve` when ``None``
    and every ``beta > 0`` (otherwise the ``kl_to_eq`` / ``span_log_ratio`` metrics are left out).
    ``average=True`` also records the average iterate's metrics as ``avg_<metric>``.
    """
    labelled = _labelled(methods)
    record = recorded_steps(steps, record_every)
    if pi_star is None and bool((game.beta > 0).all()):
        pi_star = solve(game)
    if pi_star is not None:
        pi_star = torch.as_tensor(pi_star).to(game.mu)
        if pi_star.shape[-1] != game.n:
            raise ValueError(f"pi_star must have {game.n} entries (last dim); got shape {tuple(pi_star.shape)}")
        pi_star = pi_star.expand_as(game.mu)
    G = int(np.prod(game.batch_shape, dtype=np.int64)) if game.batch_shape else 1
    beta = game.beta.reshape(-1).detach().to("cpu", torch.float64).numpy()  # (G,)
    full_beta = game.beta.expand(game.batch_shape)  # (*B,)
    frames = []
    for label, method in labelled.items():
        rows, queries, names = [], [], None
        wanted = set(record)
        for state in iterate(method, game, steps, oracle=oracle, seed=seed, progress=progress, desc=label):
            if state.t not in wanted:
                continue
            metrics = evaluate(game, state.pi, pi_star)
            if average:
                metrics.update({f"avg_{k}": v for k, v in evaluate(game, state.avg, pi_star).items()})
            names = list(metrics)
            rows.append(torch.stack([v.reshape(-1) for v in metrics.values()]).detach().to("cpu", torch.float64))  # (M, G)
            queries.append(state.queries.reshape(-1).expand(G).detach().to("cpu", torch.float64))  # (G,)
        values = torch.stack(rows).numpy()  # (R, M, G)
        R, M, _ = values.shape
        q = torch.stack(queries).numpy()  # (R, G)
        eta, eta_label = _eta_columns(method, full_beta)  # (G,), str
        frames.append(pd.DataFrame({
            "algo": label,
            "game": np.tile(np.arange(G), R * M),
            "beta": np.tile(beta, R * M),
            "eta": np.tile(eta, R * M),
            "eta_schedule": eta_label,
            "seed": seed,
            "step": np.repeat(np.asarray(record, dtype=np.int64), M * G),
            "queries": np.repeat(q[:, None, :], M, axis=1).reshape(-1).round().astype(np.int64),
            "metric": np.tile(np.repeat(np.asarray(names, dtype=object), G), R),
            "value": values.reshape(-1),
        }))
    return check_frame(pd.concat(frames, ignore_index=True)[list(COLUMNS)], "tabular", name="tabular.driver.run")
