"""Runs and rankings: browse saved runs, compare methods, rank trained LLM policies.

**Frames.** Load tidy frames of the results schema (:mod:`workbench.results`: CSV or Parquet, several files at
once: the CSVs of ``python -m workbench.llm.run --out``, the frames the reports runner records under
``reports/frames/<notebook>/``), filter them by method, seed and knobs, overlay a metric's curves with
confidence bands over seeds (:func:`workbench.plots.curves.metric_curves`, :mod:`workbench.analysis.summaries`),
and export the selection as CSV and the figure as a standalone HTML file (plotly.js inside, opens offline).

**Rankings.** The pairwise win-rate matrix of trained LLM policies: computed from a folder written by
:meth:`workbench.llm.experiments.MethodRuns.save` (exact on the enumerable task, or judged by the task's oracle
from samples), or read from a loaded win-rate frame (rows with an ``opponent`` column). A toggle switches
between the raw matrix ``W`` and the regularized one ``W_beta`` (:func:`workbench.llm.evaluation.regularized_win_rates`),
and the meta-game ranking (Nash averaging, :func:`workbench.llm.evaluation.meta_game_ranking`) is shown beside
the average win rate with a sentence on why they differ.

The model is the functions :func:`read_frames`, :func:`filter_frame`, :func:`curves_figure`,
:func:`win_rates_from_runs`, :func:`win_rates_from_frame`, :func:`ranking_model` (no widgets); :class:`RunsView`
is the page.
"""

from __future__ import annotations

import asyncio
import io
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import param
import plotly.graph_objects as go

from workbench.app.common import Messages, placeholder, plotly_pane, set_figure
from workbench.results import CORE_COLUMNS, check_frame

__all__ = ["read_frames", "read_folder", "filter_frame", "knob_columns", "curves_figure", "figure_html",
           "win_rates_from_runs", "win_rates_from_frame", "RankingInputs", "ranking_model", "RunsView"]

MAX_FILES = 200
FRAME_SUFFIXES = (".csv", ".parquet")


def _read_one(name: str, data: bytes) -> pd.DataFrame:
    suffix = Path(name).suffix.lower()
    if suffix not in FRAME_SUFFIXES:
        raise ValueError(f"{name}: not a .csv or .parquet file")
    try:
        df = pd.read_parquet(io.BytesIO(data)) if suffix == ".parquet" else pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # parser errors, a binary file named .csv, a damaged parquet file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{name}: cannot be read as {suffix[1:].upper()} ({first})") from None
    missing = [c for c in CORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: not a results frame: missing column(s) {', '.join(missing)} "
                         f"(the schema needs {', '.join(CORE_COLUMNS)}; the file has {', '.join(map(str, df.columns))})")
    for col in ("seed", "step", "queries"):
        if not pd.api.types.is_integer_dtype(df[col]):
            num = pd.to_numeric(df[col], errors="coerce")
            if num.isna().any() or not (num == num.round()).all():
                bad = df[col][num.isna() | (num != num.round())].iloc[0]
                raise ValueError(f"{name}: column {col!r} must hold whole numbers; found {bad!r}")
            df[col] = num.astype("int64")
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    for col in ("algo", "metric"):
        df[col] = df[col].astype(str)
    if "opponent" in df.columns:
        df["opponent"] = df["opponent"].astype(str)
    return check_frame(df, name=name)


def read_frames(files: dict[str, bytes]) -> pd.DataFrame:
    """One frame from several uploaded files (``{name: bytes}``; CSV or Parquet of the results schema), with a
    ``file`` column. All or nothing: the first bad file raises ``ValueError`` naming it and what is wrong."""
    if not files:
        raise ValueError("no files given")
    if len(files) > MAX_FILES:
        raise ValueError(f"{len(files)} files: load at most {MAX_FILES} at once")
    frames = [_read_one(name, data).assign(file=name) for name, data in files.items()]
    return pd.concat(frames, ignore_index=True)


