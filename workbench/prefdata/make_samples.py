"""Write the small sample files under ``data/prefs/`` and the malformed fixtures under ``tests/fixtures/prefs/``.

Run from the repository root: ``python -m workbench.prefdata.make_samples`` (``--root DIR`` to write
elsewhere). Deterministic (numpy generator with a fixed seed). All text is made up by templates in this
file: no record is copied from the real datasets; only their schemas (field names and nesting) are copied.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240501
N = 30  # records per sample file

_PEOPLE = ["I (27F)", "My roommate (25M) and I (24M)", "I (31M)", "My sister (19F) and I (22F)", "I (40F)"]
_TOPICS = [
    ("gardening", "tomato plants", "the leaves turn yellow after a week of rain",
     "water less and add mulch"),
    ("personalfinance", "a first budget", "money runs out before the end of every month",
     "track spending for a month first"),
    ("cooking", "sourdough bread", "the loaf comes out flat and dense",
     "let the starter get more active before baking"),
    ("running", "training for a 10k", "my knees hurt after the long runs",
     "slow down and add rest days"),
    ("relationships", "sharing chores", "we keep arguing about who does the dishes",
     "write a simple weekly rota"),
    ("learnprogramming", "a first Python project", "I never finish the projects I start",
     "pick a smaller project with one clear goal"),
    ("travel", "a train trip", "the tickets are expensive when I book late",
     "book a few weeks early and travel midweek"),
    ("pets", "a new puppy", "she cries every night in her crate",
     "put the crate near the bed for the first weeks"),
]
_QUESTIONS = [
    ("How do I keep {x} fresh for longer?", "basil", "Keep {x} in a glass of water at room temperature, "
     "change the water every day and trim the stems."),
    ("What is a simple way to learn {x}?", "touch typing", "Practice {x} for ten minutes a day with a free "
     "online drill, keep your eyes on the screen and aim for accuracy before speed."),
    ("Can you explain what {x} means?", "compound interest", "{x} means you earn interest on the interest "
     "already added, so a balance grows faster the longer it stays invested."),
    ("How should I prepare for {x}?", "a job interview", "For {x}, read about the company, practice short "
     "answers about your past work out loud, and prepare two questions to ask."),
    ("Why does {x} happen?", "condensation on a cold glass", "{x} happens because warm air touching the "
     "cold glass cools down and cannot hold as much water vapour, so droplets form."),
    ("Give me three tips for {x}.", "sleeping better", "For {x}: keep a regular bedtime, avoid screens for "
     "an hour before bed, and keep the bedroom cool and dark."),
    ("What should I pack for {x}?", "a day hike", "For {x}, pack water, a snack, a rain jacket, sun cream "
     "and a charged phone with an offline map."),
    ("How do I start {x}?", "journaling", "To start {x}, write three sentences each evening about what "
     "happened and how you felt; keep it short so it sticks."),
]
_WEAK = [
    "I am not sure, it depends.", "You could look that up online.", "That is a good question.",
    "There are many opinions about this.", "Just try something and see.",
]
_WEAK_SUMMARIES = [
    "person has a problem and asks reddit", "stuff is going wrong, need help", "long story, any advice?",
    "title says it all", "what do I do",
]
_FOLLOWUPS = ["Thanks! Anything else I should know?", "Could you make that shorter?", "Why does that work?"]
_FOLLOWUP_ANSWERS = [
    "One more thing: be patient, it usually takes a couple of weeks to see a difference.",
    "In short: small steps, every day.", "It works because it removes the most common cause of the problem.",
]


def _tldr_records(rng: np.random.Generator) -> list[dict]:
    out = []
    for i in range(N):
        sub, thing, problem, fix = _TOPICS[i % len(_TOPICS)]
        who = _PEOPLE[rng.integers(len(_PEOPLE))]
        weeks = int(rng.integers(2, 9))
        post = (f"{who} started with {thing} about {weeks} weeks ago. Everything went fine at first, but now "
                f"{problem}. We tried a few things we read about, without much luck. Someone at work said "
                f"we should {fix}, but we are not sure. What would you do?")
        good = f" OP has trouble with {thing}: {problem}. Should OP {fix}?"
        weak = " " + _WEAK_SUMMARIES[rng.integers(len(_WEAK_SUMMARIES))]
        good_first = bool(rng.random() < 0.5)
        texts = [good, weak] if good_first else [weak, good]
        pols = ["sup2_ppo_rm4_t.7", "ref"] if good_first else ["ref", "sup2_ppo_rm4_t.7"]
        choice = (0 if good_first else 1) if rng.random() < 0.85 else (1 if good_first else 0)
        out.append({
            "info": {"id": f"t3_sample{i:03d}", "post": post, "title": f"Problems with {thing}, need advice",
                     "subreddit": sub, "site": None, "article": None},
            "split": "train" if i < 24 else "valid1",
            "summaries": [{"text": t, "policy": p, "note": None} for t, p in zip(texts, pols)],
            "choice": choice, "worker": f"w{int(rng.integers(1, 6))}", "batch": f"batch{3 + i // 10}",
            "extra": {"confidence": int(rng.integers(1, 10))},
        })
    return out


def _qa(i: int) -> tuple[str, str, str]:
    q, x, a = _QUESTIONS[i % len(_QUESTIONS)]
    return q.format(x=x), a.format(x=x[0].upper() + x[1:]) if a.startswith("{x}") else a.format(x=x), x


def _hh_records(rng: np.random.Generator) -> list[dict]:
    out = []
    for i in range(N):
        q, good, _ = _qa(i)
        weak = _WEAK[rng.integers(len(_WEAK))]
        prefix = f"\n\nHuman: {q}\n\nAssistant:"
        if i % 3 == 2:  # multi-turn: the shared prefix holds an earlier exchange
            k = int(rng.integers(len(_FOLLOWUPS)))
            prefix += f" {good}\n\nHuman: {_FOLLOWUPS[k]}\n\nAssistant:"
            good = _FOLLOWUP_ANSWERS[k]
        out.append({"chosen": f"{prefix} {good}", "rejected": f"{prefix} {weak}"})
    return out


def _uf_records(rng: np.random.Generator) -> list[dict]:
    out = []
    for i in range(N):
        q, good, _ = _qa(i)
        weak = _WEAK[rng.integers(len(_WEAK))]
        s_good = float(rng.choice([7.5, 8.0, 8.5, 9.0, 10.0]))
        s_weak = float(rng.choice([2.0, 3.0, 4.5, 5.0, 6.0]))
        chosen = [{"content": q, "role": "user"}, {"content": good, "role": "assistant"}]
        rejected = [{"content": q, "role": "user"}, {"content": weak, "role": "assistant"}]
        out.append({
            "prompt": q, "prompt_id": hashlib.sha256(q.encode()).hexdigest(),
            "chosen": chosen, "rejected": rejected, "messages": chosen,
            "score_chosen": s_good, "score_rejected": s_weak,
        })
    return out


def _plain_frame(rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for i in range(N):
        q, good, _ = _qa(i)
        weak = _WEAK[rng.integers(len(_WEAK))]
        good_first = bool(rng.random() < 0.5)
        votes = int(rng.integers(3, 6))
        wins = int(rng.integers(votes // 2 + 1, votes + 1))  # the good answer wins most votes
        share = wins / votes if i % 2 == 0 else 1.0  # soft labels (vote shares) on even rows
        rows.append({"prompt": q, "response_a": good if good_first else weak,
                     "response_b": weak if good_first else good,
                     "label": round(share if good_first else 1.0 - share, 4)})
    return pd.DataFrame(rows)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_samples(root: Path) -> list[Path]:
    """Write the five sample files under ``root/data/prefs``; returns their paths."""
    d = root / "data" / "prefs"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    tldr, hh, uf, plain = _tldr_records(rng), _hh_records(rng), _uf_records(rng), _plain_frame(rng)
    paths = [d / "tldr_sample.jsonl", d / "hh_sample.jsonl", d / "ultrafeedback_sample.jsonl",
             d / "ultrafeedback_sample.parquet", d / "plain.csv", d / "plain.jsonl"]
    _write_jsonl(paths[0], tldr)
    _write_jsonl(paths[1], hh)
    _write_jsonl(paths[2], uf)
    pd.DataFrame(uf).to_parquet(paths[3], index=False)
    plain.to_csv(paths[4], index=False)
    _write_jsonl(paths[5], plain.to_dict(orient="records"))
    return paths


def write_fixtures(root: Path) -> list[Path]:
    """Malformed files for the tests, each with one known bad record (line numbers are 1-based)."""
    d = root / "tests" / "fixtures" / "prefs"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)
    tldr = _tldr_records(rng)[:6]
    hh = _hh_records(rng)[:6]
    uf = _uf_records(rng)[:6]
    plain = _plain_frame(rng).head(6).to_dict(orient="records")
    written = []

    def jl(name: str, recs: list, raw_lines: dict[int, bytes] | None = None) -> None:
        lines = [json.dumps(r, ensure_ascii=False).encode() for r in recs]
        for ln, raw in (raw_lines or {}).items():
            lines[ln - 1] = raw
        (d / name).write_bytes(b"\n".join(lines) + b"\n")
        written.append(d / name)

    t = [dict(r) for r in tldr]
    del t[2]["choice"]  # line 3: missing field
    jl("tldr_missing_choice.jsonl", t)
    t = [json.loads(json.dumps(r)) for r in tldr]
    t[3]["summaries"][1]["text"] = "   "  # line 4: empty text
    jl("tldr_empty_summary.jsonl", t)
    h = [dict(r) for r in hh]
    h[1]["rejected"] = ""  # line 2: empty text
    jl("hh_empty_rejected.jsonl", h)
    u = [dict(r) for r in uf]
    u[3]["score_chosen"] = "high"  # line 4: wrong type
    jl("ultrafeedback_wrong_type.jsonl", u)
    u = [dict(r) for r in uf]
    u[4]["chosen"] = "just a string"  # line 5: wrong type
    jl("ultrafeedback_chosen_not_list.jsonl", u)
    bad_utf8 = json.dumps(plain[4]).encode().replace(b'"prompt": "', b'"prompt": "\xff\xfe', 1)
    jl("plain_bad_utf8.jsonl", plain, {5: bad_utf8})  # line 5: invalid UTF-8
    jl("plain_broken_json.jsonl", plain, {3: json.dumps(plain[2]).encode()[:-9]})  # line 3: truncated
    p = [dict(r) for r in plain]
    p[1]["label"] = "yes"  # line 2: wrong type
    jl("plain_label_string.jsonl", p)
    # CSV: header on line 1; row 3 (line 4) has a label out of range, row 5 (line 6) is missing a field
    df = pd.DataFrame(plain)
    text = df.to_csv(index=False).splitlines()
    text[3] = text[3].rsplit(",", 1)[0] + ",1.7"
    text[5] = text[5].rsplit(",", 1)[0]
    (d / "plain_bad_rows.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    written.append(d / "plain_bad_rows.csv")
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: current directory)")
    args = ap.parse_args(argv)
    for p in write_samples(args.root) + write_fixtures(args.root):
        print(p.relative_to(args.root))


if __name__ == "__main__":
    main()
