"""The app's view models without a browser: parameters -> frames and figures, bad input -> a readable message
that keeps the previous state, the background sweep's cancel, the LLM job's stop / resume, saved runs ranked."""

import io
import re
import time

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch

from workbench.app import games as G
from workbench.app import llm as L
from workbench.app import runs as R
from workbench.games import GameError


# ---------------------------------------------------------------------------------------------- Games
def test_make_game_sources_and_bad_input():
    rps = G.make_game("library", 0.1, library="Rock–paper–scissors", mu="uniform")
    assert rps.n == 3 and rps.names == ("rock", "scissors", "paper") or rps.n == 3
    assert G.make_game("random", 0.1, n=7, seed=3).n == 7
    arena = G.make_game("library", 0.05, library="Arena-style win counts (shipped)")
    assert arena.n >= 3
    square = b",a,b,c\na,0,3,1\nb,1,0,4\nc,5,2,0\n"
    assert G.make_game("upload", 0.1, csv=square, filename="mine.csv").names == ("a", "b", "c")
    for kwargs, words in [
        (dict(source="random", beta=-0.1), "β must be a positive"),
        (dict(source="random", beta=0.1, n=100_000), "outside [2, 200]"),
        (dict(source="upload", beta=0.1, csv=b",a,b\na,0,1\nc,2,0\n", filename="ns.csv"), "ns.csv: expected either"),
        (dict(source="upload", beta=0.1, csv=b",a,b\na,0,x\nb,1,0\n", filename="text.csv"), "not a number"),
        (dict(source="upload", beta=0.1, csv=None), "no CSV uploaded"),
        (dict(source="library", beta=0.1, library="Chess"), "unknown library game"),
    ]:
        with pytest.raises((ValueError, GameError), match=words.replace("[", r"\[").replace("(", r"\(")):
            G.make_game(**kwargs)


def test_game_model_figures_follow_beta():
    game = G.make_game("library", 0.1, library="Rock–paper–scissors")  # skewed mu: pi* moves with beta
    res = G.game_model(game, G.methods_for(["Nash-MD", "Nash-MP"]), 100)
    assert set(res.figures) == {"policies", "payoff", "path", "exploitability", "steps", "queries"}
    bars = res.figures["policies"].data
    assert bars[0].name.startswith("π*") and np.allclose(bars[0].y, res.pi_star.numpy())
    assert {"Nash-MD", "Nash-MP"} <= set(res.frame["algo"]) and res.frame["queries"].max() > 0
    # Nash-MP converges exactly on RPS at beta = 0.1 within 100 steps: its last bar is pi*
    assert np.allclose(bars[-1].y, res.pi_star.numpy(), atol=1e-6)
    res2 = G.game_model(G.make_game("library", 0.5, library="Rock–paper–scissors"), G.methods_for(["Nash-MP"]), 100)
    assert not np.allclose(res2.figures["policies"].data[0].y, bars[0].y)
    assert res2.figures["path"].layout.shapes[-1].x0 == 0.5  # the marker moved, the path was not re-solved
    assert res2.figures["path"] is res.figures["path"]
    with pytest.raises(ValueError, match="choose at least one method"):
        G.methods_for([])
    with pytest.raises(ValueError, match="positive"):
        G.methods_for(["Nash-MD"], "constant η (below)", -1.0)


def test_beta_redraw_is_fast_for_n_50():
    game = G.make_game("random", 0.1, n=50, seed=0)
    methods = G.methods_for(["Nash-MD", "Nash-MP"])
    G.game_model(game, methods, 200)  # warm: the path along beta is solved once per game
    start = time.perf_counter()
    G.game_model(G.make_game("random", 0.2, n=50, seed=0), methods, 200)
    assert time.perf_counter() - start < 3.0  # ~0.5 s here; generous for a loaded CI machine


def test_games_view_keeps_the_previous_state_on_bad_input():
    view = G.GamesView()
    first = view.result
    assert view.messages.text == "" and first.game.n == 3
    view.w_beta.value = -0.1
    assert "β must be a positive" in view.messages.text and view.result is first
    view.w_beta.value = 0.2
    second = view.result
    view.w_upload.filename = "ragged.csv"
    view.w_upload.value = b",a,b\na,0,1,7\nb\n"
    assert "ragged.csv" in view.messages.text and view.result is second
    view.w_source.value = "library"
    view.w_beta.value = 0.3
    assert view.messages.text == "" and float(view.result.game.beta) == pytest.approx(0.3)


