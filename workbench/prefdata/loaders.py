"""Load pairwise comparisons from local files in the formats people actually have.

Formats (see ``data/prefs/README.md`` for the schemas and where the full datasets come from):

=============== ======================================================================================
format          one record
=============== ======================================================================================
``tldr``        OpenAI summarize-from-feedback comparisons (``comparisons/batch*.json``, JSON lines):
                ``{"info": {"id", "post", "title", "subreddit", "site", "article"},
                "summaries": [{"text", "policy", "note"}, {...}], "choice": 0|1, "worker", "batch",
                "split", "extra": {"confidence"}}``; ``summaries[choice]`` is preferred. The prompt is
                ``"SUBREDDIT: r/<subreddit>\\nTITLE: <title>\\nPOST: <post>"`` (the post alone when
                there is no title / subreddit; the ``article`` when there is no post, CNN/DM rows).
                Kept: ``worker``, ``batch`` (annotator identity), each summary's ``note``, ``title`` /
                ``subreddit`` / ``site``.
``hh``          Anthropic HH-RLHF (``*/train.jsonl.gz``): ``{"chosen": str, "rejected": str}``, both
                full transcripts ``"\\n\\nHuman: ...\\n\\nAssistant: ..."``; the prompt is the shared
                prefix up to and including its last ``"\\n\\nAssistant:"``, the responses the rest.
``ultrafeedback`` UltraFeedback-binarized (``data/train_prefs-*.parquet``): ``{"prompt": str,
                "prompt_id", "chosen": [{"role", "content"}, ...], "rejected": [...], "messages",
                "score_chosen": float, "score_rejected": float}``; the response is the content of the
                final assistant message; the prompt is ``prompt``, else the user turn's content verbatim
                (multi-turn context rendered). TRL-style HH (``prompt`` + message lists) reads the same way.
``csv``/``jsonl`` the plain schema: ``prompt, response_a, response_b, label`` (label in [0, 1],
                1 = ``response_a`` preferred, soft labels allowed), or ``prompt, chosen, rejected``.
=============== ======================================================================================

For the chosen/rejected formats the preferred response is placed on side ``a`` or ``b`` at random
(``numpy.random.default_rng(side_seed)``, one coin per kept record; column ``swapped`` is True where
``response_a`` is the rejected one, so ``label = 1 - swapped``). ``side_seed=None`` keeps the chosen
response as ``response_a`` (all labels 1). Ties (identical chosen and rejected texts, or equal scores)
get ``label = 0.5`` and ``tie = True``.

Reading: the ``datasets`` library (``load_dataset("json" | "csv" | "parquet", data_files=...)``) reads
large files and every parquet file; small JSON-lines / CSV files (and any JSON file ``datasets`` cannot
parse) are read line by line in Python so a malformed record can be named by file and line. Nothing is
fetched from a hub. A malformed record (missing field, empty text, wrong type, invalid UTF-8, broken JSON
line, bad CSV row) raises `PrefLoadError` naming the file, line (or row, for parquet) and field; with
``on_error="skip"`` it is dropped and counted (``comparisons.skipped``, first reasons in
``comparisons.skip_reasons``). A damaged ``.gz`` (truncated, garbled, not gzip) is named by file and
line; the complete records before the damage are kept under ``on_error="skip"``.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import itertools
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.prefdata.comparisons import Comparisons

FORMATS = ("auto", "tldr", "hh", "ultrafeedback", "csv", "jsonl")
_ASSISTANT = "\n\nAssistant:"
_MAX_REASONS = 20
_DATASETS_MIN_BYTES = 16 * 2**20  # auto engine: files at least this big go through `datasets`


class PrefLoadError(ValueError):
    """A malformed comparison record; ``file``, ``line`` (1-based, or parquet row) and ``field`` name it."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None, unit: str = "line"):
        self.file, self.line, self.field = file, line, field
        where = file or "<data>"
        if line is not None:
            where += f", {unit} {line}"
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")


