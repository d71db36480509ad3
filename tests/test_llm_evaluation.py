"""LLM lab evaluation and experiment drivers: the exact win-rate matrix against hand-computed values, the
judged matrix and the sampled frontier against the exact ones (CLT tolerance), equal query budgets from the
same initial weights, the tabular reference curves, the summaries over seeds and the figures."""

import math

import pytest
import torch

from workbench.device import make_generator
from workbench.games.game import kl
from workbench.llm import evaluation as V
from workbench.llm import experiments as E
from workbench.llm.exact import ExactEvaluator
from workbench.llm.judges import OracleJudge
from workbench.llm.loop import LoopConfig
from workbench.llm.nash_md_pg import NashMDPG, self_play
from workbench.llm.models import load_policy
from workbench.llm.task import RPSTask
from workbench.plots import llm as plots
from workbench.results import check_frame


# ---------------------------------------------------------------- stubs: exact maths without a model
class StubEvaluator:
    """Duck-typed ExactEvaluator: ``distribution`` looks the distribution up in the snapshot itself."""

    def __init__(self, game):
        self.game = game

    def distribution(self, policy, weights=None):
        return weights["pi"]


def rps_game(beta=0.1):
    """One prompt, one round, pure cycles: P(paper ≻ rock) = sigmoid(4)."""
    task = RPSTask(n_prompts=1, length=1, intransitivity=1.0)
    mu = torch.full((1, 3), 1 / 3, dtype=torch.float64)
    return task, task.game(mu, beta)


def onehot(i, n=3):
    return torch.nn.functional.one_hot(torch.tensor([i]), n).double()  # (1, n)


def test_exact_win_rates_hand_computed():
    task, game = rps_game()
    s = torch.sigmoid(torch.tensor(4.0, dtype=torch.float64)).item()  # paper beats rock by one round of one
    pols = [V.Trained("rock", 0, {"pi": onehot(0)}, 10, 320), V.Trained("paper", 0, {"pi": onehot(1)}, 5, 160)]
    df = V.exact_win_rates(None, StubEvaluator(game), pols)
    check_frame(df, V.WIN_RATE_KNOBS)
    W = V.win_rate_table(df)["mean"]
    assert list(W.index) == ["reference", "rock", "paper"] == list(W.columns)
    assert W.loc["paper", "rock"] == pytest.approx(s) and W.loc["rock", "paper"] == pytest.approx(1 - s)
    # against the uniform reference: (P(rock ≻ rock) + P(rock ≻ paper) + P(rock ≻ scissors)) / 3 = 1/2 by symmetry
    assert W.loc["rock", "reference"] == pytest.approx(0.5)
    assert abs(W.to_numpy().diagonal() - 0.5).max() < 1e-12
    assert ((W + W.T) - 1).abs().to_numpy().max() < 1e-12
    row = df[(df.algo == "rock") & (df.opponent == "paper")].iloc[0]
    assert (row.step, row.queries, row.model, row.beta) == (10, 320, "tiny", 0.1)


def test_win_rate_table_mean_and_ci_over_seeds():
    task, game = rps_game()
    mix = lambda a: torch.tensor([[a, 1 - a, 0.0]], dtype=torch.float64)  # noqa: E731
    pols = [V.Trained("m", s, {"pi": mix(a)}) for s, a in enumerate([0.2, 0.4, 0.6])]
    df = V.exact_win_rates(None, StubEvaluator(game), pols)
    assert sorted(df.seed.unique()) == [0, 1, 2]
    t = V.win_rate_table(df)
    per_seed = df[(df.algo == "m") & (df.opponent == "reference")].value
    assert t["mean"].loc["m", "reference"] == pytest.approx(per_seed.mean())
    assert t["lo"].loc["m", "reference"] < t["mean"].loc["m", "reference"] < t["hi"].loc["m", "reference"]


def test_duplicate_labels_and_empty_input_are_refused():
    task, game = rps_game()
    with pytest.raises(ValueError, match=r"seed 0 has several policies labelled \['a'\]"):
        V.exact_win_rates(None, StubEvaluator(game), [V.Trained("a", 0, {"pi": onehot(0)})] * 2)
    with pytest.raises(ValueError, match="no policies"):
        V.exact_win_rates(None, StubEvaluator(game), [])