def test_sweep_runs_and_cancels():
    methods = G.methods_for(["Nash-MD", "Nash-MP"])
    seen = []
    df = G.sweep_model(methods, [0.05, 0.5], n=4, games=3, steps=20, on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 2), (2, 2)] and sorted(df["beta"].unique()) == [0.05, 0.5]
    assert df.groupby(["algo", "beta", "metric"]).size().eq(3).all()  # one row per game
    fig = G.sweep_figure(df)
    assert len([t for t in fig.data if t.mode == "lines+markers"]) == 2
    calls = iter([False, True])
    cut = G.sweep_model(methods, [0.05, 0.5, 1.0], n=4, games=3, steps=20, cancelled=lambda: next(calls))
    assert sorted(cut["beta"].unique()) == [0.05]


# ---------------------------------------------------------------------------------------------- LLM
def test_hyperparameters_checked_against_the_trainer():
    assert L.parse_hyper("Nash-MD-PG", "mixture: 0.25") == {"mixture": 0.25}
    assert L.parse_hyper("RLHF", "k: 2") == {"k": 2}
    assert L.parse_hyper("Nash-MP", "eta: 1\ninner_steps: 2") == {"eta": 1.0, "inner_steps": 2}
    for trainer, text, words in [
        ("Nash-MD-PG", "mixture: lots", "mixture = 'lots' is a str; expected float"),
        ("RLHF", "k: 2.5", "k = 2.5 is a float; expected int"),
        ("Nash-MD-PG", "temperature: 1", "has no hyperparameter 'temperature'"),
        ("Nash-MD-PG", "beta: 0.2", "set β with its own control"),
        ("Nash-MD-PG", "mixture: [0.1", "not valid YAML"),
    ]:
        with pytest.raises(ValueError, match=words.replace("[", r"\[")):
            L.parse_hyper(trainer, text)
    with pytest.raises(ValueError, match="whole number"):
        L.TrainingJob("Nash-MD-PG", 0.1, steps=2.5)
    with pytest.raises(ValueError, match="β must be a positive"):
        L.TrainingJob("Nash-MD-PG", -0.1)
    view = L.LLMView()
    view.w_hyper.value = "mixture: lots"
    view.start()
    assert "mixture = 'lots'" in view.messages.text and view.job is None


def test_training_job_stops_resumes_and_scores(tmp_path):
    job = L.TrainingJob("Nash-MD-PG", 0.1, {"mixture": 0.125}, steps=8, batch_size=4, eval_every=2,
                        checkpoint_dir=tmp_path)
    job.stop_at = 4
    original = job._on_eval

    def on_eval(frame):  # ask for a stop as soon as step 2 is evaluated, as the page's Stop button does
        stop = original(frame)
        if frame["step"].max() >= 2:
            job.stop()
        return stop or job._stop.is_set()

    job._on_eval = on_eval
    job.start()
    job.join(300)
    assert job.state == "stopped", (job.state, job.error)
    assert job.progress == (2, 8) and job.checkpoint.exists()
    steps_seen = sorted(job.frame["step"].unique())
    assert steps_seen == [0, 2]
    job._on_eval = original
    job.start(resume=True)
    job.join(300)
    assert job.state == "finished", (job.state, job.error)
    assert sorted(job.frame["step"].unique()) == [0, 2, 4, 6, 8]
    f = job.final
    assert f["dist"].shape == f["pi_star"].shape == f["gibbs"].shape and np.allclose(f["dist"].sum(-1), 1)
    assert job.tabular is not None and job.tabular["algo"].str.startswith("tabular").all()
    figs = L.curve_figures(job.frame, job.tabular, label="Nash-MD-PG")
    names = {t.name for t in figs["equilibrium"].data}
    assert {"Nash-MD-PG", "tabular Nash-MD", "tabular Nash-MP"} <= names
    assert len(figs["win_rate"].data[0].x) == 5


# ---------------------------------------------------------------------------------------------- Runs
def tabular_frames(seeds=(0, 1, 2)):
    from workbench.games import random_game
    from workbench.tabular import make_method
    from workbench.tabular.driver import run

    return pd.concat([run({"Nash-MD": make_method("Nash-MD"), "Nash-MP": make_method("Nash-MP")},
                          random_game(5, 0.1, seed=s), 40, record_every=5, progress=False).assign(seed=s) for s in seeds])


