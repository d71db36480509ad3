"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The suite's tensors are tiny: one intra-op thread is several times faster than two on this
    2-core machine (thread start-up dominates). Restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------ the LLM lab's shared fixtures
@pytest.fixture(scope="module")
def task():
    """The enumerable rock-paper-scissors task (27 responses, intransitive oracle)."""
    from workbench.llm.task import RPSTask

    return RPSTask()


@pytest.fixture(scope="module")
def loaded(task):
    """The cached tiny reference model with fresh LoRA adapters, loaded once per module, and its initial weights."""
    from workbench.llm.models import load_policy

    torch.set_num_threads(1)
    pol = load_policy("tiny", device="cpu", seed=0).constrain(task.words)
    return pol, pol.snapshot()


@pytest.fixture()
def policy(loaded):
    """The tiny policy reset to its initial adapters: every test starts at pi = mu."""
    pol, w0 = loaded
    pol.load_snapshot(w0)
    return pol


@pytest.fixture()
def killed_judge():
    """A factory: the task's oracle, except that the process "dies" at the ``kill_at``-th ``prob`` call."""
    from workbench.llm.judges import OracleJudge

    class KilledJudge(OracleJudge):
        def __init__(self, task, kill_at):
            super().__init__(task)
            self.calls, self.kill_at = 0, kill_at

        def prob(self, *args):
            self.calls += 1
            if self.calls == self.kill_at:
                raise KeyboardInterrupt("killed")
            return super().prob(*args)

    return KilledJudge


# ------------------------------------------------------------------ the six real reports, built in the background
# tests/test_reports_browser.py opens the six real reports. Building them takes minutes, so when that test is
# selected the build starts as soon as collection ends, in a subprocess on the second core, while the unit tests
# run; the `real_reports` fixture waits for it. The build works on a copy of notebooks/ with its own checkpoints
# folder and model cache, so it never races the suite (nbval runs the same notebooks) for a file.
REAL_REPORTS_TEST = "test_real_report_reads_offline"
_BUILD = """
import dataclasses, json, sys
from workbench.reports.runner import run_reports
results = run_reports(sys.argv[1], sys.argv[2], profile="quick", only=sys.argv[4:],
                      log=lambda m: print(m, flush=True))
with open(sys.argv[3], "w") as f:
    json.dump([dataclasses.asdict(r) for r in results], f)
"""


def pytest_collection_finish(session):
    import os
    import re
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    names = [m.group(1) for item in session.items
             if (m := re.search(REAL_REPORTS_TEST + r"\[(.+)\]$", item.nodeid))]
    if session.config.option.collectonly or not names:
        return
    root = Path(__file__).resolve().parents[1]
    work = Path(tempfile.mkdtemp(prefix="workbench-real-reports-"))
    shutil.copytree(root / "notebooks", work / "notebooks")
    (work / "data").symlink_to(root / "data")
    env = dict(os.environ, NLHF_WORKBENCH_CACHE=str(work / "cache"))
    log = open(work / "build.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-c", _BUILD, str(work / "notebooks"), str(work / "reports"), str(work / "results.json"), *names],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    session.config.stash[_real_reports_key] = (proc, work, log)


def pytest_unconfigure(config):
    import shutil

    proc, work, log = config.stash.get(_real_reports_key, (None, None, None))
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    log.close()
    shutil.rmtree(work, ignore_errors=True)


_real_reports_key = pytest.StashKey()


@pytest.fixture(scope="session")
def real_reports_build(pytestconfig):
    """(reports folder, name -> result dict with ok/message) of the background build, waiting for it."""
    proc, work, log = pytestconfig.stash.get(_real_reports_key, (None, None, None))
    if proc is None:
        pytest.fail("the real reports' background build was not started (see pytest_collection_finish)")
    rc = proc.wait(timeout=3600)
    log.flush()
    tail = (work / "build.log").read_text(errors="replace")[-3000:]
    if rc != 0 and not (work / "results.json").exists():
        pytest.fail(f"the real reports' build exited with {rc}:\n{tail}")
    import json

    results = {r["name"]: r for r in json.loads((work / "results.json").read_text())}
    return work / "reports", results, tail