def test_frontier_table_takes_each_runs_last_step():
    rows = [("a", s, st, 10 * st, m, v + s, "tiny", 0.1) for s in (0, 1) for st, v in ((0, 0.0), (5, 1.0))
            for m in ("kl_to_mu", "win_rate_vs_mu")]
    from workbench.results import make_frame
    t = V.frontier_table(make_frame(rows, knobs="llm"))
    assert t.loc["a", "kl_to_mu"] == pytest.approx(1.5) and t.loc["a", "win_rate_vs_mu_hi"] > 1.5


def test_plan_steps_spends_the_budget_and_names_a_free_method():
    assert E.plan_steps(1000, {"Nash-MD-PG": 32, "RLHF": 128}) == {"Nash-MD-PG": 32, "RLHF": 8}
    assert E.plan_steps(1000, {"DPO": 0}, steps={"DPO": 7}) == {"DPO": 7}
    with pytest.raises(ValueError, match=r"'DPO' spends 0 queries per step.*steps=\{'DPO': n\}"):
        E.plan_steps(1000, {"DPO": 0})
    with pytest.raises(ValueError, match="share the label 'Nash-MD-PG'"):
        E.labelled([NashMDPG(), NashMDPG(mixture=0.5)])


# ---------------------------------------------------------------- with the tiny model
@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    task = RPSTask()
    pol = load_policy("tiny", device="cpu", seed=0).constrain(task.words)
    return task, pol, ExactEvaluator.build(pol, task, beta=0.1)


def test_tabular_reference_starts_at_mu_and_stays_in_budget(setup):
    task, pol, ev = setup
    tab = E.tabular_reference(ev, budget=2000)
    check_frame(tab, "llm")
    X, n = task.n_prompts, task.n
    for algo, per_step in (("tabular Nash-MD", X * n), ("tabular Nash-MP", 2 * X * n)):
        kl_eq = tab[(tab.algo == algo) & (tab.metric == "kl_to_eq")].sort_values("step")
        assert kl_eq.queries.max() <= 2000 and (kl_eq.queries == kl_eq.step * per_step).all()
        assert kl_eq.value.iloc[0] == pytest.approx(float(kl(ev.pi_star, ev.game.mu).mean()), rel=1e-9)
        assert kl_eq.value.iloc[-1] < 0.25 * kl_eq.value.iloc[0]


def test_run_methods_equal_budget_same_start_and_exact_matrices(setup):
    task, pol, ev = setup
    start = {k: v.clone() for k, v in pol.snapshot().items()}
    cfg = LoopConfig(batch_size=8, lr=1e-2)
    runs = E.run_methods({"NMD": NashMDPG(beta=0.1), "SP": self_play(0.1)}, pol, OracleJudge(task), task, cfg, ev,
                         budget=24, seeds=(0, 1), n_evals=2)
    check_frame(runs.frame, "llm")
    assert runs.queries_per_step == {"NMD": 8, "SP": 8} and runs.steps == {"NMD": 3, "SP": 3}
    assert all(torch.equal(start[k], v) for k, v in pol.snapshot().items())  # the initial weights are restored
    end = runs.frame.groupby(["algo", "seed"]).queries.max()
    assert (end == 24).all() and len(runs.finals) == 4
    assert sorted(runs.frame[runs.frame.step == 2].algo.unique()) == ["NMD", "SP"]  # eval_every = ceil(3 / 2)
    step0 = runs.frame[(runs.frame.step == 0) & (runs.frame.metric == "kl_to_eq")].value
    assert step0.nunique() == 1  # every run starts from the same policy
    # the final weights give the recorded final metric; exact frontier rows match the training frame
    f = V.exact_frontier(pol, ev, runs.finals)
    nmd0 = runs.frame.query("algo == 'NMD' and seed == 0 and metric == 'kl_to_eq' and step == 3").value.item()
    assert f.query("algo == 'NMD' and seed == 0 and metric == 'kl_to_eq'").value.item() == pytest.approx(nmd0, rel=1e-6)
    assert f.query("algo == 'reference' and metric == 'kl_to_mu'").value.abs().max() < 1e-6
    W = V.exact_win_rates(pol, ev, runs.finals)
    assert set(W.seed) == {0, 1} and len(W) == 2 * 9  # per seed: reference + 2 methods, all pairs


