"""Pairwise preference data: the `Comparisons` type, loaders for local files, a synthetic generator.

* `Comparisons` - frozen wrapper of a DataFrame ``(prompt, response_a, response_b, label[, p_true], source)``,
  ``label = 1.0`` means ``response_a`` is preferred.
* `make_synthetic` - text preferences with a known truth, tunable from transitive to cyclic, with
  known accuracy ceilings (`SyntheticTruth`).
* `load_comparisons` - local files in the TL;DR (summarize-from-feedback), HH-RLHF, UltraFeedback-binarized,
  CSV and JSONL formats (see ``data/prefs/README.md``).
"""

from workbench.prefdata.comparisons import Comparisons, ComparisonsError
from workbench.prefdata.loaders import PrefLoadError, load_comparisons
from workbench.prefdata.synthetic import SyntheticTruth, best_order_value, make_synthetic

__all__ = [
    "Comparisons", "ComparisonsError", "PrefLoadError", "SyntheticTruth", "best_order_value", "load_comparisons",
    "make_synthetic",
]
