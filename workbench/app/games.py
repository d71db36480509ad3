"""The Games view: a preference game, its regularized equilibrium, and the tabular methods racing to it.

Pick a library game, a random one with a seed, or upload a CSV of pairwise win counts
(:func:`workbench.games.from_win_counts_csv`); set ``beta``, the step size ``eta`` (a number or a schedule),
the steps and the methods. The view shows the policies as bars next to the exact equilibrium ``pi*_beta``,
the preference matrix, the equilibrium's path along ``beta`` with the exploitability of ``pi*_beta`` and of
``mu``, and the exact convergence curves of :func:`workbench.tabular.driver.run` against steps and queries.

The model is :func:`make_game` + :func:`game_model` (parameters -> :class:`GameResult`, frames and figures,
no widgets); :class:`GamesView` wires widgets to it and runs a batched sweep (many random games x many
``beta``) in a background thread with a progress bar and a cancel button.
"""

from __future__ import annotations

import math
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param
import plotly.graph_objects as go
import torch

from workbench.app.common import MAX_N, Messages, placeholder, plotly_pane, set_figure
from workbench.games import GameError, PreferenceGame, from_win_counts_csv, random_game, solve
from workbench.metrics import exploitability, regularized_exploitability
from workbench.plots.curves import metric_curves
from workbench.plots.games import equilibrium_path, policy_bars, preference_heatmap, share_vs_knob
from workbench.schedules import constant, nash_md_theory, two_beta
from workbench.tabular import METHODS, make_method
from workbench.tabular.driver import iterate
from workbench.tabular.driver import run as run_tabular
from workbench.ui.games import make_game as library_game
from workbench.ui.games import skewed_mu

__all__ = ["LIBRARY", "ETA_CHOICES", "CURVE_METRICS", "make_game", "game_model", "GameResult", "equilibrium_sweep",
           "sweep_model", "GamesView"]

#: library games: display name -> (code of workbench.ui.games.make_game, or "arena" for the shipped CSV)
LIBRARY = {
    "Rock–paper–scissors": "RPS",
    "5-cycle": "5-cycle",
    "Bradley–Terry (transitive)": "BT",
    "Transitive + cyclic mixture": "mixture",
    "Arena-style win counts (shipped)": "arena",
}
ARENA_CSV = Path(__file__).resolve().parents[2] / "data" / "games" / "arena_wins_matrix.csv"
#: step-size choices: display name -> schedule factory (None: the method's own default)
ETA_CHOICES = {
    "each method's default": None,
    "constant η (below)": "constant",
    "Nash-MD theory 2/(β(t+2))": nash_md_theory,
    "η = 2β": two_beta,
}
#: metrics of the convergence curves: display name -> code name in the driver's frame
CURVE_METRICS = {
    "KL(π*‖πₜ): distance to the equilibrium": "kl_to_eq",
    "regularized exploitability": "reg_exploitability",
    "exploitability (β = 0)": "exploitability",
}
PATH_BETAS = np.logspace(-3, 1, 33)  # the beta grid of the equilibrium path (log-spaced)


def _check_beta(beta) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"β must be a number; got {beta!r}") from None
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"β must be a positive finite number (the regularized game needs β > 0); got {beta:g}")
    if beta < 1e-4:
        raise ValueError(f"β = {beta:g} is below the solver's smallest β (1e-4)")
    return beta


