"""Loaders on records written by hand in the public datasets' own shapes (issue 11, items 11-14, and the
not-gzip case of item 18): UltraFeedback with and without its ``prompt`` field, TL;DR's annotator fields
and its CNN/DM variant, damaged ``.gz`` files, ties."""

import gzip
import json
import re
import zlib

import numpy as np
import pytest

from workbench.prefdata import Comparisons, PrefLoadError, load_comparisons


def _write_jsonl(path, records, gz=False):
    data = "".join(json.dumps(r) + "\n" for r in records).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


# UltraFeedback-binarized (HuggingFaceH4/ultrafeedback_binarized, train_prefs): the prompt is the user turn
# verbatim, trailing newline included, as in many real records.
UF = {
    "prompt": "Write a haiku about rain.\n",
    "prompt_id": "5f1c0a",
    "chosen": [{"role": "user", "content": "Write a haiku about rain.\n"},
               {"role": "assistant", "content": "Soft rain on the roof,\nthe gutters hum their one note,\nthe street shines again."}],
    "rejected": [{"role": "user", "content": "Write a haiku about rain.\n"},
                 {"role": "assistant", "content": "Rain is water that falls from clouds."}],
    "messages": [{"role": "user", "content": "Write a haiku about rain.\n"},
                 {"role": "assistant", "content": "Soft rain on the roof,\nthe gutters hum their one note,\nthe street shines again."}],
    "score_chosen": 8.5,
    "score_rejected": 4.0,
}


def test_ultrafeedback_prompt_is_the_user_turn_with_or_without_the_prompt_field(tmp_path):
    without = {k: v for k, v in UF.items() if k != "prompt"}
    a = load_comparisons(_write_jsonl(tmp_path / "with.jsonl", [UF]), side_seed=None)
    b = load_comparisons(_write_jsonl(tmp_path / "without.jsonl", [without]), side_seed=None)
    assert a.prompts == [UF["prompt"]]
    assert b.prompts == [UF["chosen"][0]["content"]]  # was "User: Write a haiku about rain." (prefix, no newline)
    assert a.responses_a == b.responses_a and a.responses_b == b.responses_b


# OpenAI summarize-from-feedback comparisons/batch*.json: a Reddit record and a CNN/DM record.
TLDR_REDDIT = {
    "info": {"id": "t3_1a2b3c", "post": "My roommate keeps eating my food. I labelled it and it still happens.",
             "title": "Roommate eats my food", "subreddit": "relationships", "site": None, "article": None},
    "split": "train",
    "summaries": [{"text": " Roommate eats my labelled food; how do I get them to stop?", "policy": "sup2", "note": "clear"},
                  {"text": " I have a roommate.", "policy": "ref", "note": "misses the point"}],
    "choice": 0,
    "worker": "w_017",
    "batch": "batch5",
    "extra": {"confidence": 8},
}
TLDR_CNNDM = {
    "info": {"id": "dm-9d8e7f", "post": None, "title": "Storm closes coastal road",
             "article": "A storm closed the coastal road on Monday after waves washed debris onto it.",
             "site": "dailymail", "subreddit": None},
    "split": "valid2",
    "summaries": [{"text": " Road closed by storm.", "policy": "ref", "note": ""},
                  {"text": " A storm closed the coastal road on Monday; debris covered it.", "policy": "sup4", "note": "complete"}],
    "choice": 1,
    "worker": "w_042",
    "batch": "cnndm1",
    "extra": {"confidence": 6},
}


def test_tldr_keeps_worker_batch_notes_and_the_cnndm_title_and_site(tmp_path):
    c = load_comparisons(_write_jsonl(tmp_path / "batch5.json", [TLDR_REDDIT, TLDR_CNNDM]), side_seed=None)
    f = c.frame
    assert f["worker"].tolist() == ["w_017", "w_042"]
    assert f["batch"].tolist() == ["batch5", "cnndm1"]
    # side_seed=None: a is the chosen summary, so its note is the chosen summary's note
    assert f["note_a"].tolist() == ["clear", "complete"] and f["note_b"].tolist() == ["misses the point", ""]
    assert f["site"].tolist()[1] == "dailymail" and f["title"].tolist()[1] == "Storm closes coastal road"
    assert c.prompts[1] == TLDR_CNNDM["info"]["article"]
    # the notes follow their summaries when the sides are randomized
    r = load_comparisons(tmp_path / "batch5.json", side_seed=4)
    for sw, na, nb, (cn, rn) in zip(r.frame["swapped"], r.frame["note_a"], r.frame["note_b"],
                                    [("clear", "misses the point"), ("complete", "")]):
        assert (na, nb) == ((rn, cn) if sw else (cn, rn))


