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
    from workbench.llm.policy import load_policy

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
