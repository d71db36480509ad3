"""Export a trained policy as a plain Hugging Face folder, loadable without the workbench.

* LoRA (default): the adapter as peft writes it (``adapter_config.json``, ``adapter_model.safetensors``) and the
  tokenizer; reload with ``PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder)``,
  where ``base`` is ``adapter_config.json``'s ``base_model_name_or_path`` (the folder the policy was loaded from).
* ``merge=True`` with LoRA (the adapters folded into a copy of the weights), or full fine-tuning: the whole
  model (``config.json``, ``model.safetensors``) and the tokenizer; reload with
  ``AutoModelForCausalLM.from_pretrained(folder)``.

Beside them ``workbench.json`` records how the folder was made (mode, and the caller's ``meta``: trainer,
beta, steps, ...). A constrained policy (``Policy.constrain``) is exported as its model: the constraint is a
decoding rule, not weights. The folder is written atomically (:func:`workbench.io.atomic_directory`): a
failed export leaves no half-written folder and an existing one as it was; a non-empty folder is replaced
only with ``overwrite=True``.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from workbench.io import atomic_directory


def check_export_folder(folder: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse a target that is a file, or a non-empty folder without ``overwrite`` (before any training)."""
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"save_pretrained: {folder} is a file; give a folder path")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise FileExistsError(f"save_pretrained: {folder} is not empty; add --overwrite (overwrite=True) to replace "
                              f"it, or choose another folder")
    return folder


def save_policy(policy, folder: str | os.PathLike, *, merge: bool = False, overwrite: bool = False,
                meta: dict | None = None) -> Path:
    """Write ``policy`` to ``folder`` (module doc); returns the folder."""
    folder = check_export_folder(folder, overwrite)
    lora = policy.finetune == "lora"
    mode = "lora-adapter" if lora and not merge else "merged" if lora else "full"
    with atomic_directory(folder) as tmp:
        if mode == "lora-adapter":
            policy.model.save_pretrained(str(tmp))
        elif mode == "merged":
            merged = copy.deepcopy(policy.model).merge_and_unload()  # the live policy keeps its adapters
            merged.save_pretrained(str(tmp))
            del merged
        else:
            policy.model.save_pretrained(str(tmp))
        policy.tokenizer.save_pretrained(str(tmp))
        base = getattr(getattr(policy.model, "config", None), "_name_or_path", None)
        (tmp / "workbench.json").write_text(json.dumps({"format": mode, "base_model": base, **(meta or {})},
                                                       indent=1, default=str))
    return folder