def test_read_filter_plot_export():
    df = tabular_frames()
    buf = io.BytesIO()
    df[df.seed == 2].to_parquet(buf)
    frame = R.read_frames({"a.csv": df[df.seed < 2].to_csv(index=False).encode(), "b.parquet": buf.getvalue()})
    assert len(frame) == len(df) and set(frame["file"]) == {"a.csv", "b.parquet"}
    sel = R.filter_frame(frame, {"algo": ["Nash-MP"], "seed": ["0", "1"]})
    assert set(sel["algo"]) == {"Nash-MP"} and set(sel["seed"]) == {0, 1}
    fig = R.curves_figure(frame, "kl_to_eq")
    bands = [t for t in fig.data if t.fill == "toself"]
    assert len(bands) == 2  # one CI band per method over the three seeds
    html = R.figure_html(fig)
    assert "Plotly.newPlot" in html and len(html) > 1_000_000  # plotly.js inside
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']https?:", html)  # nothing loaded from the network
    table = R.final_table(frame, "kl_to_eq")
    assert list(table["method"]) == ["Nash-MD", "Nash-MP"] and (table["seeds"] == 3).all()
    for files, words in [
        ({"scores.csv": b"model,score\na,1\n"}, "missing column(s) algo"),
        ({"x.csv": b"algo,seed,step,queries,metric,value\na,zero,0,0,m,1\n"}, "'seed' must hold whole numbers"),
        ({"x.parquet": b"not parquet"}, "cannot be read as PARQUET"),
        ({"x.json": b"{}"}, "not a .csv or .parquet"),
    ]:
        with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
            R.read_frames(files)


def win_rate_frame(W, names, kl):
    from workbench.llm.evaluation import WIN_RATE_KNOBS
    from workbench.results import make_frame

    rows = [(a, 0, 10, 100, "win_rate", float(W[i][j]), "tiny", 0.1, b) for i, a in enumerate(names)
            for j, b in enumerate(names)]
    rows_kl = [(a, 0, 10, 100, "kl_to_mu", kl[a], "tiny", 0.1, "") for a in names]
    return pd.concat([make_frame(rows, knobs=WIN_RATE_KNOBS), make_frame(rows_kl, knobs=WIN_RATE_KNOBS)])


def test_ranking_from_a_win_rate_frame_raw_and_regularized():
    names = ["rock", "paper", "scissors", "rock copy"]
    s = 0.9
    base = np.array([[0.5, 1 - s, s], [s, 0.5, 1 - s], [1 - s, s, 0.5]])
    M = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    W = 0.5 + M @ (base - 0.5) @ M.T
    inputs = R.win_rates_from_frame(win_rate_frame(W, names, {"rock": 0.2, "paper": 0.0, "scissors": 0.1,
                                                               "rock copy": 0.2}))
    Wm, ranking = R.ranking_model(inputs)
    assert list(Wm.index) == names
    assert ranking.nash.loc[["rock", "rock copy"]].tolist() == pytest.approx([1 / 6, 1 / 6], abs=1e-5)
    assert not ranking.agree and "paper" in ranking.explanation
    Wb, _ = R.ranking_model(inputs, regularized=True, beta=0.5)
    assert Wb.loc["rock", "paper"] == pytest.approx(W[0, 1] - 0.5 * 0.2 + 0.5 * 0.0)
    with pytest.raises(ValueError, match="β must be"):
        R.ranking_model(inputs, regularized=True, beta=-1.0)
    with pytest.raises(ValueError, match="no win-rate rows"):
        R.win_rates_from_frame(tabular_frames((0,)))


def test_runs_view_bad_file_keeps_frames():
    view = R.RunsView()
    df = tabular_frames((0, 1))
    view.w_upload.filename = ["runs.csv"]
    view.w_upload.value = [df.to_csv(index=False).encode()]
    assert view.messages.text == "" and view.frame is not None and isinstance(view.figure, go.Figure)
    frame, figure = view.frame, view.figure
    view.w_upload.filename = ["scores.csv"]
    view.w_upload.value = [b"model,score\na,1\n"]
    assert "scores.csv" in view.messages.text and view.frame is frame and view.figure is figure
    view.filter_widgets["algo"].value = ["Nash-MD"]
    assert set(view.selection["algo"]) == {"Nash-MD"}
    assert view._csv().getvalue().count("\n") == len(view.selection) + 1


