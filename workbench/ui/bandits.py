"""ipywidgets explorers for the contextual-bandit lab (ipywidgets imported lazily).

:func:`offline_explorer` varies coverage, KL strength ``beta``, feature dimension, intransitivity and the
confidence radius ``gamma`` and redraws the offline gap curves; :func:`online_explorer` varies ``beta``,
the reference mass on the good action, the batch size and ``gamma`` for the batch-online algorithms.
Each returns the widget (display it in a notebook); runs are small so a redraw takes a few seconds.

A static HTML report has no kernel, so each explorer has a static side that works offline
(:func:`workbench.notebook.explore` picks it): :func:`offline_explorer_static` (a slider over the
confidence radius ``gamma`` on the rare-but-lucky instance) and :func:`online_explorer_static` (a slider
over the reference mass on the good action), each a :func:`workbench.plots.explore.stepped_figure` over a
handful of precomputed settings.
"""

from __future__ import annotations

__all__ = ["offline_explorer", "offline_explorer_static", "online_explorer", "online_explorer_static"]


def _interactive(run, controls: dict):
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()
    button = w.Button(description="run", button_style="primary")

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            display(run(**{k: c.value for k, c in controls.items()}))

    button.on_click(redraw)
    for c in controls.values():
        c.style.description_width = "initial"  # whole labels ("intransitivity"), not "intransi..."
    wrap = w.Layout(flex_flow="row wrap")  # controls wrap instead of being clipped in a narrow page
    box = w.VBox([w.HBox(list(controls.values())[:3], layout=wrap),
                  w.HBox([*list(controls.values())[3:], button], layout=wrap), out])
    redraw()
    return box


def offline_explorer(n_seeds: int = 6, sizes=(50, 200, 1000), seed: int = 0):
    """Widget: offline gap vs dataset size; regime (benign / rare-but-lucky / intransitive) and knobs."""
    import ipywidgets as w

    from workbench.bandits import offline_curve, random_linear, rare_but_lucky
    from workbench.plots.bandits import gap_curves

    controls = {
        "regime": w.Dropdown(options=[("benign (random features)", "benign"), ("rare but lucky", "rare_but_lucky"),
                                       ("intransitive (general preference)", "intransitive")],
                              value="benign", description="regime"),
        "coverage": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="coverage"),
        "beta": w.FloatLogSlider(value=0.1, base=10, min=-2, max=0, description="β"),
        "dim": w.IntSlider(value=4, min=2, max=8, description="dimension d"),
        "intransitivity": w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="intransitivity"),
        "gamma": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, description="γ"),
    }

    def run(regime, coverage, beta, dim, intransitivity, gamma):
        if regime == "benign":
            env, algos = random_linear(dim=dim, beta=beta, seed=seed), ["plug_in", "pointwise", "policy_level"]
        elif regime == "rare_but_lucky":
            env, algos = rare_but_lucky(beta=beta, seed=seed), ["plug_in", "pointwise", "policy_level"]
        else:
            env = random_linear(dim=dim, beta=beta, model="general", intransitivity=intransitivity, seed=seed)
            algos = ["general_nash", "bt_nash"]
        fr = offline_curve(env, list(sizes), algos, n_seeds=n_seeds, coverage=coverage, gamma=gamma, seed=seed)
        return gap_curves(fr, title=env.name, x_title="dataset size N (comparisons)")

    return _interactive(run, controls)


def online_explorer(n_seeds: int = 6, n_rounds: int = 8, seed: int = 0):
    """Widget: batch-online gap vs comparisons for enhancer / exploit / uniform on the hidden-action env."""
    import ipywidgets as w

    from workbench.bandits import hidden_good_actions, online_curves
    from workbench.plots.bandits import gap_curves

    controls = {
        "model": w.Dropdown(options=[("Bradley–Terry", "bt"), ("general (cycles)", "general")], value="bt",
                            description="preference"),
        "ref_mass": w.FloatLogSlider(value=0.01, base=10, min=-3, max=-0.3, description="π₀ on good"),
        "beta": w.FloatLogSlider(value=0.1, base=10, min=-2, max=0, description="β"),
        "batch_size": w.IntSlider(value=50, min=10, max=200, step=10, description="batch size"),
        "gamma": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, description="γ"),
        "intransitivity": w.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.25, description="intransitivity"),
    }

    def run(model, ref_mass, beta, batch_size, gamma, intransitivity):
        env = hidden_good_actions(beta=beta, ref_mass=ref_mass, model=model, intransitivity=intransitivity, seed=seed)
        fr = online_curves(env, n_rounds=n_rounds, batch_size=batch_size, n_seeds=n_seeds, gamma=gamma, seed=seed)
        return gap_curves(fr[fr.step > 0], title=env.name, x_title="comparisons queried")

    return _interactive(run, controls)


def offline_explorer_static(gammas=(0.1, 0.3, 1.0, 3.0), n_arms: int = 30, beta: float = 0.1,
                            coverage: float = 0.5, sizes=(50, 200, 1000), n_seeds: int = 6, seed: int = 0):
    """Static side of :func:`offline_explorer`: offline gap curves on the rare-but-lucky instance, one slider
    step per confidence radius ``gamma`` (the pessimism strength), precomputed with ``n_seeds`` datasets."""
    from workbench.bandits import offline_curve, rare_but_lucky
    from workbench.plots.bandits import display_title, gap_curves, legend_right
    from workbench.plots.explore import stepped_figure

    env = rare_but_lucky(n_arms, beta=beta, seed=seed)
    figs = {}
    for g in gammas:
        fr = offline_curve(env, list(sizes), ["plug_in", "pointwise", "policy_level"], n_seeds, coverage,
                           "avoid_optimal", g, seed=seed)
        figs[f"{g:g}"] = gap_curves(fr, log_y=False, x_title="dataset size N (comparisons)",
                                    title=f"{display_title(env.name)}, β = {beta:g}, coverage c = {coverage:g}, "
                                          f"γ = {g:g}")
    return legend_right(stepped_figure(figs, label="γ (confidence radius)", active=min(2, len(figs) - 1)))


def online_explorer_static(ref_masses=(0.001, 0.01, 0.1, 0.3), beta: float = 0.1, batch_size: int = 50,
                           n_rounds: int = 6, n_seeds: int = 4, gamma: float = 1.0, seed: int = 0):
    """Static side of :func:`online_explorer`: batch-online gap curves on the hidden-action instance (BT), one
    slider step per mass the reference policy puts on the good action, precomputed with ``n_seeds`` runs."""
    from workbench.bandits import hidden_good_actions, online_curves
    from workbench.plots.bandits import display_title, gap_curves, legend_right
    from workbench.plots.explore import stepped_figure

    figs = {}
    for m in ref_masses:
        env = hidden_good_actions(beta=beta, ref_mass=m, seed=seed)
        fr = online_curves(env, n_rounds=n_rounds, batch_size=batch_size, n_seeds=n_seeds, gamma=gamma, seed=seed)
        figs[f"{m:g}"] = gap_curves(fr[fr.step > 0], x_title="comparisons queried",
                                    title=f"{display_title(env.name)}, β = {beta:g}, γ = {gamma:g}")
    return legend_right(stepped_figure(figs, label="π₀'s mass on the good action", active=min(1, len(figs) - 1)))
