"""Comparison frames: schema, round trips, and the loader's error messages."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from workbench.bandits import (
    COMPARISON_COLUMNS, BanditDataError, behaviour_policy, from_frame, load_bandit_comparisons, random_linear,
    rare_but_lucky, sample_comparisons, save_bandit_comparisons, to_frame,
)
from workbench.results import check_frame

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env():
    return random_linear(n_contexts=10, n_actions=8, dim=4, beta=0.1, seed=0)


def test_frame_schema_and_round_trip(env, tmp_path):
    data = sample_comparisons(env, 50, torch.Generator().manual_seed(0), n_seeds=3)
    fr = to_frame(data)
    assert list(fr.columns) == ["seed", *COMPARISON_COLUMNS] and len(fr) == 150
    back = from_frame(fr, env)
    for a, b in zip(back.astuple(), data.astuple()):
        assert torch.equal(a, b)
    for suffix in (".csv", ".parquet"):
        one = data.head(20)
        one = type(one)(*(t[:1] for t in one.astuple()))
        path = save_bandit_comparisons(one, tmp_path / f"c{suffix}")
        loaded = load_bandit_comparisons(path, env)
        assert all(torch.equal(a, b) for a, b in zip(loaded.astuple(), one.astuple()))


def test_labels_follow_preference():
    env = rare_but_lucky(n_arms=2, spread=0.0, good_reward=1.5)
    a = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    data = sample_comparisons(env, 20000, torch.Generator().manual_seed(1), a, 1 - a)
    p = torch.sigmoid(torch.tensor(1.5)).item()
    assert abs(data.label.double().mean().item() - p) < 0.015


def test_behaviour_coverage(env):
    pi_star = env.optimal_policy()
    best = pi_star.argmax(-1)
    b0 = behaviour_policy(env, 0.0, "avoid_optimal")
    assert b0.gather(-1, best[:, None]).abs().max() == 0
    b1 = behaviour_policy(env, 1.0, "avoid_optimal")
    assert torch.allclose(b1, pi_star)
    with pytest.raises(Exception, match="coverage"):
        behaviour_policy(env, 1.5)


def test_sample_file_loads(env):
    data = load_bandit_comparisons(ROOT / "data" / "bandits" / "sample_comparisons.csv", env)
    assert data.x.shape == (1, 200) and set(data.label.unique().tolist()) <= {0, 1}


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda f: f.drop(columns="label"), r"missing column\(s\) \['label'\]"),
        (lambda f: f.assign(y=f.y.where(f.index != 4, 8)), r"row 5, column 'y': unknown action 8 \(allowed 0..7\)"),
        (lambda f: f.assign(y_prime=f.y_prime.where(f.index != 2, -1)), r"row 3, column 'y_prime': unknown action -1"),
        (lambda f: f.assign(x=f.x.where(f.index != 0, 10)), r"row 1, column 'x': unknown context 10 \(allowed 0..9\)"),
        (lambda f: f.assign(label=f.label.where(f.index != 6, 2)), r"row 7, column 'label': unknown label 2 \(allowed \{0, 1\}\)"),
        (lambda f: f.assign(label=f.label.astype(object).where(f.index != 1, "yes")), r"row 2, column 'label': value 'yes' is not an integer"),
        (lambda f: f.assign(label=f.label.astype(float).where(f.index != 3, 0.5)), r"row 4, column 'label': value 0.5 is not an integer"),
    ],
)
def test_loader_error_messages(env, tmp_path, edit, match):
    frame = pd.read_csv(ROOT / "data" / "bandits" / "sample_comparisons.csv")
    path = tmp_path / "bad.csv"
    edit(frame).to_csv(path, index=False)
    with pytest.raises(BanditDataError, match=match) as info:
        load_bandit_comparisons(path, env)
    assert str(path) in str(info.value)


def test_loader_unknown_format_and_missing_file(env, tmp_path):
    with pytest.raises(BanditDataError, match="no such file"):
        load_bandit_comparisons(tmp_path / "nope.csv", env)
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(BanditDataError, match="unknown format"):
        load_bandit_comparisons(tmp_path / "c.txt", env)


def test_loaded_data_runs_through_offline_algorithms(env):
    from workbench.bandits import evaluate_offline

    data = load_bandit_comparisons(ROOT / "data" / "bandits" / "sample_comparisons.csv", env)
    fr = evaluate_offline(env, data, ["plug_in", "pointwise", "policy_level"])
    check_frame(fr, knobs="bandits")
    assert (fr["queries"] == 200).all() and (fr["env"] == env.name).all()
    gaps = fr[fr.metric == "gap"].set_index("algo")["value"]
    assert (gaps > 0).all() and (gaps < env.gap(env.mu[None]).item()).all()  # learned something from 200 comparisons
    with pytest.raises(ValueError, match="unknown offline algorithm"):
        evaluate_offline(env, data, ["greedy"])
