"""The LLM training monitor: train a policy of the tiny model on the enumerable task and watch its exact
distance to the regularized equilibrium fall, next to the tabular lab's curve on the same game.

Choose a trainer (any name of :data:`workbench.llm.TRAINERS`), ``beta``, its other hyperparameters (YAML,
checked against the trainer's fields), the budget (steps, batch size) and the seed; start it. Training runs
in a background thread through :func:`workbench.llm.train`, whose ``on_eval`` callback hands over the tidy
frame after every exact evaluation and stops the run when asked (the loop writes its checkpoint first; a
resume continues it exactly). The page polls the job twice a second, so every other control stays
responsive. When a run ends, the final policy's exact distribution is drawn against ``pi*`` and the Gibbs
target ``g = mu exp(r_BT / beta) / Z`` of the task's Bradley–Terry reward (RLHF's target).

The model is :class:`TrainingJob` (no widgets; tested without a browser); :class:`LLMView` is its page.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import panel as pn
import param
import plotly.graph_objects as go
import yaml

from workbench.app.common import Messages, plotly_pane, set_figure

__all__ = ["TRAINER_NAMES", "hyperparameters", "default_hyper_text", "parse_hyper", "TrainingJob", "curve_figures",
           "LLMView"]

#: the curves of the monitor: code name -> words
CURVES = {"kl_to_eq": "KL(π* ‖ π): distance to the regularized equilibrium",
          "reg_exploitability": "regularized exploitability",
          "win_rate_vs_mu": "win rate against the reference P(π ≻ μ)"}


def _trainers() -> dict:
    from workbench.llm import TRAINERS

    return TRAINERS


TRAINER_NAMES = ("Nash-MD-PG", "Self-play", "Nash-EMA-PG", "Nash-MP", "Online DPO", "DPO", "RLHF", "RSO-DPO")
_SKIP = {"beta", "name", "data"}  # set by the view (beta, the label) or built by it (DPO's comparisons)


def hyperparameters(trainer: str) -> dict[str, tuple[str, object]]:
    """``{field: (type text, default)}`` of a trainer's hyperparameters other than ``beta`` (a default that is a
    schedule or missing is shown as its words)."""
    trainers = _trainers()
    if trainer not in trainers:
        raise ValueError(f"unknown trainer {trainer!r}; choose one of {list(trainers)}")
    cls = trainers[trainer]
    if not dataclasses.is_dataclass(cls):  # a factory such as self_play(beta)
        return {}
    out = {}
    for f in dataclasses.fields(cls):
        if f.name in _SKIP:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # e.g. Nash-MP's eta = two_beta()
            default = f.default_factory()
        else:
            default = None
        out[f.name] = (str(f.type), default)
    return out


def default_hyper_text(trainer: str) -> str:
    """The YAML shown for a trainer: one ``key: default`` line per hyperparameter (schedules as a comment)."""
    lines = []
    for name, (kind, default) in hyperparameters(trainer).items():
        if isinstance(default, (bool, int, float, str)) or default is None:
            lines.append(f"{name}: {yaml.safe_dump(default, default_flow_style=True).strip().removesuffix('...').strip()}")
        else:
            lines.append(f"# {name}: a number (default: {getattr(default, 'label', default)})")
    return "\n".join(lines)


def _type_ok(kind: str, value) -> bool:
    kinds = [k.strip() for k in kind.replace("Optional[", "").replace("]", "").split("|")]
    if value is None:
        return "None" in kinds
    if isinstance(value, bool):
        return "bool" in kinds
    if isinstance(value, int):
        return any(k in ("int", "float", "ScalarOrSchedule") for k in kinds)
    if isinstance(value, float):
        return any(k in ("float", "ScalarOrSchedule") for k in kinds)
    if isinstance(value, str):
        return "str" in kinds
    return False


def parse_hyper(trainer: str, text: str) -> dict:
    """The hyperparameters typed in the page (YAML mapping ``key: value``), checked against the trainer's
    fields: an unknown key, a value of the wrong type or ``beta`` (set by its own control) raise ``ValueError``
    naming the key, the value and the expected type."""
    spec = hyperparameters(trainer)
    try:
        data = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"the hyperparameters are not valid YAML{where}: write one 'name: value' per line") from None
    if not isinstance(data, dict):
        raise ValueError(f"the hyperparameters must be 'name: value' lines; got {text.strip()[:40]!r}")
    out = {}
    for key, value in data.items():
        key = str(key)
        if key == "beta":
            raise ValueError("set β with its own control, not among the hyperparameters")
        if key not in spec:
            known = ", ".join(spec) or "none besides β"
            raise ValueError(f"{trainer} has no hyperparameter {key!r}; its hyperparameters: {known}")
        kind, _ = spec[key]
        if not _type_ok(kind, value):
            raise ValueError(f"{trainer}: {key} = {value!r} is a {type(value).__name__}; expected {kind}")
        out[key] = float(value) if isinstance(value, int) and "float" in kind and "int" not in kind else value
    return out


def _numbers(beta, steps, batch_size, eval_every, lr, seed) -> dict:
    def whole(name, v, lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not float(v).is_integer() or not lo <= v <= hi:
            raise ValueError(f"{name} must be a whole number in [{lo}, {hi}]; got {v!r}")
        return int(v)

    beta = float(beta)
    if not (beta > 0 and math.isfinite(beta)):
        raise ValueError(f"β must be a positive finite number; got {beta:g}")
    if beta < 1e-3:
        raise ValueError(f"β = {beta:g} is too small for the exact evaluator (use β >= 0.001)")
    lr = float(lr)
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"the learning rate must be a positive number; got {lr:g}")
    return dict(beta=beta, steps=whole("steps", steps, 1, 100_000), batch_size=whole("batch size", batch_size, 1, 4096),
                eval_every=whole("evaluate every", eval_every, 1, 100_000), lr=lr, seed=whole("seed", seed, 0, 2**31 - 1))


class TrainingJob:
    """One LLM-lab run on the enumerable task with the tiny model, trained in a background thread.

    ``start()`` trains (``resume=True``: continue from the job's checkpoint), ``stop()`` asks the loop to stop
    after its next evaluation (its checkpoint is written), ``frame`` is the tidy frame so far (updated after
    every evaluation), ``tabular`` the tabular lab's Nash-MD / Nash-MP curves on the same game and budget,
    ``final`` the final policy's exact distribution, ``pi_star`` and the Gibbs target ``(X, n)`` once the run
    has ended, ``state`` one of ``"idle" "waiting" "loading" "training" "stopping" "stopped" "finished" "failed"`` (one run
    trains at a time per process: they share the loaded model)."""

    _shared: dict = {}  # one loaded tiny policy per process, reused by every job (reset to its initial weights)
    _lock = threading.Lock()  # one training at a time per process (they would share the policy)

    def __init__(self, trainer: str, beta: float = 0.1, hyper: dict | None = None, *, steps: int = 60,
                 batch_size: int = 16, eval_every: int = 5, lr: float = 2e-3, seed: int = 0,
                 checkpoint_dir: str | Path | None = None, device: str = "cpu"):
        if trainer not in _trainers():
            raise ValueError(f"unknown trainer {trainer!r}; choose one of {list(_trainers())}")
        self.trainer_name, self.hyper = trainer, dict(hyper or {})
        self.numbers = _numbers(beta, steps, batch_size, eval_every, lr, seed)
        self.device = device
        self.checkpoint_dir = Path(checkpoint_dir or tempfile.mkdtemp(prefix="workbench-app-"))
        self.checkpoint = self.checkpoint_dir / f"{trainer.replace(' ', '_')}-seed{self.numbers['seed']}.pt"
        self.frame: pd.DataFrame | None = None
        self.tabular: pd.DataFrame | None = None
        self.final: dict | None = None
        self.trained = None  # the final policy as a workbench.llm.evaluation.Trained record once the run ended
        self.phase, self.error = "idle", None  # set by the worker thread only (state adds "stopping")
        self.evaluations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at = self.ended_at = None

    # ------------------------------------------------------------------ the run
    @property
    def state(self) -> str:
        """``phase``, or ``"stopping"`` while a stop has been asked and the loop has not reached its evaluation."""
        if self.phase == "training" and self._stop.is_set() and self.running:
            return "stopping"
        return self.phase

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, resume: bool = False) -> None:
        if self.running:
            raise RuntimeError("a run is already in progress: stop it first")
        if resume and not self.checkpoint.exists():
            raise ValueError("nothing to resume: this run has not written a checkpoint yet (start it first)")
        self._stop.clear()
        self.error, self.final = None, None
        self.phase = "loading"
        self.started_at, self.ended_at = time.time(), None
        self._thread = threading.Thread(target=self._work, args=(resume,), name="llm-training", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the next evaluation (the loop writes its checkpoint; ``start(resume=True)`` continues)."""
        if self.running:
            self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _policy(self):
        """The tiny policy constrained to the task's words (loaded once per process), reset to its initial
        adapters, the task and the prompts."""
        from workbench.llm import load_policy
        from workbench.llm.exact import task_prompts
        from workbench.llm.models import TinyLMConfig

        key = ("tiny", self.device)
        if key not in self._shared:
            task = TinyLMConfig().task()
            policy = load_policy("tiny", device=self.device, seed=0).constrain(task.words)
            self._shared[key] = (policy, {k: v.clone() for k, v in policy.snapshot().items()}, task,
                                 task_prompts(policy, task))
        policy, initial, task, prompts = self._shared[key]
        policy.load_snapshot(initial)
        return policy, task, prompts

    def _build(self, policy, task):
        from workbench.device import make_generator
        from workbench.llm import REWARD_BASED, OracleJudge, bt_oracle_judge, make_trainer

        hyper = {"beta": self.numbers["beta"], **self.hyper}
        if self.trainer_name == "DPO":
            from workbench.llm.dpo import rps_comparisons

            hyper["data"] = rps_comparisons(policy, task, 32, make_generator(self.numbers["seed"], policy.device))
        trainer = make_trainer(self.trainer_name, **hyper)
        judge = bt_oracle_judge(task) if self.trainer_name in REWARD_BASED else OracleJudge(task)
        return trainer, judge

    def _on_eval(self, frame: pd.DataFrame) -> bool:
        self.frame = frame
        self.evaluations += 1
        return self._stop.is_set()

    def _work(self, resume: bool) -> None:
        import torch

        from workbench.llm import ExactEvaluator, LoopConfig, train
        from workbench.llm.evaluation import Trained
        from workbench.llm.experiments import queries_per_step, tabular_reference

        try:
            if not self._lock.acquire(blocking=False):  # another session of this server is training
                self.phase = "waiting"
                self._lock.acquire()
            self.phase = "loading"
            try:
                policy, task, prompts = self._policy()
                trainer, judge = self._build(policy, task)
                n = self.numbers
                evaluator = ExactEvaluator.build(policy, task, n["beta"])
                config = LoopConfig(steps=n["steps"], batch_size=n["batch_size"], lr=n["lr"], eval_every=n["eval_every"],
                                    seed=n["seed"], max_new_tokens=task.length)
                if self.tabular is None:
                    q = queries_per_step(trainer, policy, judge, prompts, config)
                    budget = max(1, q * n["steps"]) if q > 0 else 32 * task.n * n["steps"]
                    self.tabular = tabular_reference(evaluator, budget)
                self.phase = "training"
                kwargs = dict(evaluator=evaluator, checkpoint=self.checkpoint, resume=resume, progress=False,
                              on_eval=self._on_eval)
                if "overwrite" in inspect.signature(train).parameters and not resume:
                    kwargs["overwrite"] = True  # a fresh start replaces this job's earlier checkpoint
                run = train(trainer, policy, judge, prompts, config, **kwargs)
                self.frame = run.frame
                with torch.no_grad():
                    dist = evaluator.distribution(policy)  # (X, n)
                n_label = f"{self.trainer_name} (β = {n['beta']:g}, seed {n['seed']}, {run.steps} steps)"
                self.trained = Trained(n_label, 0, {k: v.detach().cpu().clone() for k, v in policy.snapshot().items()},
                                       run.steps, run.queries)
                self.final = {"dist": dist.cpu().numpy(), "pi_star": evaluator.pi_star.cpu().numpy(),
                              "gibbs": self._gibbs(evaluator, task), "responses": list(task.responses),
                              "step": run.steps, "queries": run.queries}
                self.phase = "finished" if run.steps >= n["steps"] else "stopped"
            finally:
                self._lock.release()
        except Exception as exc:  # noqa: BLE001 -- shown in the page
            self.error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self.phase = "failed"
        finally:
            self.ended_at = time.time()

    def _gibbs(self, evaluator, task):
        from workbench.games import gibbs
        from workbench.llm import bt_oracle_rewards

        r = bt_oracle_rewards(task).to(evaluator.game.mu)  # (X, n)
        return gibbs(evaluator.game.mu, r, self.numbers["beta"]).cpu().numpy()  # (X, n)

    @property
    def progress(self) -> tuple[int, int]:
        """(last evaluated step, planned steps)."""
        step = int(self.frame["step"].max()) if self.frame is not None and len(self.frame) else 0
        return step, self.numbers["steps"]


def curve_figures(frame: pd.DataFrame | None, tabular: pd.DataFrame | None, *, x: str = "queries",
                  label: str = "run") -> dict[str, go.Figure]:
    """The monitor's figures from the frame so far: ``"equilibrium"`` (exact KL(π*‖π) and regularized
    exploitability, log axis, the tabular lab dashed) and ``"win_rate"`` (win rate against μ, linear)."""
    from workbench.plots.llm import equilibrium_curves

    x_words = "preference queries N" if x == "queries" else "gradient step t"
    figs = {}
    if frame is None or frame.empty:
        from workbench.app.common import placeholder

        figs["equilibrium"] = placeholder("Choose a trainer and press Start: the exact distance to the regularized "
                                          "equilibrium grows here after every evaluation.", 420)
        figs["win_rate"] = placeholder("… and its win rate against the reference μ here.", 420)
        return figs
    tab = tabular if (tabular is not None and x == "queries") else None
    if tab is not None:  # the tabular lab up to the run's own queries so far: equal budgets, a readable axis
        tab = tab[tab["queries"] <= max(1, int(frame["queries"].max()))]
        tab = tab if len(tab) else None
    eq = equilibrium_curves(frame, tab, metrics=("kl_to_eq", "reg_exploitability"), x=x,
                            title=f"{label}: exact distance to the regularized equilibrium"
                                  + (" (dashed: the tabular lab on the same game)" if tab is not None else ""))
    eq.update_layout(height=420, legend=dict(orientation="h", y=-0.25))
    wr = go.Figure()
    sub = frame[frame["metric"] == "win_rate_vs_mu"].sort_values(x)
    wr.add_trace(go.Scatter(x=sub[x], y=sub["value"], mode="lines+markers", name=label, line=dict(width=2)))
    wr.add_hline(y=0.5, line=dict(color="gray", dash="dot"), annotation_text="½ (the reference itself)")
    wr.update_layout(title=f"{label}: win rate against the reference P(π ≻ μ)", template="plotly_white", height=420,
                     xaxis_title=x_words, yaxis_title="win rate P(π ≻ μ)", showlegend=False)
    return {"equilibrium": eq, "win_rate": wr}


class LLMView(param.Parameterized):
    """The LLM training monitor's page (see the module docstring)."""

    trainer = param.Selector(default="Nash-MD-PG", objects=list(TRAINER_NAMES))
    beta = param.Number(default=0.1)
    steps = param.Integer(default=40)
    batch_size = param.Integer(default=16)
    eval_every = param.Integer(default=4)
    lr = param.Number(default=2e-3)
    seed = param.Integer(default=0)
    x_axis = param.Selector(default="queries", objects=["queries", "step"])

    def __init__(self, **params):
        super().__init__(**params)
        self.messages = Messages()
        self.job: TrainingJob | None = None
        self.ended: dict = {}  # id(job) -> Trained record of each run that ended on this page (Runs and rankings)
        self.ended_beta: float | None = None
        self._seen = (None, -1, None)
        self._build_widgets()
        self._redraw()
        self._poll_cb = None

    def _build_widgets(self):
        w = pn.widgets
        self.w_trainer = w.Select(name="Trainer", options=list(_trainers()), value=self.trainer)
        self.w_beta = w.FloatInput(name="β (KL strength; trainer and exact evaluation)", value=self.beta, step=0.05)
        self.w_hyper = w.TextAreaInput(name="Other hyperparameters (name: value per line)",
                                       value=default_hyper_text(self.trainer), height=90)
        self.w_steps = w.IntInput(name="Steps", value=self.steps, step=10, css_classes=["wb-steps"])
        self.w_batch = w.IntInput(name="Prompts per step", value=self.batch_size, step=4, css_classes=["wb-batch"])
        self.w_eval = w.IntInput(name="Evaluate every (steps)", value=self.eval_every, css_classes=["wb-eval"])
        self.w_lr = w.FloatInput(name="Learning rate", value=self.lr, step=1e-3, format="0.0000")
        self.w_seed = w.IntInput(name="Seed", value=self.seed)
        self.w_start = w.Button(name="Start", button_type="primary")
        self.w_stop = w.Button(name="Stop", button_type="warning", disabled=True)
        self.w_resume = w.Button(name="Resume", button_type="success", disabled=True)
        self.w_download = w.FileDownload(label="This run's frame (CSV)", filename="llm_run.csv", callback=self._csv,
                                         button_type="default", disabled=True)
        self.w_x = w.RadioButtonGroup(name="x axis", options={"preference queries": "queries", "gradient steps": "step"},
                                      value=self.x_axis, button_type="primary", button_style="outline")
        self.w_progress = pn.indicators.Progress(name="Training progress", value=0, max=100, visible=False,
                                                 bar_color="primary")
        self.w_status = pn.pane.Markdown("No run yet. The tiny model loads on the first start (a few seconds).",
                                         css_classes=["wb-help"])
        self.panes = {"equilibrium": plotly_pane(height=420), "win_rate": plotly_pane(height=420),
                      "distribution": plotly_pane(height=840)}  # the tiny task's 4 prompts: 2 rows of panels
        self.panes["distribution"].visible = False
        self.w_trainer.param.watch(self._trainer_changed, "value")
        self.w_x.param.watch(lambda e: (setattr(self, "x_axis", e.new), self._redraw()), "value")
        self.w_start.on_click(lambda *_: self.start())
        self.w_stop.on_click(lambda *_: self.stop())
        self.w_resume.on_click(lambda *_: self.start(resume=True))

    def _csv(self):
        """The current run's tidy frame as CSV (the results schema: load it in Runs and rankings)."""
        import io

        frame = self.job.frame if self.job is not None else None
        return io.StringIO("" if frame is None else frame.to_csv(index=False))

    def _trainer_changed(self, event):
        self.trainer = event.new
        self.w_hyper.value = default_hyper_text(event.new)

    # ------------------------------------------------------------------ actions
    def make_job(self) -> TrainingJob:
        """A job from the controls' values (raises ``ValueError`` with a readable message on bad input)."""
        hyper = parse_hyper(self.w_trainer.value, self.w_hyper.value)
        return TrainingJob(self.w_trainer.value, self.w_beta.value, hyper, steps=self.w_steps.value,
                           batch_size=self.w_batch.value, eval_every=self.w_eval.value, lr=self.w_lr.value,
                           seed=self.w_seed.value)

    def start(self, resume: bool = False):
        if self.job is not None and self.job.running:
            self.messages.error("**A run is in progress:** stop it before starting another.")
            return
        with self.messages.guard("Cannot start the run", keep="Nothing was started."):
            if resume:
                if self.job is None:
                    raise ValueError("nothing to resume yet")
                self.job.start(resume=True)
            else:
                job = self.make_job()
                self.job = job
                job.start()
            self.w_start.disabled, self.w_resume.disabled, self.w_stop.disabled = True, True, False
            self.w_progress.visible = True
            self.panes["distribution"].visible = False
            if self._poll_cb is None or not self._poll_cb.running:
                self._poll_cb = pn.state.add_periodic_callback(self.poll, period=500)

    def stop(self):
        if self.job is not None:
            self.job.stop()
            self.w_stop.disabled = True
            self.poll()

    def poll(self):
        """Pull the job's latest frame into the page (runs on the page's event loop, twice a second)."""
        job = self.job
        if job is None:
            return
        running = job.running  # read once: the status, the figures and the buttons below agree with it
        self._status(job)
        key = (id(job), len(job.frame) if job.frame is not None else -1, job.final is not None)
        if key != self._seen:
            self._seen = key
            with self.messages.guard("Cannot draw the run", keep="The training goes on."):
                self._redraw()
        if not running and job.state in ("stopped", "finished", "failed"):
            self._status(job)
            if job.state == "failed":
                self.messages.error(f"**The run failed:** {job.error}. The curves show the evaluations before it.")
            self.w_start.disabled = False
            self.w_resume.disabled = job.state != "stopped"
            self.w_download.disabled = job.frame is None
            self._remember(job)
            self.w_download.filename = f"{job.trainer_name.replace(' ', '_')}_beta{job.numbers['beta']:g}_seed{job.numbers['seed']}.csv"
            self.w_stop.disabled = True
            if self._poll_cb is not None:
                self._poll_cb.stop()

    def _remember(self, job: TrainingJob) -> None:
        """Keep an ended run's final adapters as a ``Trained`` record (label: trainer, beta, seed, steps; one
        matrix: seed 0) for the ranking of the runs trained on this page."""
        if job.trained is None:
            return
        self.ended[id(job)] = job.trained  # a resumed run replaces its earlier end
        if self.ended_beta is None:
            self.ended_beta = job.numbers["beta"]

    def session_runs(self):
        """``(records, beta)`` of the runs that ended on this page (the Runs view's "Rank the runs trained on this
        page"); ``beta`` is the first run's."""
        return list(self.ended.values()), self.ended_beta

    def _status(self, job: TrainingJob) -> None:
        step, total = job.progress
        self.w_progress.value = int(100 * step / max(total, 1))
        words = {"loading": "Loading the tiny model and solving the game …", "training": "Training",
                 "waiting": "Waiting for another run on this server to finish …",
                 "stopping": "Stopping after the next evaluation …", "stopped": "Stopped", "finished": "Finished",
                 "failed": "Failed", "idle": ""}[job.state]
        q = int(job.frame["queries"].max()) if job.frame is not None and len(job.frame) else 0
        self.w_status.object = (f"**{words}** · {job.trainer_name}, β = {job.numbers['beta']:g}: step {step} of {total}, "
                                f"{q} preference queries, {job.evaluations} evaluations")

    def _redraw(self):
        job = self.job
        label = job.trainer_name if job is not None else "run"
        figs = curve_figures(job.frame if job else None, job.tabular if job else None, x=self.x_axis, label=label)
        for key, fig in figs.items():
            set_figure(self.panes[key], fig)
        if job is not None and job.final is not None:
            from workbench.plots.llm import distribution_figure

            f = job.final
            fig = distribution_figure(f["dist"], f["pi_star"], f["responses"], label=f"{label} after {f['step']} steps",
                                      gibbs=f["gibbs"])
            set_figure(self.panes["distribution"], fig)
            self.panes["distribution"].visible = True

    # ------------------------------------------------------------------ layout
    def panel(self):
        controls = pn.Column(
            pn.pane.Markdown("### Run on the enumerable task (tiny model)"),
            self.w_trainer, self.w_beta, self.w_hyper, self.w_steps, self.w_batch, self.w_eval, self.w_lr, self.w_seed,
            pn.Row(self.w_start, self.w_stop, self.w_resume), self.w_progress, self.w_status, self.w_download,
            pn.pane.Markdown("### Curves"), self.w_x,
            width=320,
        )
        outputs = pn.Column(self.messages.panel(), pn.Row(self.panes["equilibrium"]),
                            pn.Row(self.panes["win_rate"]), self.panes["distribution"], sizing_mode="stretch_width")
        return pn.Row(controls, outputs, sizing_mode="stretch_width")
