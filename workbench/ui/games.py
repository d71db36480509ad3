"""Interactive preference-game explorer (ipywidgets): pick a game, ``beta`` and the intransitivity
knob, and see ``P``, the regularized equilibrium ``pi*_beta`` next to ``mu``, the ``beta = 0`` Nash
equilibrium and the RLHF policy of the best Bradley–Terry reward, with their exploitabilities.

The logic lives in plain functions (:func:`make_game`, :func:`explorer_view`) that need no browser;
:func:`games_explorer` only wires widgets to them. With plotly >= 6, ``go.FigureWidget`` needs the
``anywidget`` package, which the workbench does not require: the figure is re-drawn into an
``ipywidgets.Output`` instead (works in JupyterLab, VS Code and classic notebooks). ipywidgets is
imported lazily.

A static report has no kernel: there :func:`games_explorer_static` shows the same figure for a handful of
precomputed ``beta`` values behind plotly's own slider (:func:`workbench.plots.explore.stepped_figure`),
and :func:`figures_explorer` is the live twin of such a slider for any dict of precomputed figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from workbench.device import make_generator
from workbench.games import (
    PreferenceGame,
    bradley_terry,
    cyclic,
    cyclic_share,
    fit_bradley_terry,
    gibbs,
    random_game,
    rock_paper_scissors,
    solve,
    transitive_cyclic_mixture,
)
from workbench.metrics import exploitability, kl_to_reference, regularized_exploitability
from workbench.plots.explore import stepped_figure
from workbench.plots.games import display_label, explorer_figure

__all__ = [
    "GAMES", "MUS", "make_game", "skewed_mu", "explorer_view", "ExplorerView", "games_explorer", "games_explorer_static",
    "figures_explorer", "shown",
]

GAMES = ("RPS", "5-cycle", "random", "BT", "mixture")
MUS = ("uniform", "skewed")


def skewed_mu(n: int, dtype=torch.float64) -> torch.Tensor:
    """A fixed non-uniform reference policy ``mu(k) ∝ (n - k)^2`` (for ``n = 3``: 0.64, 0.29, 0.07)."""
    w = (n - torch.arange(n, dtype=dtype)) ** 2
    return w / w.sum()


def make_game(name: str, beta: float, intransitivity: float = 0.5, *, n: int = 6, seed: int = 0, mu: str = "uniform") -> PreferenceGame:
    """One game of the explorer's menu (:data:`GAMES`) at ``beta``; ``intransitivity`` is used by
    ``"mixture"`` only (:func:`~workbench.games.transitive_cyclic_mixture`); ``mu`` is ``"uniform"`` or
    ``"skewed"`` (:func:`skewed_mu`)."""
    if name not in GAMES:
        raise ValueError(f"unknown game {name!r}; choose one of {GAMES}")
    if mu not in MUS:
        raise ValueError(f"unknown mu {mu!r}; choose one of {MUS}")
    size = {"RPS": 3, "5-cycle": 5}.get(name, n)
    mu_t = skewed_mu(size) if mu == "skewed" else None
    if name == "RPS":
        return rock_paper_scissors(beta, mu=mu_t)
    if name == "5-cycle":
        return cyclic(5, beta, mu=mu_t)
    if name == "random":
        return random_game(n, beta, seed=seed, mu=mu_t if mu_t is not None else "uniform")
    if name == "BT":
        r = 1.5 * torch.randn(n, generator=make_generator(seed), dtype=torch.float64)  # (n,)
        return bradley_terry(r, beta, mu=mu_t)
    return transitive_cyclic_mixture(n, intransitivity, beta, seed=seed, mu=mu_t)


@dataclass
class ExplorerView:
    """What the explorer shows for one setting: the game, the policies, the numbers and the figure."""

    game: PreferenceGame
    policies: dict[str, torch.Tensor]
    numbers: dict[str, float]
    figure: object = field(repr=False)


def explorer_view(name: str, beta: float, intransitivity: float = 0.5, *, n: int = 6, seed: int = 0, mu: str = "uniform") -> ExplorerView:
    """Solve the chosen game and build the explorer figure (no widgets involved; testable headless)."""
    if not beta > 0:
        raise ValueError(f"the explorer needs beta > 0 (the beta = 0 equilibrium is shown alongside); got {beta}")
    game = make_game(name, beta, intransitivity, n=n, seed=seed, mu=mu)
    pi = solve(game)  # (n,)
    lp = solve(game.with_beta(0.0))  # (n,)
    fit = fit_bradley_terry(game, weights="uniform")
    pi_bt = gibbs(game.mu, fit.rewards, game.beta)  # (n,) RLHF optimum of the BT reward
    policies = {"π*_β": pi, "μ": game.mu, "Nash β=0 (LP)": lp, "RLHF on BT fit": pi_bt}
    g0 = game.with_beta(0.0)
    numbers = {
        "regularized exploitability of π*_β": regularized_exploitability(game, pi).item(),
        "exploitability of π*_β": exploitability(g0, pi).item(),
        "exploitability of μ": exploitability(g0, game.mu).item(),
        "exploitability of RLHF-on-BT": exploitability(g0, pi_bt).item(),
        "exploitability of LP Nash": exploitability(g0, lp).item(),
        "KL(π*_β || μ)": kl_to_reference(game, pi).item(),
        "cyclic share of P": cyclic_share(game).item(),
    }
    names = game.names or tuple(f"y{i}" for i in range(game.n))
    title = f"{name}, β = {beta:.3g}" + (f", intransitivity = {intransitivity:.2f}" if name == "mixture" else "") + f", μ {mu}"
    fig = explorer_figure(game.P, policies, names, title=title)
    return ExplorerView(game=game, policies=policies, numbers=numbers, figure=fig)


def shown(value: float, tol: float = 1e-12) -> float:
    """``value`` as a reader should see it: round-off (``|value| < tol``, e.g. ``-1.1e-16``) becomes 0."""
    return 0.0 if abs(value) < tol else value


def _numbers_html(numbers: dict[str, float]) -> str:
    rows = "".join(f"<tr><td style='padding-right:1em'>{display_label(k)}</td><td><code>{shown(v):.3g}</code></td></tr>" for k, v in numbers.items())
    return f"<table>{rows}</table>"


def games_explorer_static(game: str = "RPS", betas=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0), intransitivity: float = 0.5, *,
                          n: int = 6, seed: int = 0, mu: str = "skewed", active: float | None = None):
    """The explorer for a static report: one figure with a plotly slider over ``betas`` (precomputed).

    Each step is :func:`explorer_view`'s figure at that ``beta``; its title adds the exploitabilities of
    ``π*_β``, ``μ`` and the RLHF policy (round-off shown as 0). ``active`` is the ``beta`` shown first
    (default: the one closest to 0.1 on a log scale). Needs no kernel and no network.
    """
    betas = [float(b) for b in betas]
    if not betas:
        raise ValueError("games_explorer_static needs at least one beta")
    figures = {}
    for b in betas:
        view = explorer_view(game, b, intransitivity, n=n, seed=seed, mu=mu)
        num = view.numbers
        view.figure.update_layout(title_text=(
            f"{view.figure.layout.title.text} · exploitability: π*<sub>β</sub> {shown(num['exploitability of π*_β']):.3g}, "
            f"μ {shown(num['exploitability of μ']):.3g}, RLHF on BT {shown(num['exploitability of RLHF-on-BT']):.3g}"))
        figures[f"{b:g}"] = view.figure
    target = 0.1 if active is None else float(active)
    first = min(range(len(betas)), key=lambda i: abs(torch.log(torch.tensor(betas[i] / target)).item()))
    return stepped_figure(figures, label="β", active=first)


def figures_explorer(figures: dict, *, label: str):
    """An ipywidgets ``VBox`` with a selection slider over precomputed ``figures`` (label -> figure):
    the live-kernel twin of :func:`~workbench.plots.explore.stepped_figure`. The box carries
    ``.slider`` and ``.shown`` (the label on display)."""
    import ipywidgets as w
    from IPython.display import display

    if not figures:
        raise ValueError("figures_explorer needs at least one figure")
    slider = w.SelectionSlider(options=list(figures), description=label, continuous_update=False,
                               layout=w.Layout(width="60%"), style={"description_width": "initial"})
    out = w.Output()
    box = w.VBox([slider, out])

    def update(*_):
        box.shown = slider.value
        out.clear_output(wait=True)
        with out:
            display(figures[slider.value])

    slider.observe(update, names="value")
    box.slider = slider
    update()
    return box


def games_explorer(game: str = "RPS", beta: float = 0.1, intransitivity: float = 0.5, *, n: int = 6, seed: int = 0,
                   mu: str = "skewed", log10_beta_range: tuple[float, float] = (-3.0, 1.0)):
    """An ipywidgets ``VBox``: game and ``mu`` dropdowns, a log-scale ``beta`` slider and the
    intransitivity slider (active for ``"mixture"``), redrawing the figure of :func:`explorer_view`.

    The box carries ``.controls`` (a dict of the widgets), ``.update()`` (redraw from the controls'
    current values; also called on every change) and ``.view`` (the latest :class:`ExplorerView`).
    """
    import ipywidgets as w
    from IPython.display import display

    controls = {
        "game": w.Dropdown(options=list(GAMES), value=game, description="game"),
        "mu": w.Dropdown(options=list(MUS), value=mu, description="μ"),
        "beta": w.FloatLogSlider(value=beta, base=10, min=log10_beta_range[0], max=log10_beta_range[1], step=0.05,
                                 description="β", readout_format=".3g", continuous_update=False),
        "intransitivity": w.FloatSlider(value=intransitivity, min=0.0, max=1.0, step=0.05, description="intransitivity",
                                        continuous_update=False, style={"description_width": "initial"}),
    }
    numbers = w.HTML()
    out = w.Output()
    box = w.VBox([w.HBox([controls["game"], controls["mu"]]), w.HBox([controls["beta"], controls["intransitivity"]]), numbers, out])

    def update(*_):
        c = {k: v.value for k, v in controls.items()}
        controls["intransitivity"].disabled = c["game"] != "mixture"
        view = explorer_view(c["game"], c["beta"], c["intransitivity"], n=n, seed=seed, mu=c["mu"])
        box.view = view
        numbers.value = _numbers_html(view.numbers)
        out.clear_output(wait=True)
        with out:
            display(view.figure)

    for ctl in controls.values():
        ctl.observe(update, names="value")
    box.controls = controls
    box.update = update
    update()
    return box
