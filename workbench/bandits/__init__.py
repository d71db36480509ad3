"""The contextual-bandit lab: learning the KL-regularized optimal / Nash policy from finite comparisons.

Seed papers: Xiong et al. 2023 (GSHF, arXiv 2312.11456; BT with a linear reward) and Ye et al. 2024
(arXiv 2402.07314; general preference). Modules: :mod:`env` (instances, exact ground truth), :mod:`data`
(sampling, frames, CSV/Parquet loading), :mod:`estimators` (MLE, covariance, confidence sets),
:mod:`offline` (plug-in and pessimistic policies), :mod:`online` (main agent + enhancer, baselines),
:mod:`experiments` (batched-over-seeds runners returning results frames, :mod:`workbench.results`).
Summaries of those frames: :mod:`workbench.analysis.summaries`. The comparison data here are integer
tensors (:class:`BanditComparisons`), not the text records of :class:`workbench.prefdata.Comparisons`.
"""

from workbench.bandits.data import (
    COMPARISON_COLUMNS, BanditComparisons, BanditDataError, behaviour_policy, from_frame, load_bandit_comparisons,
    sample_comparisons, save_bandit_comparisons, to_frame,
)
from workbench.bandits.env import (
    BanditEnv, BanditError, gibbs, hidden_good_actions, pair_features, random_linear, rare_but_lucky,
)
from workbench.bandits.estimators import Estimate, confidence_radius, elliptic_norm, fit, logistic_mle
from workbench.bandits.experiments import (
    OFFLINE_RUNNERS, evaluate_offline, offline_curve, online_batch_sweep, online_curves, pessimism_regime,
)
from workbench.bandits.offline import (
    MaxminCertificate, maxmin_certificate, maxmin_worst_case, pessimistic_maxmin, pessimistic_pointwise,
    pessimistic_policy_level, plug_in, plug_in_nash,
)
from workbench.bandits.online import ONLINE_ALGOS, enhancer, run_online

__all__ = [
    "COMPARISON_COLUMNS", "BanditComparisons", "BanditDataError", "behaviour_policy", "from_frame",
    "load_bandit_comparisons", "sample_comparisons", "save_bandit_comparisons", "to_frame", "BanditEnv",
    "BanditError", "gibbs", "hidden_good_actions", "pair_features", "random_linear", "rare_but_lucky", "Estimate",
    "confidence_radius", "elliptic_norm", "fit", "logistic_mle", "OFFLINE_RUNNERS", "evaluate_offline",
    "offline_curve", "online_batch_sweep", "online_curves", "pessimism_regime", "MaxminCertificate",
    "maxmin_certificate", "maxmin_worst_case", "pessimistic_maxmin", "pessimistic_pointwise", "pessimistic_policy_level", "plug_in", "plug_in_nash", "ONLINE_ALGOS",
    "enhancer", "run_online",
]
