"""Notebook metadata: parameters (papermill), profiles (``notebooks/params/NN_name.yaml``), checks.

Used by the report runner (unknown parameters are an error, not a papermill warning) and by
``tests/test_notebooks_meta.py`` (every notebook has a parameters cell, no outputs, a profile file whose
``quick`` values equal the notebook's defaults, ...).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml

PROFILES = ("quick", "full")
NOTEBOOK_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_\-]+)$")


class ReportConfigError(ValueError):
    """Bad notebook / profile / parameter configuration (raised before anything is executed)."""


def list_notebooks(notebooks_dir: str | Path) -> list[Path]:
    """``NN_name.ipynb`` files of ``notebooks_dir`` sorted by name (checkpoints and others ignored)."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_NAME.match(p.stem))


def params_file(nb_path: str | Path, params_dir: str | Path | None = None) -> Path:
    """The profile file of a notebook: ``<params_dir or notebook folder/params>/<stem>.yaml``."""
    nb_path = Path(nb_path)
    folder = Path(params_dir) if params_dir is not None else nb_path.parent / "params"
    return folder / f"{nb_path.stem}.yaml"


def notebook_parameters(nb_path: str | Path) -> dict[str, dict[str, Any]]:
    """``papermill.inspect_notebook``: name -> {"default": source string, "inferred_type_name", "help"}.

    Empty when the notebook has no cell tagged ``parameters``.
    """
    import papermill

    return dict(papermill.inspect_notebook(str(nb_path)))


def parameter_defaults(nb_path: str | Path) -> dict[str, Any]:
    """Default values of the parameters cell, parsed with ``ast.literal_eval``.

    Raises ReportConfigError naming the notebook and the parameter when a default is not a literal.
    """
    out = {}
    for name, info in notebook_parameters(nb_path).items():
        src = info["default"]
        try:
            out[name] = ast.literal_eval(src)
        except (ValueError, SyntaxError) as exc:
            raise ReportConfigError(
                f"{Path(nb_path).name}: default of parameter {name!r} is not a python literal: {src!r} ({exc})"
            ) from None
    return out


def load_profiles(path: str | Path) -> dict[str, dict[str, Any]]:
    """Read a profile file: a YAML mapping with mappings ``quick:`` and ``full:`` (empty means no overrides).

    Raises ReportConfigError naming the file and the problem (missing file, not a mapping, bad profile).
    """
    path = Path(path)
    if not path.is_file():
        raise ReportConfigError(f"{path}: profile file is missing (expected mappings 'quick:' and 'full:')")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ReportConfigError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ReportConfigError(f"{path}: top level must be a mapping with keys 'quick' and 'full', got {type(data).__name__}")
    profiles = {}
    for key, value in data.items():
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ReportConfigError(f"{path}: profile {key!r} must be a mapping of parameter: value, got {value!r}")
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise ReportConfigError(f"{path}: profile {key!r} has non-string parameter names {bad!r}")
        profiles[str(key)] = value
    return profiles


def unknown_parameters(names, valid) -> list[str]:
    """Names of ``names`` that are not in ``valid`` (order kept)."""
    valid = set(valid)
    return [n for n in names if n not in valid]


def _same(a: Any, b: Any) -> bool:
    """Equal values and, for scalars, the same type (1 vs 1.0 vs True differ: papermill injects the type)."""
    if isinstance(a, (bool, int, float, str)) or isinstance(b, (bool, int, float, str)):
        return type(a) is type(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _unparsed_assignments(name: str, source: str) -> list[str]:
    """Top-level assignments of the parameters cell that papermill's parser does not see."""
    import papermill.translators as tr

    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [f"{name}: parameters cell is not valid python: {exc}"]
    seen = {p.name for p in tr.PythonTranslator.inspect({"source": source})}
    out = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name) and t.id not in seen:
                out.append(
                    f"{name}: papermill cannot parse the parameter {t.id!r} (line {node.lineno} of the parameters "
                    "cell); write one `name = literal  # help` per line, with no '=' in the comment"
                )
    return out


def check_notebook(nb_path: str | Path, params_dir: str | Path | None = None) -> list[str]:
    """Everything wrong with one notebook's metadata, as messages (empty list: all good).

    Checks: a cell tagged ``parameters``; no outputs or execution counts committed; kernelspec ``python3``;
    a profile file with ``quick`` and ``full``; every profile key is a notebook parameter; ``quick`` values
    equal the notebook defaults (after ``ast.literal_eval``, same type).
    """
    import nbformat

    nb_path = Path(nb_path)
    name = nb_path.name
    problems: list[str] = []
    nb = nbformat.read(nb_path, as_version=4)
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not tagged:
        problems.append(f"{name}: no cell tagged 'parameters'")
    elif len(tagged) > 1:
        problems.append(f"{name}: several cells tagged 'parameters' (cells {tagged}); papermill uses the first")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{name}: cell {i} has committed outputs/execution count (strip them)")
    if tagged:
        problems += _unparsed_assignments(name, nb.cells[tagged[0]].source)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    if kernel != "python3":
        problems.append(f"{name}: kernelspec name is {kernel!r}, expected 'python3'")

    try:
        profiles = load_profiles(params_file(nb_path, params_dir))
    except ReportConfigError as exc:
        return problems + [str(exc)]
    missing = [p for p in PROFILES if p not in profiles]
    if missing:
        problems.append(f"{params_file(nb_path, params_dir)}: missing profile(s) {missing}")
    valid = notebook_parameters(nb_path)
    for prof, values in profiles.items():
        for key in unknown_parameters(values, valid):
            problems.append(
                f"{name}: profile {prof!r} sets unknown parameter {key!r}; valid parameters: {sorted(valid)}"
            )
    try:
        defaults = parameter_defaults(nb_path)
    except ReportConfigError as exc:
        return problems + [str(exc)]
    for key, value in profiles.get("quick", {}).items():
        if key in defaults and not _same(value, defaults[key]):
            problems.append(
                f"{name}: quick.{key} = {value!r} ({type(value).__name__}) differs from the notebook default "
                f"{defaults[key]!r} ({type(defaults[key]).__name__})"
            )
    return problems
