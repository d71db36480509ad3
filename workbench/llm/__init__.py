"""The LLM lab: NLHF fine-tuning of causal language models, with the exact equilibrium as ground truth.

    from workbench.llm import RPSTask, load_policy, ExactEvaluator, OracleJudge, make_trainer, train, LoopConfig
    task = RPSTask()                                              # 27 enumerable responses, intransitive oracle
    policy = load_policy("tiny").constrain(task.words)            # LoRA on the cached tiny reference model
    evaluator = ExactEvaluator.build(policy, task, beta=0.1)      # the game (P, mu) and its solution pi*
    run = train(make_trainer("Nash-MD-PG", beta=0.1), policy, OracleJudge(task), task.prompts,
                LoopConfig(steps=60), evaluator=evaluator)        # run.frame: exact KL(pi*||pi), exploitability

Trainers (one module each, registry name -> class): ``"Nash-MD-PG"``, ``"Self-play"`` (Munos et al. 2023),
``"Nash-EMA-PG"``, ``"Nash-MP"`` (Tiapkin et al. 2025, approximate prox steps), ``"Online DPO"`` (GSHF,
Xiong et al. 2023), ``"DPO"`` (offline, on a fixed comparison set), ``"RLHF"`` (RLOO on a BT reward),
``"RSO-DPO"`` (DPO on pairs rejection-sampled from the Gibbs policy); best-of-n is a training-free
baseline (:mod:`workbench.llm.best_of_n`).

One way to do each thing: every model forward goes through ``Policy.logprobs`` (peft internals in
:mod:`workbench.llm.adapters`), every sample through the one decoding loop of :mod:`workbench.llm.sampling`,
every loss piece lives in :mod:`workbench.llm.losses` (the trainer modules do not import each other), and the
modules import in one order, without a circle: ``task, adapters -> policy -> sampling -> exact -> models ->
loop -> losses -> trainers`` (``tests/test_llm_imports.py``).
"""

from workbench.registry import build
from workbench.llm.dpo import OfflineDPO
from workbench.llm.exact import ExactEvaluator, enumerate_logprobs
from workbench.llm.judges import OracleJudge, RewardJudge, bt_oracle_judge, bt_oracle_rewards
from workbench.llm.loop import LoopConfig, StepOut, TrainRun, train
from workbench.llm.nash_ema_pg import NashEMAPG
from workbench.llm.nash_md_pg import NashMDPG, self_play
from workbench.llm.nash_mp import NashMPPG
from workbench.llm.online_dpo import OnlineDPO
from workbench.llm.models import TinyLMConfig, load_policy
from workbench.llm.policy import Policy
from workbench.llm.rlhf import RLOO
from workbench.llm.rso import RSODPO
from workbench.llm.sampling import Rollout, sample
from workbench.llm.task import RPSTask

TRAINERS = {
    "Nash-MD-PG": NashMDPG,
    "Self-play": self_play,
    "Nash-EMA-PG": NashEMAPG,
    "Nash-MP": NashMPPG,
    "Online DPO": OnlineDPO,
    "DPO": OfflineDPO,
    "RLHF": RLOO,
    "RSO-DPO": RSODPO,
}

NASH = ("Nash-MD-PG", "Nash-EMA-PG", "Nash-MP", "Self-play")  # aim at the regularized Nash equilibrium
REWARD_BASED = ("RLHF", "RSO-DPO")  # aim at the Gibbs policy of a (BT) reward


def make_trainer(name: str, **hyper):
    """A trainer from its registry name and hyperparameters, e.g. ``make_trainer("Nash-MP", beta=0.1)``."""
    return build(TRAINERS, name, "LLM trainer", **hyper)


__all__ = [
    "TRAINERS", "NASH", "REWARD_BASED", "make_trainer", "RPSTask", "TinyLMConfig", "Policy", "load_policy",
    "Rollout", "sample", "ExactEvaluator", "enumerate_logprobs", "OracleJudge", "RewardJudge", "bt_oracle_judge",
    "bt_oracle_rewards", "LoopConfig", "StepOut", "TrainRun", "train", "NashMDPG", "NashEMAPG", "NashMPPG",
    "OnlineDPO", "OfflineDPO", "RLOO", "RSODPO",
]
