"""Loaders for local preference files: each schema, label orientation, malformed records, engines."""

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.prefdata import PrefLoadError, load_comparisons
from workbench.prefdata.make_samples import write_fixtures, write_samples

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "prefs"
FIX = ROOT / "tests" / "fixtures" / "prefs"


def _raw(name):
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("hf_cache"))


@pytest.mark.parametrize(
    "name, fmt",
    [("tldr_sample.jsonl", "tldr"), ("hh_sample.jsonl", "hh"), ("ultrafeedback_sample.jsonl", "ultrafeedback"),
     ("plain.jsonl", "plain"), ("plain.csv", "plain")],
)
def test_samples_load_with_auto_format(name, fmt):
    c = load_comparisons(DATA / name)
    assert len(c) == 30 and c.info["format"] == fmt and c.skipped == 0
    assert 0.0 < c.labels.mean() < 1.0  # not all 1: sides randomized (or given) per record


def _chosen_texts(name):
    raw = _raw(name)
    if name.startswith("tldr"):
        return [r["summaries"][r["choice"]]["text"] for r in raw], [r["summaries"][1 - r["choice"]]["text"] for r in raw]
    if name.startswith("hh"):
        return [r["chosen"] for r in raw], [r["rejected"] for r in raw]
    return [r["chosen"][-1]["content"] for r in raw], [r["rejected"][-1]["content"] for r in raw]


@pytest.mark.parametrize("name", ["tldr_sample.jsonl", "hh_sample.jsonl", "ultrafeedback_sample.jsonl"])
def test_chosen_becomes_the_preferred_side(name):
    chosen, rejected = _chosen_texts(name)
    hh = name.startswith("hh")
    # side_seed=None: chosen is always response_a, label 1
    c = load_comparisons(DATA / name, side_seed=None)
    assert (c.labels == 1.0).all()
    for p, a, b, ch, rj in zip(c.prompts, c.responses_a, c.responses_b, chosen, rejected):
        assert (p + a, p + b) == (ch, rj) if hh else (a, b) == (ch, rj)
    # randomized sides: the preferred side (a if label 1 else b) is still the chosen text
    r = load_comparisons(DATA / name, side_seed=3)
    assert 0 < r.labels.sum() < len(r)
    np.testing.assert_array_equal(r.labels, 1.0 - r.frame["swapped"].to_numpy())
    for p, a, b, y, ch in zip(r.prompts, r.responses_a, r.responses_b, r.labels, chosen):
        win = a if y == 1.0 else b
        assert (p + win if hh else win) == ch
    if name.startswith("ultrafeedback"):  # scores follow their responses
        assert (r.frame["score_a"] > r.frame["score_b"]).to_numpy().tolist() == (r.labels == 1.0).tolist()


def test_side_seed_reproducible():
    a = load_comparisons(DATA / "hh_sample.jsonl", side_seed=1)
    b = load_comparisons(DATA / "hh_sample.jsonl", side_seed=1)
    c = load_comparisons(DATA / "hh_sample.jsonl", side_seed=2)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not np.array_equal(a.labels, c.labels)
    assert a.info["side_seed"] == 1


def test_hh_prompt_is_shared_prefix_up_to_last_assistant_turn():
    c = load_comparisons(DATA / "hh_sample.jsonl", side_seed=None)
    for p, a in zip(c.prompts, c.responses_a):
        assert p.endswith("\n\nAssistant:") and "\n\nAssistant:" not in a
    assert any(p.count("\n\nHuman:") == 2 for p in c.prompts)  # multi-turn records keep the earlier turns


def test_plain_csv_and_jsonl_agree_and_keep_soft_labels():
    a = load_comparisons(DATA / "plain.csv").to_frame().drop(columns=["source", "line"])
    b = load_comparisons(DATA / "plain.jsonl").to_frame().drop(columns=["source", "line"])
    pd.testing.assert_frame_equal(a, b)
    assert ((a["label"] > 0) & (a["label"] < 1)).any()
    assert "swapped" not in a.columns  # a/b given by the file are kept as they are


@pytest.mark.parametrize("name", ["tldr_sample.jsonl", "hh_sample.jsonl", "ultrafeedback_sample.jsonl",
                                  "plain.csv"])
def test_datasets_engine_matches_python_engine(name, cache):
    a = load_comparisons(DATA / name, engine="python")
    b = load_comparisons(DATA / name, engine="datasets", cache_dir=cache)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())