def make_game(source: str, beta: float, *, library: str = "Rock–paper–scissors", n: int = 6, seed: int = 0,
              intransitivity: float = 0.5, csv: bytes | None = None, filename: str = "upload.csv",
              mu: str = "skewed") -> PreferenceGame:
    """The game of the view: ``source`` is ``"library"`` (``library``: a name of :data:`LIBRARY`), ``"random"``
    (``random_game(n, beta, seed)``) or ``"upload"``; ``mu`` is the reference of the library and random games,
    ``"uniform"`` or ``"skewed"`` (:func:`workbench.ui.games.skewed_mu`, so that ``pi*_beta`` moves with ``beta``) (``csv``: the bytes of a win-count CSV, read by
    :func:`~workbench.games.from_win_counts_csv`; its problems are reported under ``filename``).

    Raises ``ValueError`` (a ``GameError`` for a bad CSV) with a readable message for bad input: ``beta <= 0``,
    ``n`` outside ``[2, MAX_N]``, an unknown library name, a missing, malformed or non-square CSV.
    """
    beta = _check_beta(beta)
    if source == "library":
        if library not in LIBRARY:
            raise ValueError(f"unknown library game {library!r}; choose one of {list(LIBRARY)}")
        code = LIBRARY[library]
        if code == "arena":
            return from_win_counts_csv(ARENA_CSV, beta=beta)
        return library_game(code, beta, intransitivity, n=_check_n(n), seed=int(seed), mu=mu)
    if source == "random":
        n = _check_n(n)
        return random_game(n, beta, seed=int(seed), mu=skewed_mu(n) if mu == "skewed" else "uniform")
    if source == "upload":
        if not csv:
            raise ValueError("no CSV uploaded yet: choose a file of pairwise win counts (a square table with row "
                             "and column labels, or columns winner,loser,count)")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.csv"
            path.write_bytes(csv)
            try:
                game = from_win_counts_csv(path, beta=beta)
            except GameError as exc:
                raise GameError(str(exc).replace(str(path), filename)) from None
            except Exception as exc:  # pandas' parser errors (ragged rows, binary data)
                raise GameError(f"{filename}: not a readable CSV ({type(exc).__name__}: "
                                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
        if game.n > MAX_N:
            raise ValueError(f"{filename}: {game.n} players; the view solves games up to n = {MAX_N}")
        return game
    raise ValueError(f"unknown game source {source!r}; use 'library', 'random' or 'upload'")


def _check_n(n) -> int:
    if isinstance(n, bool) or not float(n).is_integer():
        raise ValueError(f"n must be a whole number; got {n!r}")
    n = int(n)
    if not 2 <= n <= MAX_N:
        raise ValueError(f"n = {n} is outside [2, {MAX_N}]: the view solves games up to n = {MAX_N} interactively")
    return n


def _eta(choice: str, value: float):
    if choice not in ETA_CHOICES:
        raise ValueError(f"unknown step-size choice {choice!r}; choose one of {list(ETA_CHOICES)}")
    factory = ETA_CHOICES[choice]
    if factory is None:
        return None
    if factory == "constant":
        return constant(value)  # raises a ValueError naming the value for eta <= 0, NaN, inf
    return factory()


def methods_for(names, eta_choice: str = "each method's default", eta: float = 0.1) -> dict:
    """``{name: tabular method}`` for the chosen methods, with the step size applied to each."""
    names = list(names)
    if not names:
        raise ValueError("choose at least one method")
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; the tabular methods are {list(METHODS)}")
    schedule = _eta(eta_choice, eta)
    return {m: make_method(m) if schedule is None else make_method(m, eta=schedule) for m in names}


@dataclass
class GameResult:
    """What the Games view shows for one setting (``frame``: the driver's tidy frame)."""

    game: PreferenceGame
    pi_star: torch.Tensor
    frame: pd.DataFrame
    finals: dict[str, torch.Tensor]
    path: pd.DataFrame  # beta, exploitability of pi*_beta and of mu, regularized exploitability of mu
    figures: dict[str, go.Figure] = field(repr=False)


def _names(game: PreferenceGame) -> list[str]:
    return list(game.names) if game.names else [f"y{i}" for i in range(game.n)]


_PATH_CACHE: dict[tuple, tuple] = {}


def equilibrium_sweep(game: PreferenceGame, betas=PATH_BETAS) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """``pi*_beta`` for every ``beta`` of the grid (one batched solve), the ``beta = 0`` LP equilibrium and a
    frame ``beta, exploitability of pi*_beta, exploitability of mu, regularized exploitability of mu``.
    Cached per game (a beta slider does not re-solve the path)."""
    key = (game.P.numpy().tobytes(), game.mu.numpy().tobytes(), tuple(np.round(betas, 12)))
    if key in _PATH_CACHE:
        return _PATH_CACHE[key]
    b = torch.as_tensor(np.asarray(betas, dtype=float))  # (K,)
    many = PreferenceGame.create(game.P, game.mu, b, names=game.names)  # (K, n, n)
    pis = solve(many)  # (K, n)
    zero = game.with_beta(0.0)
    lp = solve(zero)  # (n,)
    mu = game.mu.expand_as(pis)  # (K, n)
    path = pd.DataFrame({
        "beta": b.numpy(),
        "exploitability of π*_β": exploitability(zero, pis).numpy(),
        "exploitability of μ": exploitability(zero, mu).numpy(),
        "regularized exploitability of μ": regularized_exploitability(many, mu).numpy(),
    })
    out = (pis.numpy(), lp.numpy(), path)
    if len(_PATH_CACHE) > 64:
        _PATH_CACHE.clear()
    _PATH_CACHE[key] = out
    return out


_FIGURE_CACHE: dict[tuple, dict] = {}


def _game_key(game: PreferenceGame) -> tuple:
    return (game.P.numpy().tobytes(), game.mu.numpy().tobytes(), game.names)


def path_figures(game: PreferenceGame, beta: float, cache: dict | None = None):
    """The equilibrium's path along ``beta`` and the exploitability figure, with the current ``beta`` marked.

    Built once per game (``P``, ``mu``) and cached: a new ``beta`` only moves the marker line, so the ``beta``
    slider redraws without re-solving or rebuilding the figures."""
    cache = _FIGURE_CACHE if cache is None else cache  # a view passes its own: the figures are changed in place
    key = _game_key(game)
    cached = cache.get(key)
    if cached is None:
        cached = cache[key] = _path_figures(game)
        if len(cache) > 8:
            cache.pop(next(iter(cache)))
    fig_path, fig_exp = cached["path"], cached["exploitability"]
    for fig in (fig_path, fig_exp):
        fig.layout.shapes[-1].update(x0=beta, x1=beta)
    fig_path.layout.annotations[-1].update(x=math.log10(beta), text=f"β = {beta:.3g}")
    return fig_path, fig_exp


def _path_figures(game: PreferenceGame) -> dict:
    names = _names(game)
    pis, lp, path = equilibrium_sweep(game)
    beta = float(game.beta.reshape(-1)[0])
    if game.n <= 12:
        fig_path = equilibrium_path(PATH_BETAS, pis, mu=game.mu, lp=lp, names=names,
                                    title="Equilibrium π*<sub>β</sub> along β (dotted: μ; diamonds: β = 0)")
    else:  # many responses: the most likely few at beta = 0.1
        top = np.argsort(-pis[np.argmin(np.abs(PATH_BETAS - 0.1))])[:8]
        fig_path = equilibrium_path(PATH_BETAS, pis[:, top], mu=game.mu[top], lp=lp[top], names=[names[i] for i in top],
                                    title="Equilibrium π*<sub>β</sub> along β: the 8 most likely responses")
    fig_path.add_vline(x=beta, line=dict(color="black", width=1), annotation_text=f"β = {beta:.3g}")
    fig_path.update_layout(height=420, width=None, legend=dict(font=dict(size=11)))
    fig_exp = go.Figure()
    styles = {"exploitability of π*_β": ("#1f77b4", "solid"), "exploitability of μ": ("#7f7f7f", "dot"),
              "regularized exploitability of μ": ("#d62728", "dash")}
    for col, (c, dash) in styles.items():
        fig_exp.add_trace(go.Scatter(x=path["beta"], y=path[col], mode="lines", name=col.replace("π*_β", "π*<sub>β</sub>"),
                                     line=dict(color=c, dash=dash, width=2)))
    fig_exp.add_vline(x=beta, line=dict(color="black", width=1))
    fig_exp.update_xaxes(type="log", title="β (log scale)")
    fig_exp.update_yaxes(title="exploitability (win-rate points above ½)", rangemode="tozero")
    fig_exp.update_layout(title="Exploitability along β: the equilibrium vs the reference μ<br><sup>the regularized "
                                "exploitability of π*<sub>β</sub> is 0 at every β (it is the equilibrium)</sup>",
                          template="plotly_white", height=420, legend=dict(orientation="h", y=-0.25))
    fig_pay = preference_heatmap(game.P, names, title="Preference matrix P(row ≻ column)")
    fig_pay.update_layout(height=420, width=None)
    return {"path": fig_path, "exploitability": fig_exp, "payoff": fig_pay}


def _last(method, game: PreferenceGame, steps: int):
    """The state after ``steps`` exact iterations (the driver's own stepping)."""
    for state in iterate(method, game, steps):
        pass
    return state


def game_model(game: PreferenceGame, methods: dict, steps: int = 200, *, curve_metric: str = "kl_to_eq",
               points: int = 60, cache: dict | None = None) -> GameResult:
    """Solve ``game`` and run ``methods`` (``{label: tabular method}``) for ``steps`` exact steps; the figures.

    ``figures``: ``"policies"`` (bars: ``pi*_beta``, ``mu`` and each method's last iterate), ``"payoff"`` (the
    preference matrix), ``"path"`` and ``"exploitability"`` (along ``beta``, :func:`path_figures`), ``"steps"``
    and ``"queries"`` (``curve_metric`` against steps and against preference queries)."""
    if isinstance(steps, bool) or not float(steps).is_integer() or not 1 <= int(steps) <= 100_000:
        raise ValueError(f"steps must be a whole number in [1, 100000]; got {steps!r}")
    steps = int(steps)
    if curve_metric not in CURVE_METRICS.values():
        raise ValueError(f"unknown curve metric {curve_metric!r}; choose one of {list(CURVE_METRICS.values())}")
    beta = float(game.beta.reshape(-1)[0])
    pi_star = solve(game)  # (n,)
    frame = run_tabular(methods, game, steps, record_every=max(1, steps // points), pi_star=pi_star, progress=False)
    finals = {label: _last(method, game, steps).pi for label, method in methods.items()}  # (n,) each
    names = _names(game)
    policies = {"π*_β (exact equilibrium)": pi_star, "μ (reference)": game.mu,
                **{f"{k} after {steps} steps": v for k, v in finals.items()}}
    if game.n <= 30:
        fig_pol = policy_bars(policies, names, title=f"Policies at β = {beta:.3g}")
    else:
        top = torch.argsort(-pi_star)[:30]
        fig_pol = policy_bars({k: v[top] for k, v in policies.items()}, [names[i] for i in top],
                              title=f"Policies at β = {beta:.3g}: the 30 most likely responses under π*<sub>β</sub>")
    fig_pol.update_layout(height=420, yaxis_title="probability", legend=dict(orientation="h", y=-0.2))
    cache = _FIGURE_CACHE if cache is None else cache
    fig_path, fig_exp = path_figures(game, beta, cache)
    fig_pay = cache[_game_key(game)]["payoff"]  # P does not depend on beta
    words = next(k for k, v in CURVE_METRICS.items() if v == curve_metric)
    label = words.split(":")[0].replace("πₜ", "π<sub>t</sub>")
    fig_steps = metric_curves(frame, curve_metric, x="step", title=f"{label} against iterations", y_title=label)
    fig_q = metric_curves(frame, curve_metric, x="queries", title=f"{label} against preference queries", y_title=label)
    for f in (fig_steps, fig_q):
        f.update_layout(height=400, legend=dict(orientation="h", y=-0.25))
    _, _, path = equilibrium_sweep(game)
    return GameResult(game, pi_star, frame, finals, path, {
        "policies": fig_pol, "payoff": fig_pay, "path": fig_path, "exploitability": fig_exp,
        "steps": fig_steps, "queries": fig_q,
    })


def sweep_model(methods: dict, betas, *, n: int = 10, games: int = 16, steps: int = 100, seed: int = 0,
                on_progress=None, cancelled=None) -> pd.DataFrame:
    """A batched sweep: ``games`` random games of size ``n`` at every ``beta``, every method run ``steps``
    steps; one row per (method, beta, game) with the final ``KL(pi*||pi_T)`` and exploitability.

    ``on_progress(done, total)`` is called after each ``beta``; ``cancelled()`` returning True stops the sweep
    between two ``beta`` (the rows so far are returned)."""
    betas = [_check_beta(b) for b in betas]
    n = _check_n(n)
    if not 1 <= int(games) <= 1000:
        raise ValueError(f"games must be in [1, 1000]; got {games!r}")
    frames = []
    for k, beta in enumerate(betas):
        if cancelled is not None and cancelled():
            break
        game = random_game(n, beta, batch=int(games), seed=int(seed))  # (G, n, n)
        df = run_tabular(methods, game, int(steps), record_every=int(steps), progress=False)
        frames.append(df[df["step"] == df["step"].max()])
        if on_progress is not None:
            on_progress(k + 1, len(betas))
    if not frames:
        return pd.DataFrame(columns=["algo", "game", "beta", "metric", "value"])
    return pd.concat(frames, ignore_index=True)


def sweep_figure(frame: pd.DataFrame, metric: str = "kl_to_eq") -> go.Figure:
    """Median and 10-90 % band over the games of the final ``metric`` against ``beta``, one curve per method."""
    sub = frame[frame["metric"] == metric].assign(value=lambda d: d["value"].clip(lower=1e-16))  # log axis: 0 -> floor
    curves = {}
    for algo, g in sub.groupby("algo", sort=False):
        wide = g.pivot_table(index="beta", columns="game", values="value")
        curves[str(algo)] = (wide.index.to_numpy(), wide.to_numpy())
    words = {"kl_to_eq": "final KL(π*‖π<sub>T</sub>)", "exploitability": "final exploitability"}.get(metric, metric)
    fig = share_vs_knob(curves, title=f"Sweep: {words} over random games (median, 10–90 % band)",
                        x_title="β (log scale)", y_title=words)
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_layout(width=None, height=400)
    return fig


class GamesView(param.Parameterized):
    """The Games view (see the module docstring). ``GamesView().panel()`` renders in the app and in a
    JupyterLab cell (after :func:`workbench.app.common.extension`)."""

    source = param.Selector(default="library", objects=["library", "random", "upload"])
    library = param.Selector(default="Rock–paper–scissors", objects=list(LIBRARY))
    mu = param.Selector(default="skewed", objects=["skewed", "uniform"])
    n = param.Integer(default=8)
    seed = param.Integer(default=0)
    beta = param.Number(default=0.1)
    eta_choice = param.Selector(default="each method's default", objects=list(ETA_CHOICES))
    eta = param.Number(default=0.2)
    steps = param.Integer(default=200)
    methods = param.ListSelector(default=["Nash-MD", "Nash-MP"], objects=list(METHODS))
    curve_metric = param.Selector(default="kl_to_eq", objects=list(CURVE_METRICS.values()))

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self._figures: dict = {}  # this page's path / payoff figures per game (changed in place as beta moves)
        self.csv: bytes | None = None
        self.csv_name = "upload.csv"
        self.result: GameResult | None = None
        self.sweep_frame: pd.DataFrame | None = None
        self._sweep_thread: threading.Thread | None = None
        self._sweep_cancel = threading.Event()
        self._sweep_progress = (0, 0)
        self._sweep_done = False
        self._sweep_error: str | None = None
        self._build_widgets()
        self.refresh()

    # ------------------------------------------------------------------ model
    def compute(self) -> GameResult:
        """The current setting's :class:`GameResult` (raises with a readable message on bad input)."""
        game = make_game(self.source, self.beta, library=self.library, n=self.n, seed=self.seed, csv=self.csv,
                         filename=self.csv_name, mu=self.mu)
        methods = methods_for(self.methods, self.eta_choice, self.eta)
        return game_model(game, methods, self.steps, curve_metric=self.curve_metric, cache=self._figures)

    def refresh(self, *_):
        """Recompute and redraw; on bad input show the message and keep the previous figures."""
        with self.messages.guard("Cannot update the game", keep="The figures still show the previous setting."):
            result = self.compute()
            self.result = result
            for key, pane in self.panes.items():
                set_figure(pane, result.figures[key])
            g = result.game
            self.messages.info.object = (f"**{g.n} responses**, β = {float(g.beta.reshape(-1)[0]):.3g}; "
                                         f"{len(result.finals)} method(s), {self.steps} exact steps each.")

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self):
        w = pn.widgets
        self.w_source = w.RadioButtonGroup(name="Game", options={"Library": "library", "Random": "random",
                                                                 "Upload CSV": "upload"}, value=self.source,
                                           button_type="primary", button_style="outline")
        self.w_library = w.Select(name="Library game", options=list(LIBRARY), value=self.library)
        self.w_mu = w.Select(name="Reference μ (library and random games)",
                             options={"skewed: μ(k) ∝ (n − k)²": "skewed", "uniform": "uniform"}, value=self.mu)
        self.w_n = w.IntInput(name="Responses n (random, Bradley–Terry, mixture)", value=self.n, start=None, end=None)
        self.w_seed = w.IntInput(name="Seed", value=self.seed)
        self.w_upload = w.FileInput(name="Win counts (CSV)", accept=".csv", multiple=False, css_classes=["wb-game-upload"])
        self.w_beta = w.EditableFloatSlider(name="β (KL strength)", start=0.01, end=2.0, step=0.01, value=self.beta,
                                            format="0.000", css_classes=["wb-beta"])
        self.w_eta_choice = w.Select(name="Step size η", options=list(ETA_CHOICES), value=self.eta_choice)
        self.w_eta = w.FloatInput(name="Constant η", value=self.eta, step=0.05)
        self.w_steps = w.IntInput(name="Steps", value=self.steps, step=50)
        self.w_methods = w.MultiChoice(name="Methods", options=list(METHODS), value=list(self.methods))
        self.w_metric = w.Select(name="Curve", options=CURVE_METRICS, value=self.curve_metric)
        links = {"w_source": "source", "w_library": "library", "w_mu": "mu", "w_n": "n", "w_seed": "seed", "w_beta": "beta",
                 "w_eta_choice": "eta_choice", "w_eta": "eta", "w_steps": "steps", "w_methods": "methods",
                 "w_metric": "curve_metric"}
        for attr, name in links.items():
            getattr(self, attr).param.watch(lambda e, name=name: self._set(name, e.new), "value")
        self.w_upload.param.watch(self._uploaded, "value")
        self.panes = {k: plotly_pane(height=420 if k != "steps" and k != "queries" else 400)
                      for k in ("policies", "payoff", "path", "exploitability", "steps", "queries")}
        # the sweep
        self.w_sweep_games = w.IntInput(name="Random games per β", value=16, step=8, css_classes=["wb-sweep-games"])
        self.w_sweep_betas = w.IntInput(name="Values of β (0.01 … 1, log-spaced)", value=8, css_classes=["wb-sweep-betas"])
        self.w_sweep_start = w.Button(name="Run sweep in the background", button_type="primary")
        self.w_sweep_cancel = w.Button(name="Cancel", button_type="warning", disabled=True)
        self.w_sweep_progress = pn.indicators.Progress(name="Sweep progress", value=0, max=100, visible=False,
                                                       bar_color="primary")
        self.w_sweep_status = pn.pane.Markdown("", css_classes=["wb-help"])
        self.sweep_pane = plotly_pane(height=400)
        self.sweep_pane.visible = False  # shown with the first sweep's figure
        self.w_sweep_start.on_click(self.start_sweep)
        self.w_sweep_cancel.on_click(lambda *_: self._sweep_cancel.set())

    def _set(self, name, value):
        previous = getattr(self, name)
        try:
            setattr(self, name, value)
        except ValueError as exc:  # a value param itself refuses (wrong type)
            self.messages.error(f"**Cannot use that value:** {exc}")
            return
        self.w_library.visible = self.source == "library"
        self.w_upload.visible = self.source == "upload"
        self.w_eta.visible = self.eta_choice == "constant η (below)"
        if name == "source" and value == "upload" and self.csv is None:
            self.messages.info.object = "Choose a CSV of pairwise win counts."
            return
        if previous != value:
            self.refresh()

    def _uploaded(self, event):
        if event.new is None:
            return
        self.csv, self.csv_name = event.new, self.w_upload.filename or "upload.csv"
        if self.w_source.value == "upload":
            self.refresh()
        else:
            self.w_source.value = "upload"  # -> _set -> refresh

    # ------------------------------------------------------------------ the background sweep
    def start_sweep(self, *_):
        if self._sweep_thread is not None and self._sweep_thread.is_alive():
            return
        with self.messages.guard("Cannot start the sweep", keep="Nothing was started."):
            k = int(self.w_sweep_betas.value)
            if not 2 <= k <= 50:
                raise ValueError(f"values of β must be in [2, 50]; got {k}")
            betas = np.logspace(-2, 0, k).tolist()
            methods = methods_for(self.methods, self.eta_choice, self.eta)
            args = dict(n=_check_n(self.n), games=int(self.w_sweep_games.value), steps=int(self.steps),
                        seed=int(self.seed))
            if not 1 <= args["games"] <= 1000:
                raise ValueError(f"random games per β must be in [1, 1000]; got {args['games']}")
            self._sweep_cancel.clear()
            self._sweep_progress, self._sweep_done, self._sweep_error = (0, k), False, None

            def work():
                try:
                    self.sweep_frame = sweep_model(methods, betas, on_progress=self._progress,
                                                   cancelled=self._sweep_cancel.is_set, **args)
                except Exception as exc:  # noqa: BLE001 -- shown in the page by the periodic callback
                    self._sweep_error = str(exc)
                self._sweep_done = True

            self._sweep_thread = threading.Thread(target=work, name="games-sweep", daemon=True)
            self._sweep_thread.start()
            self.w_sweep_start.disabled, self.w_sweep_cancel.disabled = True, False
            self.w_sweep_progress.visible, self.w_sweep_progress.value = True, 0
            self.w_sweep_status.object = (f"Sweeping {k} values of β × {args['games']} random games of n = {args['n']}"
                                          f" ({', '.join(methods)}, {args['steps']} steps) …")
            self._poll = pn.state.add_periodic_callback(self._poll_sweep, period=300)

    def _progress(self, done, total):
        self._sweep_progress = (done, total)

    def _poll_sweep(self):
        done, total = self._sweep_progress
        self.w_sweep_progress.value = int(100 * done / max(total, 1))
        if not self._sweep_done:
            return
        self._poll.stop()
        self.w_sweep_start.disabled, self.w_sweep_cancel.disabled = False, True
        if self._sweep_error:
            self.messages.error(f"**The sweep failed:** {self._sweep_error}")
            self.w_sweep_status.object = ""
            return
        cancelled = self._sweep_cancel.is_set()
        if self.sweep_frame is not None and len(self.sweep_frame):
            set_figure(self.sweep_pane, sweep_figure(self.sweep_frame))
            self.sweep_pane.visible = True
        self.w_sweep_status.object = (f"Cancelled after {done} of {total} values of β." if cancelled
                                      else f"Done: {total} values of β.")

    # ------------------------------------------------------------------ layout
    def controls(self):
        return pn.Column(
            pn.pane.Markdown("### Game"), self.w_source, self.w_library, self.w_upload, self.w_mu, self.w_n, self.w_seed,
            pn.pane.Markdown("### Regularization and methods"), self.w_beta, self.w_methods, self.w_eta_choice,
            self.w_eta, self.w_steps, self.w_metric,
            pn.pane.Markdown("### Sweep (background)"), self.w_sweep_games, self.w_sweep_betas,
            pn.Row(self.w_sweep_start, self.w_sweep_cancel), self.w_sweep_progress, self.w_sweep_status,
            width=320,
        )

    def panel(self):
        self.w_library.visible = self.source == "library"
        self.w_upload.visible = self.source == "upload"
        self.w_eta.visible = self.eta_choice == "constant η (below)"
        p = self.panes
        outputs = pn.Column(
            self.messages.panel(),
            pn.Row(p["policies"], p["payoff"]),
            pn.Row(p["steps"], p["queries"]),
            pn.Row(p["path"], p["exploitability"]),
            self.sweep_pane,
            sizing_mode="stretch_width",
        )
        return pn.Row(self.controls(), outputs, sizing_mode="stretch_width")
