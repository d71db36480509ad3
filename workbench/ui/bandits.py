"""ipywidgets explorers for the contextual-bandit lab (ipywidgets imported lazily).

:func:`offline_explorer` varies coverage, KL strength ``beta``, feature dimension, intransitivity and the
confidence radius ``gamma`` and redraws the offline gap curves; :func:`online_explorer` varies ``beta``,
the reference mass on the good action, the batch size and ``gamma`` for the batch-online algorithms.
Each returns the widget (display it in a notebook); runs are small so a redraw takes a few seconds.
"""

from __future__ import annotations

__all__ = ["offline_explorer", "online_explorer"]


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
    box = w.VBox([w.HBox(list(controls.values())[:3]), w.HBox([*list(controls.values())[3:], button]), out])
    redraw()
    return box


def offline_explorer(n_seeds: int = 6, sizes=(50, 200, 1000), seed: int = 0):
    """Widget: offline gap vs dataset size; regime (benign / rare-but-lucky / intransitive) and knobs."""
    import ipywidgets as w

    from workbench.bandits import offline_curve, random_linear, rare_but_lucky
    from workbench.plots.bandits import gap_curves

    controls = {
        "regime": w.Dropdown(options=["benign", "rare_but_lucky", "intransitive"], value="benign", description="regime"),
        "coverage": w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="coverage"),
        "beta": w.FloatLogSlider(value=0.1, base=10, min=-2, max=0, description="beta"),
        "dim": w.IntSlider(value=4, min=2, max=8, description="dim"),
        "intransitivity": w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="intransitivity"),
        "gamma": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, description="gamma"),
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
        return gap_curves(fr, title=env.name)

    return _interactive(run, controls)


def online_explorer(n_seeds: int = 6, n_rounds: int = 8, seed: int = 0):
    """Widget: batch-online gap vs comparisons for enhancer / exploit / uniform on the hidden-action env."""
    import ipywidgets as w

    from workbench.bandits import hidden_good_actions, online_curves
    from workbench.plots.bandits import gap_curves

    controls = {
        "model": w.Dropdown(options=["bt", "general"], value="bt", description="preference"),
        "ref_mass": w.FloatLogSlider(value=0.01, base=10, min=-3, max=-0.3, description="pi_0 on good"),
        "beta": w.FloatLogSlider(value=0.1, base=10, min=-2, max=0, description="beta"),
        "batch_size": w.IntSlider(value=50, min=10, max=200, step=10, description="batch size"),
        "gamma": w.FloatLogSlider(value=1.0, base=10, min=-1, max=1, description="gamma"),
        "intransitivity": w.FloatSlider(value=0.5, min=0.0, max=3.0, step=0.25, description="intransitivity"),
    }

    def run(model, ref_mass, beta, batch_size, gamma, intransitivity):
        env = hidden_good_actions(beta=beta, ref_mass=ref_mass, model=model, intransitivity=intransitivity, seed=seed)
        fr = online_curves(env, n_rounds=n_rounds, batch_size=batch_size, n_seeds=n_seeds, gamma=gamma, seed=seed)
        return gap_curves(fr[fr.step > 0], title=env.name)

    return _interactive(run, controls)