def test_parquet_matches_jsonl(cache):
    a = load_comparisons(DATA / "ultrafeedback_sample.parquet", cache_dir=cache).to_frame()
    b = load_comparisons(DATA / "ultrafeedback_sample.jsonl").to_frame()
    cols = ["prompt", "response_a", "response_b", "label", "score_a", "score_b", "swapped"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert a["row"].tolist() == list(range(30))


MALFORMED = [
    ("tldr_missing_choice.jsonl", "tldr", 3, "choice", "missing field"),
    ("tldr_empty_summary.jsonl", "tldr", 4, "summaries[1].text", "empty text"),
    ("hh_empty_rejected.jsonl", "hh", 2, "rejected", "empty text"),
    ("ultrafeedback_wrong_type.jsonl", "ultrafeedback", 4, "score_chosen", "expected a number"),
    ("ultrafeedback_chosen_not_list.jsonl", "ultrafeedback", 5, "chosen", "list of messages"),
    ("plain_bad_utf8.jsonl", "jsonl", 5, None, "invalid UTF-8"),
    ("plain_broken_json.jsonl", "jsonl", 3, None, "invalid JSON"),
    ("plain_label_string.jsonl", "jsonl", 2, "label", "expected a number"),
    ("plain_bad_rows.csv", "csv", 4, "label", "in [0, 1], got 1.7"),
]


@pytest.mark.parametrize("name, fmt, line, field, msg", MALFORMED)
@pytest.mark.parametrize("engine", ["python", "datasets"])
def test_malformed_record_error_names_file_line_field(name, fmt, line, field, msg, engine, cache):
    with pytest.raises(PrefLoadError) as info:
        load_comparisons(FIX / name, format=fmt, engine=engine, cache_dir=cache)
    err = info.value
    assert (err.line, err.field) == (line, field) and err.file.endswith(name)
    text = str(err)
    assert name in text and f"line {line}" in text and msg in text
    if field is not None:
        assert repr(field) in text


@pytest.mark.parametrize("name, fmt, line, field, msg", MALFORMED)
def test_skip_counts_malformed_records(name, fmt, line, field, msg):
    c = load_comparisons(FIX / name, format=fmt, on_error="skip")
    n_bad = 2 if name.endswith(".csv") else 1  # the CSV also has a row with a missing field (line 6)
    assert c.skipped == n_bad and len(c) == 6 - n_bad
    assert f"line {line}" in c.skip_reasons[0]
    assert line not in c.frame["line"].tolist()


def test_csv_row_with_missing_field():
    c = load_comparisons(FIX / "plain_bad_rows.csv", on_error="skip")
    assert "line 6" in c.skip_reasons[1] and "expected 4 fields" in c.skip_reasons[1]


def test_paths_globs_directories_limit_and_gzip(tmp_path):
    c = load_comparisons(str(DATA / "*_sample.jsonl"), limit=40)
    assert len(c) == 40 and c.info["format"] == "mixed"
    gz = tmp_path / "train.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write((DATA / "hh_sample.jsonl").read_bytes())
    shutil.copy(DATA / "hh_sample.jsonl", tmp_path / "test.jsonl")
    d = load_comparisons(tmp_path, format="hh")
    assert len(d) == 60 and set(d.frame["source"]) == {"train.jsonl.gz", "test.jsonl"}
    assert len(load_comparisons([gz, tmp_path / "test.jsonl"], limit=5)) == 5


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches"):
        load_comparisons(DATA / "nope*.jsonl")
    with pytest.raises(ValueError, match="format must be one of"):
        load_comparisons(DATA / "plain.csv", format="xml")
    (tmp_path / "odd.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    with pytest.raises(PrefLoadError, match="cannot detect the format"):
        load_comparisons(tmp_path / "odd.jsonl")
    # a file in another schema than the one asked for: the missing field is named
    with pytest.raises(PrefLoadError, match="line 1, field 'chosen': missing field"):
        load_comparisons(DATA / "plain.jsonl", format="hh")


def test_plain_column_mapping(tmp_path):
    df = pd.DataFrame({"question": ["q1", "q2"], "good": ["g1", "g2"], "bad": ["b1", "b2"]})
    df.to_csv(tmp_path / "mine.csv", index=False)
    c = load_comparisons(tmp_path / "mine.csv", format="csv", side_seed=None,
                         columns={"prompt": "question", "chosen": "good", "rejected": "bad"})
    assert c.responses_a == ["g1", "g2"] and (c.labels == 1).all()


def test_samples_are_reproducible(tmp_path):
    write_samples(tmp_path)
    write_fixtures(tmp_path)
    for f in DATA.iterdir():
        if f.suffix == ".parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(f), pd.read_parquet(tmp_path / "data" / "prefs" / f.name))
        elif f.name != "README.md":
            assert f.read_bytes() == (tmp_path / "data" / "prefs" / f.name).read_bytes(), f.name
    for f in FIX.iterdir():
        assert f.read_bytes() == (tmp_path / "tests" / "fixtures" / "prefs" / f.name).read_bytes(), f.name


def test_datasets_engine_falls_back_to_lines_with_limit(cache):
    c = load_comparisons(FIX / "plain_broken_json.jsonl", engine="datasets", on_error="skip", limit=3,
                         cache_dir=cache)
    assert len(c) == 3 and c.skipped == 1 and c.frame["line"].tolist() == [1, 2, 4]
