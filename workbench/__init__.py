"""NLHF Workbench: Nash Learning from Human Feedback, from exact tabular games to LLM fine-tuning.

Notation (one everywhere): ``P`` preference matrix / model, ``pi`` policy, ``mu`` reference policy,
``beta`` KL-regularization strength, ``eta`` step size, ``x`` prompt, ``y`` response.

Sub-packages are imported lazily by the user (``from workbench.games import ...``); importing
``workbench`` itself is cheap and never loads transformers, panel or plotly.
"""

from workbench.device import make_generator, resolve_device, seed_everything

__all__ = ["make_generator", "resolve_device", "seed_everything"]
__version__ = "0.1.0"
