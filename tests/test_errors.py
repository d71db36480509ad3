"""Malformed input at the entry points gives an error that names the file, field or parameter (issue 11,
item 18). The damaged-file cases of the loaders and judges live beside their modules' tests:
tests/test_prefdata_real_records.py (a ``.gz`` that is not gzip) and tests/test_prefmodels_hardening.py
(truncated ``judge.json`` / safetensors)."""

import numpy as np
import pytest

from workbench.bandits import BanditDataError, load_bandit_comparisons, random_linear
from workbench.games import random_game
from workbench.games.solvers import solve
from workbench.prefdata import make_synthetic
from workbench.prefmodels import ModelJudge, build_model, load_backbone, train


def test_empty_bandit_csv_names_the_file(tmp_path):
    env = random_linear(n_contexts=4, n_actions=3, dim=2, beta=0.1, seed=0)
    path = tmp_path / "votes.csv"
    path.write_text("")
    with pytest.raises(BanditDataError, match=r"votes\.csv: empty file \(expected a header x, y, y_prime, label\)"):
        load_bandit_comparisons(path, env)


def test_load_backbone_on_an_empty_folder_names_the_folder(tmp_path):
    folder = tmp_path / "my-checkpoint"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match=r"my-checkpoint.* has no config\.json"):
        load_backbone(str(folder), device="cpu")
    (folder / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"my-checkpoint.* has no tokenizer file"):
        load_backbone(str(folder), device="cpu")


@pytest.mark.parametrize("n", [0, -2])
def test_random_game_needs_a_positive_size(n):
    with pytest.raises(ValueError, match=rf"random_game: n must be a positive integer, got {n}"):
        random_game(n=n)


def test_solve_names_what_it_expects():
    with pytest.raises(TypeError, match=r"solve needs a PreferenceGame .*got ndarray"):
        solve(np.full((2, 2), 0.5))


def test_zero_batch_sizes_are_named():
    comps, _ = make_synthetic(n_prompts=3, responses_per_prompt=2, n_pairs=8, seed=0)
    bb = load_backbone("tiny", texts=comps.prompts + comps.responses_a + comps.responses_b,
                       tiny=dict(hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16, max_length=8),
                       device="cpu")
    model = build_model("bt", bb)
    with pytest.raises(ValueError, match=r"train: batch_size must be a positive integer, got 0"):
        train(model, comps, batch_size=0, progress=False)
    with pytest.raises(ValueError, match=r"ModelJudge: batch_size must be a positive integer, got 0"):
        ModelJudge(model, batch_size=0)