def read_folder(folder: str | Path) -> pd.DataFrame:
    """Every ``*.csv`` / ``*.parquet`` results frame under ``folder`` (recursively), with a ``file`` column
    (its path relative to ``folder``). Files that are not results frames are skipped; none found raises."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in FRAME_SUFFIXES and p.is_file())[:MAX_FILES]
    frames, skipped = [], []
    for p in paths:
        try:
            frames.append(_read_one(str(p.relative_to(folder)), p.read_bytes()).assign(file=str(p.relative_to(folder))))
        except ValueError:
            skipped.append(p.name)
    if not frames:
        raise ValueError(f"{folder}: no results frames (CSV or Parquet with columns {', '.join(CORE_COLUMNS)})"
                         + (f"; skipped {', '.join(skipped[:5])}" if skipped else ""))
    return pd.concat(frames, ignore_index=True)


def knob_columns(frame: pd.DataFrame) -> list[str]:
    """The columns to filter by besides method and seed: every non-core column with 1..50 distinct values."""
    skip = {*CORE_COLUMNS, "opponent"}
    return [c for c in frame.columns if c not in skip and 1 <= frame[c].nunique(dropna=False) <= 50]


def filter_frame(frame: pd.DataFrame, selection: dict[str, list]) -> pd.DataFrame:
    """Rows whose value of each column in ``selection`` is among the chosen ones (compared as text, so a
    float knob picked from a list matches); an empty choice keeps every row."""
    mask = pd.Series(True, index=frame.index)
    for col, chosen in selection.items():
        if chosen and col in frame.columns:
            mask &= frame[col].astype(str).isin([str(v) for v in chosen])
    return frame[mask]


def curves_figure(frame: pd.DataFrame, metric: str, x: str = "step", log_y: bool = True) -> go.Figure:
    """The selected runs' ``metric`` against ``x``: mean over seeds with its 95 % band, one line per method
    (and per value of any knob that varies within the selection, e.g. ``beta``)."""
    from workbench.plots.curves import display_name, metric_curves

    sub = frame[frame["metric"] == metric]
    if sub.empty:
        raise ValueError(f"no rows of metric {display_name(metric)!r} in the selection")
    if x not in sub.columns:
        raise ValueError(f"the selection has no column {x!r} for the x axis")
    # knobs that vary within a method (e.g. beta) split its line; one that only follows the method does not
    varying = [c for c in knob_columns(sub) if c != "file" and (sub.groupby("algo")[c].nunique(dropna=False) > 1).any()]
    if "opponent" in sub.columns and sub["opponent"].fillna("").astype(str).str.len().gt(0).any():
        varying.append("opponent")  # win rates: one line per (row policy, opponent)
    if varying:  # one line per method and knob setting
        sub = sub.assign(algo=sub["algo"] + " (" + sub[varying].astype(str).apply(
            lambda r: ", ".join(f"{display_name(c)} = {v}" for c, v in r.items()), axis=1) + ")")
    if log_y and (sub["value"] <= 0).all():
        log_y = False
    fig = metric_curves(sub, metric, x=x, log_y=log_y)
    n_seeds = sub.groupby("algo")["seed"].nunique().max()
    fig.update_layout(height=460, legend=dict(orientation="h", y=-0.2),
                      title=f"{display_name(metric)} against {display_name(x)}: mean over seeds"
                            + (f" with 95 % band (up to {n_seeds} seeds)" if n_seeds > 1 else " (one seed)"))
    return fig


def figure_html(fig: go.Figure) -> str:
    """A standalone HTML page of ``fig`` (plotly.js inside: it opens with no network)."""
    return fig.to_html(include_plotlyjs=True, full_html=True)


def final_table(frame: pd.DataFrame, metric: str, x: str = "step") -> pd.DataFrame:
    """Each method's value at its last ``x``: mean and 95 % interval over seeds, for reading."""
    from workbench.analysis.summaries import seed_ci

    sub = frame[frame["metric"] == metric]
    last = sub.groupby(["algo", "seed"])[x].transform("max")
    summ = seed_ci(sub[sub[x] == last], by=("algo",), interval="t")
    out = summ.rename(columns={"algo": "method", "mean": "mean at the end", "lo": "95 % low", "hi": "95 % high",
                               "n": "seeds"})
    for col in ("mean at the end", "95 % low", "95 % high"):
        out[col] = out[col].map(lambda v: f"{v:.3g}" if np.isfinite(v) else "–")
    return out