def test_judged_matrix_and_sampled_frontier_match_the_exact_ones(setup):
    """Sampled through the oracle judge, each entry is within 4 standard errors of the exact entry, and
    the sampled KL(pi || mu) within 4 standard errors of the exact KL."""
    task, pol, ev = setup
    g = make_generator(5)
    weights = {k: v + 0.6 * torch.randn(v.shape, generator=g) for k, v in pol.snapshot().items()}
    pols = [V.Trained("moved", 0, weights)]
    exact = V.win_rate_table(V.exact_win_rates(pol, ev, pols))["mean"]
    n_samples = 300
    judged = V.sampled_win_rates(pol, OracleJudge(task), task.prompts, pols, n_samples=n_samples, max_new_tokens=3,
                                 generator=make_generator(0))
    W, SE = (V.win_rate_table(judged, metric=m)["mean"] for m in ("win_rate", "win_rate_se"))
    assert ((W - exact).abs() < 4 * SE).to_numpy().all(), (W, exact, SE)
    assert abs(exact.loc["moved", "reference"] - 0.5) > 8 * SE.loc["moved", "reference"]  # the test can tell them apart
    sf = V.sampled_frontier(pol, OracleJudge(task), task.prompts, pols, n_samples=n_samples, max_new_tokens=3,
                            generator=make_generator(1))
    ef = V.exact_frontier(pol, ev, pols)
    kl_exact = ef.query("algo == 'moved' and metric == 'kl_to_mu'").value.item()
    kl_sampled = sf.query("algo == 'moved' and metric == 'kl_to_mu'").value.item()
    pi = ev.distribution(pol, weights)  # (X, n)
    lr = torch.log(pi) - torch.log(ev.game.mu)
    sd = float(((pi * lr**2).sum(-1) - (pi * lr).sum(-1) ** 2).mean().sqrt())  # per-sample sd (mixture over prompts, lower bound)
    assert abs(kl_sampled - kl_exact) < 4 * 1.5 * sd / math.sqrt(n_samples * task.n_prompts)


def test_generations_side_by_side(setup):
    task, pol, ev = setup
    gen = V.generations(pol, task.prompts[:2], [V.reference(), V.Trained("same", 0, pol.snapshot())], n_samples=2,
                        max_new_tokens=3, generator=make_generator(0))
    assert list(gen.columns) == ["prompt", "policy", "sample", "response"] and len(gen) == 8
    assert set(gen.response) <= set(task.responses)
    wide = gen.pivot(index=["prompt", "sample"], columns="policy", values="response")
    assert wide.shape == (4, 2)


# ---------------------------------------------------------------- figures
def curve_frame():
    rows = [(a, s, st, 32 * st, m, v * (0.9 ** st) * (1 + 0.1 * s), "tiny", 0.1)
            for a in ("Nash-MD-PG", "RLHF") for s in (0, 1) for st in range(0, 30, 10)
            for m, v in (("kl_to_eq", 1.0), ("reg_exploitability", 0.2), ("kl_to_mu", 0.5), ("win_rate_vs_mu", 0.6))]
    from workbench.results import make_frame
    return make_frame(rows, knobs="llm")


def test_figures_build_with_titles_and_traces():
    df = curve_frame()
    tab = df[(df.algo == "Nash-MD-PG") & (df.seed == 0)].assign(algo="tabular Nash-MD", model="tabular")
    fig = plots.equilibrium_curves(df, tab)
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert names == ["Nash-MD-PG", "RLHF", "tabular Nash-MD"]
    dashed = [t for t in fig.data if t.name == "tabular Nash-MD"]
    assert all(t.line.dash == "dash" for t in dashed) and dashed[0].line.color == fig.data[1].line.color
    assert fig.layout.xaxis.title.text == "preference queries N" and fig.layout.yaxis.type == "log"
    fr = plots.frontier(df)
    assert fr.layout.xaxis.title.text.startswith("KL(π ‖ μ)") and len([t for t in fr.data if t.mode == "markers"]) == 2
    _, game = rps_game()
    W = V.exact_win_rates(None, StubEvaluator(game), [V.Trained("rock", 0, {"pi": onehot(0)})])
    hm = plots.win_rate_heatmap(W)
    assert hm.data[0].z.shape == (2, 2) and hm.layout.xaxis.title.text == "column policy (opponent)"
    bars = plots.mixture_bars([0.2, 0.8], [0.25, 0.75], ["a", "b"], 100, extra={"policy (m = 0)": [0.5, 0.5]})
    assert len(bars.data) == 3 and bars.data[0].error_y.array[0] == pytest.approx(2 * math.sqrt(0.25 * 0.75 / 100))
    with pytest.raises(ValueError, match=r"empirical \(2\), closed_form \(3\) and labels \(2\)"):
        plots.mixture_bars([0.2, 0.8], [0.2, 0.3, 0.5], ["a", "b"], 100)
    with pytest.raises(ValueError, match="none of"):
        plots.equilibrium_curves(df, metrics=("span_log_ratio",))