def test_saved_method_runs_ranked(tmp_path):
    from workbench.llm import ExactEvaluator, LoopConfig, NashMDPG, OracleJudge
    from workbench.llm.experiments import MethodRuns, run_methods
    from workbench.llm.nash_md_pg import self_play

    policy, task, prompts = L.TrainingJob("Nash-MD-PG")._policy()
    ev = ExactEvaluator.build(policy, task, 0.1)
    runs = run_methods([NashMDPG(beta=0.1), self_play(0.1)], policy, OracleJudge(task), task,
                       LoopConfig(steps=4, batch_size=4, eval_every=2, max_new_tokens=task.length), ev, n_evals=2)
    runs.save(tmp_path / "runs")
    assert len(MethodRuns.load(tmp_path / "runs").finals) == 2
    inputs = R.win_rates_from_runs(tmp_path / "runs")
    W, ranking = R.ranking_model(inputs)
    assert list(W.index) == ["reference", "Nash-MD-PG", "Self-play"]
    assert np.allclose(W.to_numpy() + W.to_numpy().T, 1.0) and inputs.kl["reference"] == pytest.approx(0.0, abs=1e-12)
    assert ranking.nash.sum() == pytest.approx(1.0) and len(ranking.table) == 3
    judged = R.win_rates_from_runs(tmp_path / "runs", judged=True, n_samples=4)
    assert (judged.win_rates["metric"] == "win_rate_se").any()
    with pytest.raises(ValueError, match="no runs.json"):
        R.win_rates_from_runs(tmp_path)
    torch.manual_seed(0)


def test_views_render_as_panel_components():
    """Each view's layout is a panel component that renders to a bokeh model: what a JupyterLab cell shows
    after ``workbench.app.extension()`` (the app's tabs hold the same objects)."""
    import panel as pn

    from workbench.app import GamesView, LLMView, RunsView, build_app, extension

    extension()
    for cls in (GamesView, LLMView, RunsView):
        layout = cls().panel()
        assert isinstance(layout, pn.layout.Row)
        assert layout.get_root() is not None
    page = build_app(views=["Runs and rankings"])
    assert set(page.views) == {"Runs and rankings"}


def test_cli_arguments_and_runs_folder(tmp_path):
    from workbench.app.__main__ import free_port, parse_args

    args = parse_args(["--port", "5006", "--address", "0.0.0.0", "--no-show", "--runs", str(tmp_path)])
    assert (args.port, args.address, args.no_show, args.runs) == (5006, "0.0.0.0", True, str(tmp_path))
    assert parse_args([]).port == 0 and 0 < free_port() < 65536
    with pytest.raises(SystemExit):
        parse_args(["--port", "99999"])
    tabular_frames((0,)).to_parquet(tmp_path / "runs.parquet")
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")  # not a results frame: skipped
    view = R.RunsView(folder=str(tmp_path))
    assert view.messages.text == "" and set(view.frame["file"]) == {"runs.parquet"}
    empty = tmp_path / "empty"
    empty.mkdir()
    view.load_folder(str(empty))
    assert "no results frames" in view.messages.text and set(view.frame["file"]) == {"runs.parquet"}


def test_runs_trained_on_the_page_are_ranked():
    """Two short runs ended in the LLM view are ranked in the Runs view of the same page (exact win rates)."""
    import asyncio

    from workbench.app import build_app

    page = build_app()
    llm, runs = page.views["LLM training"], page.views["Runs and rankings"]
    for trainer in ("Nash-MD-PG", "Self-play"):
        job = L.TrainingJob(trainer, 0.1, steps=2, batch_size=4, eval_every=2)
        job.start()
        job.join(300)
        assert job.state == "finished", job.error
        llm._remember(job)
    finals, beta = llm.session_runs()
    assert len(finals) == 2 and beta == 0.1
    asyncio.run(runs._compute_session())
    assert runs.messages.text == "", runs.messages.text
    names = list(runs.rank_table.value["policy"])
    assert sorted(names) == sorted(["reference", "Nash-MD-PG (β = 0.1, seed 0, 2 steps)", "Self-play (β = 0.1, seed 0, 2 steps)"])