# ---------------------------------------------------------------------------- win rates and the ranking
@dataclass
class RankingInputs:
    """A win-rate frame (long, ``opponent`` column), each policy's ``KL(pi || mu)`` and ``beta``."""

    win_rates: pd.DataFrame
    kl: pd.Series
    beta: float
    source: str


def win_rates_from_frame(frame: pd.DataFrame) -> RankingInputs:
    """The win-rate rows of a loaded frame (metric ``win_rate`` with an ``opponent`` column) and each policy's
    ``KL(pi || mu)`` from its ``kl_to_mu`` rows at the last step (0 for the reference)."""
    if "opponent" not in frame.columns or not (frame["metric"] == "win_rate").any():
        raise ValueError("the loaded frames have no win-rate rows (metric 'win_rate' with an 'opponent' column)")
    wr = frame[(frame["metric"] == "win_rate") & frame["opponent"].notna()]
    kl_rows = frame[frame["metric"] == "kl_to_mu"]
    kl = {}
    if len(kl_rows):
        last = kl_rows.groupby(["algo", "seed"])["step"].transform("max")
        kl = kl_rows[kl_rows["step"] == last].groupby("algo")["value"].mean().to_dict()
    policies = list(dict.fromkeys(wr["algo"]))
    kl = pd.Series({a: kl.get(a, 0.0 if a == "reference" else np.nan) for a in policies}, dtype=float)
    beta = float(wr["beta"].dropna().iloc[0]) if "beta" in wr.columns and wr["beta"].notna().any() else 0.1
    return RankingInputs(wr, kl, beta, "the loaded win-rate frame")


_POLICY_CACHE: dict = {}
_POLICY_LOCK = threading.Lock()


def win_rates_from_runs(folder: str | Path, *, judged: bool = False, n_samples: int = 16, seed: int = 0) -> RankingInputs:
    """The win-rate matrix of the policies saved by :meth:`MethodRuns.save` in ``folder`` (and the reference),
    on the enumerable task with the tiny model: exact (``judged=False``) or judged by the task's oracle from
    ``n_samples`` samples per prompt; each policy's exact ``KL(pi || mu)``; ``beta`` from the runs' frame."""
    from workbench.llm.experiments import MethodRuns

    runs = MethodRuns.load(folder)
    models = set(runs.frame["model"].astype(str))
    if models - {"tiny", "tabular"}:
        raise ValueError(f"{folder}: runs of model(s) {sorted(models)}; the app evaluates runs of the tiny model")
    beta = float(runs.frame["beta"].dropna().iloc[0])
    return win_rates_from_trained(runs.finals, beta, Path(folder).name, judged=judged, n_samples=n_samples, seed=seed)


def win_rates_from_trained(finals, beta: float, source: str, *, judged: bool = False, n_samples: int = 16,
                           seed: int = 0) -> RankingInputs:
    """The win-rate matrix of :class:`~workbench.llm.evaluation.Trained` tiny-model policies (one matrix per
    seed, with the reference), exact or judged by the task's oracle, and each policy's exact ``KL(pi || mu)``."""
    finals = list(finals)
    if not finals:
        raise ValueError("no trained policies to rank yet")
    with _POLICY_LOCK:  # one evaluation at a time: they share the loaded model (its adapters are swapped in)
        return _win_rates(finals, beta, source, judged, n_samples, seed)