def test_split_warns_when_a_part_comes_out_empty(tmp_path):
    c = load_comparisons(_write_jsonl(tmp_path / "batch5.json", [TLDR_REDDIT, TLDR_CNNDM]))  # 2 prompts
    with pytest.warns(UserWarning, match=r"part\(s\) \[2\].*empty"):
        parts = c.split((0.5, 0.25, 0.25), seed=0)
    assert [len(p) for p in parts] == [1, 1, 0]


# ----------------------------------------------------------------------------- damaged .gz
def _hh(i):
    return {"chosen": f"\n\nHuman: question {i}?\n\nAssistant: a careful answer number {i}.",
            "rejected": f"\n\nHuman: question {i}?\n\nAssistant: no."}


def _gz_bytes(n):
    return gzip.compress("".join(json.dumps(_hh(i)) + "\n" for i in range(n)).encode(), mtime=0)


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gz_names_the_file_and_skip_keeps_the_records_before_the_damage(tmp_path, damage):
    n = 2000
    data = bytearray(_gz_bytes(n))
    path = tmp_path / "train.jsonl.gz"
    if damage == "truncated":
        data = data[: len(data) * 3 // 4]
    else:  # garble a stretch of deflate data three quarters in
        k = len(data) * 3 // 4
        data[k:k + 64] = b"\xaa" * 64
    path.write_bytes(bytes(data))
    # (garbled deflate data may first decode into a broken line, named as such, before zlib notices)
    with pytest.raises(PrefLoadError, match=r"train\.jsonl\.gz, line \d+"):
        load_comparisons(path)
    c = load_comparisons(path, on_error="skip", side_seed=None)
    assert c.skipped >= 1
    assert re.search(r"train\.jsonl\.gz, line \d+: (truncated gzip|damaged gzip)", c.skip_reasons[-1])
    # the good records before the damage are kept, in order (at least 60% of them: damage is at 75%)
    k = int(0.6 * n)
    assert c.responses_a[:k] == [_hh(i)["chosen"].split("Assistant:")[1] for i in range(k)]


def test_multi_member_gz_and_zero_padding_read_whole(tmp_path):
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(_gz_bytes(3) + _gz_bytes(2) + bytes(16))
    assert len(load_comparisons(path)) == 5


def test_gz_that_is_not_gzip_names_the_file(tmp_path):
    path = tmp_path / "train.jsonl.gz"
    path.write_text(json.dumps(_hh(0)) + "\n")  # plain text under a .gz name
    with pytest.raises(PrefLoadError, match=r"train\.jsonl\.gz, line 1: not a gzip file"):
        load_comparisons(path)
    csv_path = tmp_path / "prefs.csv.gz"
    csv_path.write_bytes(zlib.compress(b"prompt,chosen,rejected\nx,a,b\n"))  # zlib, not gzip
    with pytest.raises(PrefLoadError, match=r"prefs\.csv\.gz.*not a gzip file"):
        load_comparisons(csv_path)


# ----------------------------------------------------------------------------- ties
def test_ties_get_label_one_half_and_are_marked(tmp_path):
    same = "\n\nHuman: hi\n\nAssistant: hello there"
    hh = [{"chosen": same, "rejected": same}, _hh(1)]
    c = load_comparisons(_write_jsonl(tmp_path / "hh.jsonl", hh), side_seed=3)
    np.testing.assert_array_equal(c.frame["tie"].to_numpy(), [True, False])
    assert c.labels[0] == 0.5 and c.labels[1] in (0.0, 1.0)
    uf_tie = {**UF, "score_rejected": UF["score_chosen"]}
    u = load_comparisons(_write_jsonl(tmp_path / "uf.jsonl", [UF, uf_tie]), side_seed=None)
    np.testing.assert_array_equal(u.frame["tie"].to_numpy(), [False, True])
    np.testing.assert_array_equal(u.labels, [1.0, 0.5])
    # a tie stays a tie under swap (label 1/2 is its own mirror image)
    assert isinstance(u, Comparisons) and u.swap().labels[1] == 0.5


def test_truncated_gz_through_the_datasets_engine_falls_back_and_keeps_the_good_lines(tmp_path):
    data = _gz_bytes(2000)
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(data[: len(data) * 3 // 4])
    c = load_comparisons(path, on_error="skip", engine="datasets", cache_dir=str(tmp_path / "cache"))
    py = load_comparisons(path, on_error="skip", engine="python")
    assert len(c) == len(py) >= 1200 and c.skip_reasons == py.skip_reasons
    assert re.search(r"train\.jsonl\.gz, line \d+: truncated gzip file", c.skip_reasons[-1])
