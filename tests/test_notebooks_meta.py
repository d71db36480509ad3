"""Metadata of the real notebooks (notebooks/NN_name.ipynb) and their profiles, without executing them.

Each notebook: one cell tagged ``parameters`` that papermill parses completely, with literal defaults (the
quick profile); no committed outputs; kernelspec ``python3``. Each profile file notebooks/params/NN_name.yaml
holds overrides only: no ``quick:`` block, every key a parameter of its notebook (papermill itself only
warns), of the default's type, and different from the default. The checks are tested on broken copies of
the fixture notebooks.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import nbformat
import papermill
import pytest

from workbench.reports.runner import (
    ReportConfigError, list_notebooks, parameter_defaults, params_file, plan_jobs, read_profiles,
)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(ROOT / "notebooks")
FIX = Path(__file__).parent / "fixtures" / "notebooks"


def notebook_problems(nb_path: Path) -> list[str]:
    """Everything wrong with one notebook's cells and metadata, as messages naming the notebook."""
    name = nb_path.name
    nb = nbformat.read(nb_path, as_version=4)
    problems = []
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    if len(tagged) != 1:
        problems.append(f"{name}: {len(tagged)} cells tagged 'parameters' ({tagged}); expected exactly one")
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
            problems.append(f"{name}: cell {i} has committed outputs/execution count (strip them)")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append(f"{name}: kernelspec name is {nb.metadata.get('kernelspec', {}).get('name')!r}, expected 'python3'")
    if tagged:
        seen = set(papermill.inspect_notebook(str(nb_path)))
        for node in ast.parse(nb.cells[tagged[0]].source).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for t in targets:
                if isinstance(t, ast.Name) and t.id not in seen:
                    problems.append(
                        f"{name}: papermill cannot parse the parameter {t.id!r} (line {node.lineno} of the "
                        "parameters cell); write one `name = literal  # help` per line, no '=' in the comment"
                    )
        try:
            parameter_defaults(nb_path)
        except ReportConfigError as exc:
            problems.append(str(exc))
    return problems


def profile_problems(nb_path: Path) -> list[str]:
    """Everything wrong with a notebook's profile file: what the runner refuses, and repeated defaults."""
    try:
        profiles = read_profiles(params_file(nb_path))
        defaults = parameter_defaults(nb_path)
    except ReportConfigError as exc:
        return [str(exc)]
    problems = []
    for profile in profiles:
        try:
            (job,) = plan_jobs([nb_path], profile)
        except ReportConfigError as exc:
            problems.append(str(exc))
            continue
        problems += [  # compared as injected: an int given for a float default is a float
            f"{params_file(nb_path)}: profile {profile!r} repeats the default {key} = {value!r}; drop it"
            for key, value in job.parameters.items()
            if type(value) is type(defaults[key]) and value == defaults[key]
        ]
    return problems


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_metadata(nb_path):
    problems = notebook_problems(nb_path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_profiles_hold_overrides_of_real_parameters(nb_path):
    problems = profile_problems(nb_path)
    assert not problems, "\n".join(problems)
    assert "full" in read_profiles(params_file(nb_path)), f"{params_file(nb_path)}: no 'full' profile"


def test_notebook_names_are_unique_by_prefix():
    prefixes = [p.stem.split("_", 1)[0] for p in NOTEBOOKS]
    dupes = sorted({p for p in prefixes if prefixes.count(p) > 1})
    assert not dupes, f"several notebooks share the NN prefix {dupes}: {[p.name for p in NOTEBOOKS]}"


def test_params_files_belong_to_notebooks():
    stems = {p.stem for p in NOTEBOOKS}
    orphans = sorted(p.name for p in (ROOT / "notebooks" / "params").glob("*.yaml") if p.stem not in stems)
    assert not orphans, f"profile files without a notebook in notebooks/: {orphans}"


# --- the checks themselves, on the fixture notebooks and broken copies ---------------------------


def test_checks_accept_fixture_notebooks():
    for nb in list_notebooks(FIX):
        assert notebook_problems(nb) == [] and profile_problems(nb) == []
    assert parameter_defaults(FIX / "01_ok.ipynb") == {
        "seed": 0, "n": 5, "scale": 1.0, "title": "fixture figure", "values": [1, 2], "flag": False
    }


@pytest.fixture
def broken(tmp_path):
    shutil.copytree(FIX, tmp_path / "nbs")
    return tmp_path / "nbs"


def test_unknown_profile_key_names_file_profile_and_key(broken):
    path = broken / "params" / "01_ok.yaml"
    path.write_text("full:\n  n: 6\n  bogus: 3\nsmall:\n  scale: 1\n  eta: 1e-3\n")
    problems = "\n".join(profile_problems(broken / "01_ok.ipynb"))
    assert f"unknown parameter 'bogus' from profile 'full' ({path})" in problems
    assert f"unknown parameter 'eta' from profile 'small' ({path})" in problems
    assert "valid parameters: flag, n, scale, seed, title, values" in problems
    path.write_text("full:\n  n: 5\n  scale: 1\n  seed: 3\n")  # scale: 1 is injected as 1.0, the default
    problems = "\n".join(profile_problems(broken / "01_ok.ipynb"))
    assert "profile 'full' repeats the default n = 5; drop it" in problems
    assert "profile 'full' repeats the default scale = 1.0; drop it" in problems and "seed" not in problems


def test_quick_block_is_refused(broken):
    path = broken / "params" / "01_ok.yaml"
    path.write_text("quick:\n  n: 5\nfull:\n  n: 50\n")
    (problem,) = profile_problems(broken / "01_ok.ipynb")
    assert str(path) in problem and "remove the 'quick:' block" in problem


def test_notebook_checks_flag_damage(broken):
    path = broken / "02_fails.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].source = nb.cells[1].source.replace("# raise", "# x = 1; raise")  # '=' in a help comment
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="hi\n")]
    nb.cells[3].execution_count = 1
    nb.metadata["kernelspec"]["name"] = "myenv"
    nbformat.write(nb, path)
    problems = "\n".join(notebook_problems(path))
    assert "papermill cannot parse the parameter 'fail'" in problems
    assert "cell 3 has committed outputs" in problems
    assert "kernelspec name is 'myenv'" in problems
    nb.cells[1].metadata["tags"] = []
    nbformat.write(nb, path)
    assert "0 cells tagged 'parameters'" in "\n".join(notebook_problems(path))
    assert "unknown parameter 'fail' from profile 'passes'" in "\n".join(profile_problems(path))