def _win_rates(finals, beta, source, judged, n_samples, seed) -> RankingInputs:
    import torch

    from workbench.device import make_generator
    from workbench.llm import ExactEvaluator, OracleJudge, load_policy
    from workbench.llm import evaluation as V
    from workbench.llm.exact import task_prompts
    from workbench.llm.models import TinyLMConfig

    if "tiny" not in _POLICY_CACHE:
        task = TinyLMConfig().task()
        _POLICY_CACHE["tiny"] = (load_policy("tiny", device="cpu", seed=0).constrain(task.words), task)
    policy, task = _POLICY_CACHE["tiny"]
    trainable = set(policy.snapshot())
    for t in finals:
        if t.weights is not None and set(t.weights) != trainable:
            raise ValueError(f"{source}: the weights of {t.algo} (seed {t.seed}) do not fit the tiny model's adapters")
    with torch.no_grad():
        ev = ExactEvaluator.build(policy, task, beta)
        frontier = V.exact_frontier(policy, ev, finals)
        if judged:
            wr = V.sampled_win_rates(policy, OracleJudge(task), task_prompts(policy, task), finals,
                                     n_samples=n_samples, max_new_tokens=task.length, generator=make_generator(seed),
                                     beta=beta)
        else:
            wr = V.exact_win_rates(policy, ev, finals)
    kl = frontier[frontier["metric"] == "kl_to_mu"].groupby("algo")["value"].mean()
    how = f"judged by the task's oracle ({n_samples} samples per prompt)" if judged else "exact"
    return RankingInputs(wr, kl, beta, f"{source} ({how})")


def ranking_model(inputs: RankingInputs, *, regularized: bool = False, beta: float | None = None):
    """``(W, ranking)``: the mean win-rate matrix over seeds (wide, rows beat columns), regularized with
    ``beta`` (default the runs' own) when asked, and its :func:`~workbench.llm.evaluation.meta_game_ranking`."""
    from workbench.llm import evaluation as V

    W = V.win_rate_table(inputs.win_rates)["mean"]
    if regularized:
        b = inputs.beta if beta is None else float(beta)
        if not (b >= 0 and math.isfinite(b)):
            raise ValueError(f"β must be a finite number >= 0; got {b:g}")
        missing = [a for a in W.index if not np.isfinite(inputs.kl.get(a, np.nan))]
        if missing:
            raise ValueError(f"no KL(π ‖ μ) for {', '.join(missing)}: the regularized matrix needs each policy's "
                             "kl_to_mu rows")
        W = V.regularized_win_rates(W, inputs.kl, b)
    return W, V.meta_game_ranking(W)


def matrix_figure(W: pd.DataFrame, title: str) -> go.Figure:
    """Heatmap of a wide win-rate matrix ``P(row ≻ column)``, diverging around 1/2, values printed."""
    z = W.to_numpy(float)
    span = max(0.5, float(np.abs(z - 0.5).max()))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in W.columns], y=[str(r) for r in W.index], zmin=0.5 - span, zmax=0.5 + span, zmid=0.5,
        colorscale="RdBu", text=np.vectorize(lambda v: f"{v:.2f}")(z), texttemplate="%{text}", textfont=dict(size=13),
        hovertemplate="%{y} against %{x}: %{z:.3f}<extra></extra>", colorbar=dict(title="row beats column"),
    ))
    fig.update_layout(title=title, template="plotly_white", height=460, xaxis=dict(title="column policy (opponent)"),
                      yaxis=dict(title="row policy", autorange="reversed"))
    return fig


RANKING_COLUMNS = {"nash_mass": "mass in the Nash mixture", "nash_rating": "win rate against the mixture",
                   "average_win_rate": "average win rate", "nash_rank": "Nash-averaging rank",
                   "average_rank": "average-win-rate rank"}


_SUBSCRIPTS = {"t": "ₜ", "T": "ₜ", "β": "ᵦ", "0": "₀", "1": "₁", "i": "ᵢ", "j": "ⱼ"}