class _FieldError(Exception):
    def __init__(self, field: str | None, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class _FileDamage(_FieldError):
    """A damaged file (gzip stream): the end of what can be read; always listed in ``skip_reasons``."""

    def __init__(self, message: str):
        super().__init__(None, message)


# ----------------------------------------------------------------------------- record converters
def _get(rec: Mapping[str, Any], path: str) -> Any:
    """Value at a dotted ``path`` (``"info.post"``); missing or null -> _FieldError."""
    cur: Any = rec
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur or cur[part] is None:
            raise _FieldError(path, "missing field")
        cur = cur[part]
    return cur


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _FieldError(field, f"expected a string, got {type(value).__name__} {_short(value)}")
    if not value.strip():
        raise _FieldError(field, "empty text")
    return value


def _short(v: Any, n: int = 40) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def _convert_tldr(rec: Mapping[str, Any]) -> dict[str, Any]:
    info = _get(rec, "info")
    if not isinstance(info, Mapping):
        raise _FieldError("info", f"expected an object, got {type(info).__name__}")
    post = info.get("post") if info.get("post") is not None else info.get("article")
    if post is None:
        raise _FieldError("info.post", "missing field (and no info.article)")
    post = _text(post, "info.post")
    title, sub = info.get("title"), info.get("subreddit")
    if isinstance(title, str) and title.strip() and isinstance(sub, str) and sub.strip():
        prompt = f"SUBREDDIT: r/{sub}\nTITLE: {title}\nPOST: {post}"
    else:
        prompt = post
    summaries = _get(rec, "summaries")
    if not isinstance(summaries, Sequence) or isinstance(summaries, str) or len(summaries) != 2:
        raise _FieldError("summaries", f"expected a list of 2 summaries, got {_short(summaries)}")
    texts = []
    for k, s in enumerate(summaries):
        if not isinstance(s, Mapping):
            raise _FieldError(f"summaries[{k}]", f"expected an object, got {type(s).__name__}")
        if s.get("text") is None:
            raise _FieldError(f"summaries[{k}].text", "missing field")
        texts.append(_text(s["text"], f"summaries[{k}].text"))
    choice = _get(rec, "choice")
    if isinstance(choice, bool) or not isinstance(choice, (int, np.integer)) or int(choice) not in (0, 1):
        raise _FieldError("choice", f"expected 0 or 1 (integer), got {_short(choice)}")
    c = int(choice)
    pol = [s.get("policy") for s in summaries]
    note = [s.get("note") for s in summaries]
    extra = rec.get("extra") if isinstance(rec.get("extra"), Mapping) else {}
    return {
        "prompt": prompt, "chosen": texts[c], "rejected": texts[1 - c],
        "id": info.get("id"), "policy_chosen": pol[c], "policy_rejected": pol[1 - c],
        "note_chosen": note[c], "note_rejected": note[1 - c],
        "confidence": extra.get("confidence"), "orig_split": rec.get("split"),
        "worker": rec.get("worker"), "batch": rec.get("batch"),
        "title": info.get("title"), "subreddit": info.get("subreddit"), "site": info.get("site"),
    }


def _split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    n = 0
    for x, y in zip(chosen, rejected):
        if x != y:
            break
        n += 1
    cut = chosen.rfind(_ASSISTANT, 0, n)
    if cut < 0:
        raise _FieldError("chosen", "chosen and rejected share no prefix ending in '\\n\\nAssistant:'")
    end = cut + len(_ASSISTANT)
    return chosen[:end], chosen[end:], rejected[end:]


def _convert_hh(rec: Mapping[str, Any]) -> dict[str, Any]:
    chosen = _text(_get(rec, "chosen"), "chosen")
    rejected = _text(_get(rec, "rejected"), "rejected")
    if _ASSISTANT not in chosen:
        raise _FieldError("chosen", "no '\\n\\nAssistant:' turn in the transcript")
    prompt, a, b = _split_hh(chosen, rejected)
    return {"prompt": _text(prompt, "chosen"), "chosen": _text(a, "chosen"), "rejected": _text(b, "rejected")}


def _final_assistant(msgs: Any, field: str) -> tuple[str, list[Mapping[str, Any]]]:
    if not isinstance(msgs, Sequence) or isinstance(msgs, str) or len(msgs) == 0:
        raise _FieldError(field, f"expected a non-empty list of messages, got {_short(msgs)}")
    for k, m in enumerate(msgs):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or "content" not in m:
            raise _FieldError(f"{field}[{k}]", f"expected {{'role': str, 'content': str}}, got {_short(m)}")
    last = msgs[-1]
    if last["role"] != "assistant":
        raise _FieldError(f"{field}[{len(msgs) - 1}].role", f"last message must be 'assistant', got {last['role']!r}")
    return _text(last["content"], f"{field}[{len(msgs) - 1}].content"), list(msgs[:-1])


def _render(msgs: Sequence[Mapping[str, Any]]) -> str:
    return "".join(f"\n\n{m['role'].capitalize()}: {m['content']}" for m in msgs).strip()


def _convert_ultrafeedback(rec: Mapping[str, Any]) -> dict[str, Any]:
    a, ctx_a = _final_assistant(_get(rec, "chosen"), "chosen")
    b, _ = _final_assistant(_get(rec, "rejected"), "rejected")
    if len(ctx_a) > 1:  # multi-turn: keep the whole context as the prompt
        prompt = _text(_render(ctx_a), "chosen")
    elif rec.get("prompt") is not None:
        prompt = _text(rec["prompt"], "prompt")
    elif ctx_a:  # one user turn: the prompt is its content, as in the files that have a `prompt` field
        prompt = _text(ctx_a[0]["content"], "chosen[0].content")
    else:
        raise _FieldError("prompt", "missing field (and no context messages before the response)")
    out: dict[str, Any] = {"prompt": prompt, "chosen": a, "rejected": b}
    for key in ("score_chosen", "score_rejected"):
        if rec.get(key) is not None:
            v = rec[key]
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                raise _FieldError(key, f"expected a number, got {type(v).__name__} {_short(v)}")
            out[key] = float(v)
    if rec.get("prompt_id") is not None:
        out["id"] = rec["prompt_id"]
    return out


def _label_value(v: Any, from_text: bool) -> float:
    if from_text and isinstance(v, str) and not v.strip():
        raise _FieldError("label", "missing field (empty)")
    if from_text and isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise _FieldError("label", f"expected a number in [0, 1], got {_short(v)}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
        raise _FieldError("label", f"expected a number in [0, 1], got {type(v).__name__} {_short(v)}")
    v = float(v)
    if not (0.0 <= v <= 1.0):
        raise _FieldError("label", f"expected a number in [0, 1], got {v}")
    return v


def _make_plain(columns: Mapping[str, str] | None, from_text: bool) -> Callable[[Mapping[str, Any]], dict]:
    names = {"prompt": "prompt", "response_a": "response_a", "response_b": "response_b", "label": "label",
             "chosen": "chosen", "rejected": "rejected", **(columns or {})}

    def convert(rec: Mapping[str, Any]) -> dict[str, Any]:
        def get(key: str) -> Any:
            col = names[key]
            if col not in rec or rec[col] is None:
                raise _FieldError(col, "missing field")
            return rec[col]

        prompt = _text(get("prompt"), names["prompt"])
        if names["response_a"] in rec or names["chosen"] not in rec:
            return {"prompt": prompt, "response_a": _text(get("response_a"), names["response_a"]),
                    "response_b": _text(get("response_b"), names["response_b"]),
                    "label": _label_value(get("label"), from_text)}
        return {"prompt": prompt, "chosen": _text(get("chosen"), names["chosen"]),
                "rejected": _text(get("rejected"), names["rejected"])}

    return convert


# ----------------------------------------------------------------------------- file readers
def _open_bytes(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


_GZ_CHUNK = 1024  # compressed bytes fed to zlib at a time: a damaged block loses little of what precedes it


def _gz_lines(path: str) -> Iterator[bytes]:
    """Lines of a gzip file (every member), decompressed incrementally so that every complete line before
    a damaged or truncated spot is delivered; the damage itself raises `_FieldError` (after those lines)."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    buf, fed, in_member = b"", False, False  # fed: any byte read; in_member: a member begun, not ended
    with open(path, "rb") as f:
        while chunk := f.read(_GZ_CHUNK):
            while chunk:
                if not in_member and fed and not chunk.strip(b"\0"):  # zero padding after a member
                    break
                try:
                    buf += d.decompress(chunk)
                except zlib.error as e:
                    what = "damaged gzip data" if fed else "not a gzip file"
                    raise _FileDamage(f"{what} ({e})") from None
                fed, in_member, chunk = True, True, b""
                if d.eof:  # end of a member: the next one (if any) starts in unused_data
                    chunk, in_member = d.unused_data, False
                    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            *lines, buf = buf.split(b"\n")
            for line in lines:
                yield line + b"\n"
    if not fed:
        raise _FileDamage("empty file (not a gzip stream)")
    if in_member:
        raise _FileDamage("truncated gzip file (the data ends before the end-of-stream marker)")
    if buf:
        yield buf


def _raw_lines(path: str) -> Iterator[tuple[int, bytes | _FieldError]]:
    """``(line number, raw line)`` of a text file (gzip or not); a damaged ``.gz`` ends with one
    ``(line, _FieldError)`` item after the last complete line read before the damage."""
    lineno = 0
    if not path.endswith(".gz"):
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, start=1):
                yield lineno, raw
        return
    try:
        for raw in _gz_lines(path):
            lineno += 1
            yield lineno, raw
    except _FieldError as e:
        yield lineno + 1, e


def _kind(path: str) -> str:
    p = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(p)[1].lower()
    if ext in (".json", ".jsonl", ".ndjson"):
        return "json"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext == ".parquet":
        return "parquet"
    raise PrefLoadError(f"unknown file type {ext!r} (expected .json, .jsonl, .csv, .parquet, optionally .gz)",
                        file=path)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _FieldError(None, f"invalid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})") from None


Item = tuple[int, "Mapping[str, Any] | _FieldError"]  # (line or row, record or the error reading it)


def _iter_json_python(path: str) -> Iterator[Item]:
    """JSON lines, line by line (or a JSON array / single object read whole)."""
    lines = _raw_lines(path)
    peek: list[tuple[int, bytes | _FieldError]] = []
    for item in lines:
        peek.append(item)
        if isinstance(item[1], _FieldError) or item[1].strip():
            break
    first = peek[-1][1] if peek else b""
    if isinstance(first, bytes) and first.lstrip()[:1] == b"[":
        raw = []
        for lineno, line in itertools.chain(peek, lines):
            if isinstance(line, _FieldError):
                yield lineno, line
                return
            raw.append(line)
        try:
            data = json.loads(_decode(b"".join(raw)))
        except _FieldError as e:
            yield 1, e
            return
        except json.JSONDecodeError as e:
            yield e.lineno, _FieldError(None, f"invalid JSON: {e.msg} (column {e.colno})")
            return
        for i, rec in enumerate(data):
            yield i + 1, rec if isinstance(rec, Mapping) else _FieldError(None, f"record {i} is not an object")
        return
    for lineno, raw in itertools.chain(peek, lines):
        if isinstance(raw, _FieldError):
            yield lineno, raw
            return
        if not raw.strip():
            continue
        try:
            text = _decode(raw)
            rec = json.loads(text.rstrip("\r\n"))
        except _FieldError as e:
            yield lineno, e
            continue
        except json.JSONDecodeError as e:
            yield lineno, _FieldError(None, f"invalid JSON: {e.msg} (column {e.colno})")
            continue
        yield lineno, rec if isinstance(rec, Mapping) else _FieldError(
            None, f"expected a JSON object, got {type(rec).__name__}")


def _decoded_lines(path: str, bad: dict[int, _FieldError]) -> Iterator[str]:
    for lineno, raw in _raw_lines(path):
        if isinstance(raw, _FieldError):  # a damaged .gz: an empty line stands for the damage, then the end
            bad[lineno] = raw
            yield "\n"
            return
        try:
            yield _decode(raw)
        except _FieldError as e:
            bad[lineno] = e
            yield "\n"


def _iter_csv_python(path: str) -> Iterator[Item]:
    bad: dict[int, _FieldError] = {}
    delim = "\t" if path.removesuffix(".gz").endswith(".tsv") else ","
    reader = csv.reader(_decoded_lines(path, bad), delimiter=delim)
    header: list[str] | None = None
    start = 1
    for row in reader:
        end = reader.line_num
        broken = [ln for ln in range(start, end + 1) if ln in bad]
        if broken:
            for ln in broken:
                yield ln, bad.pop(ln)
            start = end + 1
            continue
        if header is None:
            header = row
            start = end + 1
            continue
        if not row or all(not c.strip() for c in row):
            start = end + 1
            continue
        if len(row) != len(header):
            yield start, _FieldError(None, f"expected {len(header)} fields ({', '.join(header)}), got {len(row)}")
        else:
            yield start, dict(zip(header, row))
        start = end + 1
    if header is None:
        yield 1, _FieldError(None, "empty CSV file (no header)")


class _LineIndex:
    """Maps a `datasets` row index of a file back to its line (computed lazily, on the first error)."""

    def __init__(self, path: str, kind: str):
        self.path, self.kind, self._lines = path, kind, None

    def __call__(self, row: int) -> tuple[int, str]:
        if self.kind == "parquet":
            return row, "row"
        if self._lines is None:
            it = _iter_json_python(self.path) if self.kind == "json" else _iter_csv_python(self.path)
            self._lines = [ln for ln, _ in it]
        return (self._lines[row] if row < len(self._lines) else row + 1), "line"


def _load_datasets(path: str, kind: str, cache_dir: str | None, progress: bool) -> Any:
    """One local file through ``datasets.load_dataset`` (eager, so a parse error is raised here)."""
    import datasets

    kwargs: dict[str, Any] = {}
    if kind == "csv":
        with _open_bytes(path) as f:
            header = next(csv.reader(io.TextIOWrapper(f, encoding="utf-8", errors="replace")), [])
        kwargs = dict(features=datasets.Features({c: datasets.Value("string") for c in header}),
                      keep_default_na=False, na_filter=False)
        if path.removesuffix(".gz").endswith(".tsv"):
            kwargs["sep"] = "\t"
    enabled = datasets.is_progress_bar_enabled()
    if not progress and enabled:
        datasets.disable_progress_bars()
    try:
        ds = datasets.load_dataset(kind, data_files=[path], split="train", cache_dir=cache_dir, **kwargs)
    finally:
        if not progress and enabled:
            datasets.enable_progress_bars()
    return ds


def _iter_rows(ds: Any, batch_size: int = 1024) -> Iterator[Item]:
    """Rows of a ``datasets.Dataset`` in batches; a row whose text is not valid UTF-8 becomes an error item."""
    n = len(ds)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        try:
            batch = ds[start:stop]  # dict of columns
            recs: list[Any] = [dict(zip(batch, vals)) for vals in zip(*batch.values())]
        except UnicodeDecodeError:
            recs = []
            for i in range(start, stop):
                try:
                    recs.append(ds[i])
                except UnicodeDecodeError as e:
                    recs.append(_FieldError(None, f"invalid UTF-8 ({e.reason}, byte 0x{e.object[e.start]:02x})"))
        yield from enumerate(recs, start=start)


# ----------------------------------------------------------------------------- public API
def _resolve_files(path: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    items = [path] if isinstance(path, (str, os.PathLike)) else list(path)
    files: list[str] = []
    for item in items:
        s = os.fspath(item)
        if os.path.isdir(s):
            found = sorted(
                str(p) for p in Path(s).rglob("*")
                if p.is_file() and any(p.name.endswith(e) for e in (".json", ".jsonl", ".ndjson", ".csv", ".tsv",
                                                                    ".parquet", ".json.gz", ".jsonl.gz", ".csv.gz"))
            )
        elif any(ch in s for ch in "*?["):
            found = sorted(glob.glob(s, recursive=True))
        else:
            found = [s] if os.path.exists(s) else []
        if not found:
            raise FileNotFoundError(f"load_comparisons: no file matches {s!r}")
        files += found
    return files


def _detect_format(rec: Mapping[str, Any], file: str) -> str:
    keys = set(rec)
    if {"summaries", "choice"} <= keys:
        return "tldr"
    if {"chosen", "rejected"} <= keys:
        ch = rec["chosen"]
        if isinstance(ch, (list, tuple)) or (hasattr(ch, "__len__") and not isinstance(ch, str)):
            return "ultrafeedback"
        if "prompt" in keys:
            return "plain"
        return "hh"
    if {"prompt", "response_a", "response_b", "label"} <= keys:
        return "plain"
    raise PrefLoadError(f"cannot detect the format from the fields {sorted(keys)}; pass format=", file=file)


def _check_options(format: str, on_error: str, engine: str, limit: int | None) -> str:
    """Validate the options of `load_comparisons`; returns the format (``"plain"`` -> ``"jsonl"``)."""
    if format == "plain":
        format = "jsonl"
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    if engine not in ("auto", "datasets", "python"):
        raise ValueError(f"engine must be 'auto', 'datasets' or 'python', got {engine!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return format


class _Skips:
    """``on_error`` policy: raise the first bad record, or count it and keep the first reasons."""

    def __init__(self, on_error: str):
        self.on_error, self.count, self.reasons = on_error, 0, []

    def __call__(self, err: PrefLoadError, always: bool = False) -> None:
        if self.on_error == "raise":
            raise err
        self.count += 1
        if always or len(self.reasons) < _MAX_REASONS:
            self.reasons.append(str(err))


def _file_items(file: str, kind: str, engine: str, cache_dir: str | None, progress: bool
                ) -> tuple[Iterable[Item], _LineIndex | None]:
    """Records of one file and the map from their position to a line: ``datasets`` for parquet and large
    files (or ``engine="datasets"``), else line by line; a text file ``datasets`` cannot parse is re-read
    line by line so the bad line can be named."""
    use_ds = kind == "parquet" or engine == "datasets" or (engine == "auto" and os.path.getsize(file) >= _DATASETS_MIN_BYTES)
    if use_ds:
        try:
            return _iter_rows(_load_datasets(file, kind, cache_dir, progress)), _LineIndex(file, kind)
        except Exception as e:  # noqa: BLE001 - datasets/pyarrow raise many types
            if kind == "parquet":
                raise PrefLoadError(f"could not read parquet file: {type(e).__name__}: {e}", file=file) from e
    return (_iter_json_python(file) if kind == "json" else _iter_csv_python(file)), None


def _converter(rec: Mapping[str, Any], format: str, columns: Mapping[str, str] | None, kind: str, file: str
               ) -> tuple[str, Callable[[Mapping[str, Any]], dict[str, Any]]]:
    """``(format name, record converter)`` for a file, the format detected from its first record if ``"auto"``."""
    f = _detect_format(rec, file) if format == "auto" else format
    convert = {"tldr": _convert_tldr, "hh": _convert_hh, "ultrafeedback": _convert_ultrafeedback}.get(f)
    return ("plain" if f in ("csv", "jsonl") else f), convert or _make_plain(columns, from_text=kind == "csv")


def _read_file(file: str, rows: list[dict[str, Any]], skips: _Skips, *, format: str, columns, engine: str,
               cache_dir: str | None, progress: bool, limit: int | None) -> str | None:
    """Append the converted records of ``file`` to ``rows`` (up to ``limit`` in all); returns its format
    (None when no record could be read)."""
    kind = _kind(file)
    items, locate = _file_items(file, kind, engine, cache_dir, progress)
    fmt, convert = None, None
    for pos, rec in items:
        line, unit = locate(pos) if locate is not None else (pos, "line")
        if isinstance(rec, _FieldError):
            skips(PrefLoadError(rec.message, file=file, line=line, field=rec.field, unit=unit),
                  always=isinstance(rec, _FileDamage))
            continue
        if convert is None:
            fmt, convert = _converter(rec, format, columns, kind, file)
        try:
            row = convert(rec)
        except _FieldError as e:
            skips(PrefLoadError(e.message, file=file, line=line, field=e.field, unit=unit))
            continue
        row["source"] = os.path.basename(file)
        row[unit] = line
        rows.append(row)
        if limit is not None and len(rows) >= limit:
            break
    return fmt


def _place_sides(df: pd.DataFrame, side_seed: int | None) -> pd.DataFrame:
    """Chosen/rejected rows -> ``response_a``, ``response_b``, ``label``: the chosen response goes to side b
    where a coin from ``default_rng(side_seed)`` (one per row) says ``swapped``; ``policy_*`` / ``score_*`` /
    ``note_*`` columns follow their response. A tie (identical texts, as in some HH records, or equal
    ``score_chosen`` / ``score_rejected``, as in UltraFeedback) gets ``label = 0.5`` and ``tie = True``: the
    record states no preference, so neither side is labelled the winner. Rows already in the plain a/b
    schema are kept as they are."""
    if "chosen" not in df.columns:
        return df
    chosen_rows = df["chosen"].notna().to_numpy()
    if side_seed is None:
        swapped = np.zeros(len(df), dtype=bool)
    else:
        swapped = np.random.default_rng(side_seed).random(len(df)) < 0.5
    swapped &= chosen_rows
    ch, rj = df["chosen"].to_numpy(dtype=object), df["rejected"].to_numpy(dtype=object)
    if "response_a" not in df.columns:
        df["response_a"] = None
        df["response_b"] = None
        df["label"] = np.nan
    df.loc[chosen_rows, "response_a"] = np.where(swapped, rj, ch)[chosen_rows]
    df.loc[chosen_rows, "response_b"] = np.where(swapped, ch, rj)[chosen_rows]
    tie = chosen_rows & (ch == rj)
    if "score_chosen" in df.columns and "score_rejected" in df.columns:
        tie |= chosen_rows & (df["score_chosen"] == df["score_rejected"]).to_numpy()
    df.loc[chosen_rows, "label"] = np.where(tie, 0.5, np.where(swapped, 0.0, 1.0))[chosen_rows]
    df["swapped"] = swapped
    df["tie"] = tie
    for base in ("policy", "score", "note"):
        c, r = f"{base}_chosen", f"{base}_rejected"
        if c in df.columns and r in df.columns:
            df[f"{base}_a"] = np.where(swapped, df[r], df[c])
            df[f"{base}_b"] = np.where(swapped, df[c], df[r])
            df = df.drop(columns=[c, r])
    return df.drop(columns=["chosen", "rejected"])


def load_comparisons(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    format: str = "auto",
    *,
    on_error: str = "raise",
    limit: int | None = None,
    side_seed: int | None = 0,
    columns: Mapping[str, str] | None = None,
    engine: str = "auto",
    cache_dir: str | None = None,
    progress: bool = False,
) -> Comparisons:
    """Read comparisons from local files (see the module docstring for the formats).

    Args:
        path: a file, a directory (all data files under it), a glob (``"comparisons/batch*.json"``)
            or a list of those. ``.gz`` files are read as gzip.
        format: ``"auto"`` (from the first record's fields), ``"tldr"``, ``"hh"``, ``"ultrafeedback"``,
            ``"csv"`` or ``"jsonl"`` (the plain schema in either file type).
        on_error: ``"raise"`` -> `PrefLoadError` naming file, line and field of the first bad record;
            ``"skip"`` -> drop bad records and report them in ``.skipped`` / ``.skip_reasons``.
        limit: keep at most this many records (the first ones, reading stops early).
        side_seed: seed of the coin that puts the chosen response on side a or b; None keeps it on a.
        columns: for the plain schema, the names of your columns, e.g. ``{"prompt": "question"}``.
        engine: ``"datasets"`` (the ``datasets`` library), ``"python"`` (line by line; JSON lines and
            CSV only) or ``"auto"`` (``datasets`` for parquet and files >= 16 MiB, else python; a JSON
            file ``datasets`` cannot parse is re-read line by line to name the bad line).
        cache_dir: ``datasets`` cache directory (default: its usual one).
        progress: show ``datasets`` progress bars.
    """
    format = _check_options(format, on_error, engine, limit)
    files = _resolve_files(path)
    rows: list[dict[str, Any]] = []
    skips = _Skips(on_error)
    formats: dict[str, str] = {}
    for file in files:
        if limit is not None and len(rows) >= limit:
            break
        fmt = _read_file(file, rows, skips, format=format, columns=columns, engine=engine, cache_dir=cache_dir,
                         progress=progress, limit=limit)
        if fmt is not None:
            formats[file] = fmt
    if not rows:
        msg = f"load_comparisons: no valid record in {files}"
        if skips.reasons:
            msg += f"; first problem: {skips.reasons[0]}"
        raise PrefLoadError(msg)
    df = _place_sides(pd.DataFrame(rows), side_seed).dropna(axis=1, how="all")
    fmt_used = next(iter(set(formats.values()))) if len(set(formats.values())) == 1 else "mixed"
    info = {"format": fmt_used, "formats": formats, "files": files, "side_seed": side_seed,
            "on_error": on_error, "limit": limit}
    return Comparisons.from_frame(df, source=fmt_used, skipped=skips.count, skip_reasons=skips.reasons, info=info)