def _plain(label: str) -> str:
    """A plotly label (``π<sub>t</sub>``) as plain text for a widget (``πₜ``)."""
    import re

    return re.sub(r"<sub>(.*?)</sub>", lambda m: "".join(_SUBSCRIPTS.get(c, c) for c in m.group(1)), str(label))


class RunsView(param.Parameterized):
    """The Runs and rankings page (see the module docstring)."""

    folder = param.String(default=None, allow_None=True)
    metric = param.String(default="")
    x = param.Selector(default="step", objects=["step", "queries"])
    log_y = param.Boolean(default=True)
    regularized = param.Boolean(default=False)

    def __init__(self, session_runs=None, **params):
        super().__init__(**params)
        self.session_runs = session_runs  # callable -> (list[Trained], beta): the LLM view's ended runs (build_app)
        self.messages = Messages()
        self.frame: pd.DataFrame | None = None
        self.selection: pd.DataFrame | None = None
        self.figure: go.Figure | None = None
        self.ranking_inputs: RankingInputs | None = None
        self.ranking = None
        self._build_widgets()
        if self.folder:  # given (python -m workbench.app --runs FOLDER): load it now
            self.w_folder.value = str(self.folder)
            self.load_folder(self.folder)
        else:  # suggest the reports' recorded frames or a runs/ folder when they exist
            default = next((f for f in ("reports/frames", "runs") if Path(f).is_dir()), None)
            if default:
                self.w_folder.value = default

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self):
        w = pn.widgets
        self.w_upload = w.FileInput(name="Results files", accept=".csv,.parquet", multiple=True,
                                    css_classes=["wb-runs-upload"])
        self.w_folder = w.TextInput(name="…or a folder of saved frames", placeholder="reports/frames")
        self.w_load_folder = w.Button(name="Load folder", button_type="primary")
        self.w_metric = w.Select(name="Metric", options=[])
        self.w_x = w.RadioButtonGroup(name="x axis", options={"steps": "step", "preference queries": "queries"},
                                      value=self.x, button_type="primary", button_style="outline")
        self.w_log = w.Checkbox(name="log scale", value=self.log_y)
        self.filters = pn.Column(sizing_mode="stretch_width")
        self.filter_widgets: dict[str, pn.widgets.MultiChoice] = {}
        self.w_csv = w.FileDownload(label="Selection as CSV", filename="selection.csv", callback=self._csv,
                                    button_type="default", disabled=True)
        self.w_html = w.FileDownload(label="Figure as HTML", filename="figure.html", callback=self._html,
                                     button_type="default", disabled=True)
        self.curves_pane = plotly_pane(placeholder("Load results files (CSV or Parquet of the results schema) or a "
                                                   "folder of saved frames: their curves appear here.", 460), height=460)
        self.table = w.Tabulator(pd.DataFrame(), disabled=True, show_index=False, height=180, sizing_mode="stretch_width",
                                 visible=False)
        self.w_upload.param.watch(self._uploaded, "value")
        self.w_load_folder.on_click(lambda *_: self.load_folder(self.w_folder.value))
        self.w_metric.param.watch(lambda e: self.redraw(), "value")
        self.w_x.param.watch(lambda e: self.redraw(), "value")
        self.w_log.param.watch(lambda e: self.redraw(), "value")
        # rankings
        self.w_runs_folder = w.TextInput(name="Folder of saved LLM-lab runs (MethodRuns.save)", placeholder="runs/nash")
        self.w_judged = w.RadioButtonGroup(name="Win rates", options={"exact": False, "judged from samples": True},
                                           value=False, button_type="primary", button_style="outline")
        self.w_load_runs = w.Button(name="Compute win rates", button_type="primary")
        self.w_from_frames = w.Button(name="Use the loaded win-rate frame", button_type="default")
        self.w_from_session = w.Button(name="Rank the runs trained on this page", button_type="default")
        self.w_from_session.on_click(self._compute_session)
        self.w_matrix = w.RadioButtonGroup(name="Matrix", options={"raw W": False, "regularized Wᵦ": True},
                                           value=False, button_type="primary", button_style="outline")
        self.w_beta = w.FloatInput(name="β of the regularized matrix", value=0.1, step=0.05)
        self.rank_status = pn.pane.Markdown("", css_classes=["wb-help"])
        self.matrix_pane = plotly_pane(placeholder("Compute the win rates of saved LLM-lab runs, or use a loaded "
                                                   "win-rate frame: the matrix appears here.", 460), height=460)
        self.rank_table = w.Tabulator(pd.DataFrame(), disabled=True, show_index=False, sizing_mode="stretch_width",
                                      height=220, visible=False)
        self.rank_sentence = pn.pane.Markdown("")
        self.w_load_runs.on_click(self._compute_runs)
        self.w_from_frames.on_click(lambda *_: self.use_loaded_win_rates())
        self.w_matrix.param.watch(lambda e: self.rank(), "value")
        self.w_beta.param.watch(lambda e: self.rank() if self.w_matrix.value else None, "value")

    # ------------------------------------------------------------------ frames
    def _uploaded(self, event):
        values, names = self.w_upload.value, self.w_upload.filename
        if not values:
            return
        if isinstance(values, bytes):
            values, names = [values], [names]
        with self.messages.guard("Cannot load the files", keep="The view still shows the previous frames."):
            self.set_frame(read_frames(dict(zip(names, values))), f"{len(values)} uploaded file(s)")

    def load_folder(self, folder: str):
        with self.messages.guard("Cannot load the folder", keep="The view still shows the previous frames."):
            if not folder:
                raise ValueError("type a folder first")
            self.set_frame(read_folder(folder), folder)

    def set_frame(self, frame: pd.DataFrame, where: str):
        from workbench.plots.curves import display_name

        self.frame = frame
        metrics = list(dict.fromkeys(frame["metric"]))
        options = {_plain(display_name(m)): m for m in metrics}
        self.w_metric.options = options
        preferred = next((m for m in ("kl_to_eq", "reg_exploitability", "gap", "accuracy", "exploitability", "kl_to_mu")
                          if m in metrics), metrics[0])
        self.filter_widgets = {}
        for col in ["algo", "seed", *knob_columns(frame)]:
            values = sorted(frame[col].dropna().unique().tolist(), key=str)
            label = {"algo": "Methods", "seed": "Seeds", "file": "Files", "eta_schedule": "Step-size schedule",
                     "opponent": "Opponents"}.get(col, _plain(display_name(col)).capitalize())
            mc = pn.widgets.MultiChoice(name=f"{label} (none chosen = all)", options=[str(v) for v in values], value=[])
            mc.param.watch(lambda e: self.redraw(), "value")
            self.filter_widgets[col] = mc
        self.filters.objects = list(self.filter_widgets.values())
        self.messages.info.object = (f"Loaded {len(frame)} rows from {where}: {frame['algo'].nunique()} method(s), "
                                     f"{frame['seed'].nunique()} seed(s), {len(metrics)} metric(s).")
        if self.w_metric.value == preferred:
            self.redraw()
        else:
            self.w_metric.value = preferred  # -> redraw

    def redraw(self):
        if self.frame is None or not self.w_metric.value:
            return
        with self.messages.guard("Cannot draw the selection", keep="The figure still shows the previous selection."):
            sel = filter_frame(self.frame, {c: w.value for c, w in self.filter_widgets.items()})
            fig = curves_figure(sel, self.w_metric.value, x=self.w_x.value, log_y=self.w_log.value)
            self.selection, self.figure = sel, fig
            set_figure(self.curves_pane, fig)
            self.table.visible = True
            self.table.value = final_table(sel, self.w_metric.value, x=self.w_x.value)
            self.w_csv.disabled = self.w_html.disabled = False

    def _csv(self):
        return io.StringIO(self.selection.to_csv(index=False)) if self.selection is not None else io.StringIO("")

    def _html(self):
        return io.StringIO(figure_html(self.figure)) if self.figure is not None else io.StringIO("")

    # ------------------------------------------------------------------ rankings
    async def _compute_runs(self, *_):
        folder, judged = self.w_runs_folder.value, self.w_judged.value
        self.w_load_runs.disabled = True
        self.rank_status.object = f"Computing the win rates of the policies in {folder} …"
        with self.messages.guard("Cannot rank the runs", keep="The ranking still shows the previous runs."):
            if not folder:
                raise ValueError("type the folder of a MethodRuns.save first")
            inputs = await asyncio.to_thread(win_rates_from_runs, folder, judged=judged)
            self.set_ranking_inputs(inputs)
        self.w_load_runs.disabled = False
        if self.messages.text:
            self.rank_status.object = ""

    async def _compute_session(self, *_):
        judged = self.w_judged.value
        self.w_from_session.disabled = True
        with self.messages.guard("Cannot rank the runs of this page", keep="The ranking still shows the previous runs."):
            finals, beta = self.session_runs() if self.session_runs is not None else ([], None)
            if not finals:
                raise ValueError("no LLM run has ended on this page yet: train one in the LLM training tab first")
            self.rank_status.object = f"Computing the win rates of {len(finals)} run(s) trained on this page …"
            inputs = await asyncio.to_thread(win_rates_from_trained, finals, beta, "the runs trained on this page",
                                             judged=judged)
            self.set_ranking_inputs(inputs)
        self.w_from_session.disabled = False

    def use_loaded_win_rates(self):
        with self.messages.guard("Cannot rank the loaded frames", keep="The ranking still shows the previous runs."):
            if self.frame is None:
                raise ValueError("load a win-rate frame first (a results file with an 'opponent' column)")
            self.set_ranking_inputs(win_rates_from_frame(filter_frame(self.frame, {c: w.value for c, w in
                                                                                   self.filter_widgets.items()})))

    def set_ranking_inputs(self, inputs: RankingInputs):
        self.ranking_inputs = inputs
        self.w_beta.value = inputs.beta
        self.rank()

    def rank(self):
        if self.ranking_inputs is None:
            return
        with self.messages.guard("Cannot rank", keep="The ranking still shows the previous matrix."):
            reg = bool(self.w_matrix.value)
            W, ranking = ranking_model(self.ranking_inputs, regularized=reg, beta=self.w_beta.value)
            self.ranking = ranking
            what = (f"regularized win rates W<sub>β</sub> (β = {self.w_beta.value:g}): W − β KL(row ‖ μ) + β KL(column ‖ μ)"
                    if reg else "win rates W = P(row ≻ column)")
            set_figure(self.matrix_pane, matrix_figure(W, f"Pairwise {what}, mean over seeds"))
            self.rank_table.visible = True
            table = ranking.table.reset_index().rename(columns={"policy": "policy", **RANKING_COLUMNS})
            self.rank_table.value = table.round(4)
            self.rank_sentence.object = f"**Why the rankings {'agree' if ranking.agree else 'differ'}.** {ranking.explanation}"
            self.rank_status.object = f"{len(W)} policies from {self.ranking_inputs.source}."

    # ------------------------------------------------------------------ layout
    def panel(self):
        controls = pn.Column(
            pn.pane.Markdown("### Saved frames"), self.w_upload, self.w_folder, self.w_load_folder,
            self.w_metric, self.w_x, self.w_log, self.filters, pn.Row(self.w_csv, self.w_html),
            pn.pane.Markdown("### Trained LLM policies"), self.w_runs_folder, self.w_judged, self.w_load_runs,
            self.w_from_frames, self.w_from_session, self.w_matrix, self.w_beta, self.rank_status,
            width=320,
        )
        outputs = pn.Column(
            self.messages.panel(), self.curves_pane, self.table,
            pn.pane.Markdown("### Win rates and a ranking that survives intransitivity"),
            self.matrix_pane, self.rank_sentence, self.rank_table,
            sizing_mode="stretch_width",
        )
        return pn.Row(controls, outputs, sizing_mode="stretch_width")
