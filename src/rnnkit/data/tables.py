"""Readers for text with labels: CSV, TSV, JSON lines, and CoNLL-style token
columns.  Every error names the file (and line) and says how to fix it.

    .csv / .tsv       a header row naming the columns, then one example a row
                      (standard quoting, TSV too: quoted fields may hold the
                      delimiter and line breaks)
    .jsonl / .ndjson  one JSON object a line
    .conll            ``token<whitespace>tag`` a line, a blank line between sentences
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re

TABLE_EXTS = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")


def check_encoding(encoding):
    """``encoding`` if Python knows the codec, else a one-line ValueError."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"unknown text encoding {encoding!r}; pass a codec name such as utf-8 or "
                         "latin-1") from None
    return encoding


def read_text(path, encoding="utf-8"):
    """The whole file as text; refuses missing, empty, binary and mis-encoded files.
    A byte-order mark is dropped; UTF-16 and UTF-32 files need their ``encoding``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file; check the path")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw.strip():
        raise ValueError(f"{path} is empty; pass a file with data")
    wide = codecs.lookup(check_encoding(encoding)).name.startswith(("utf-16", "utf-32"))
    if not wide and b"\x00" in raw[:65536]:
        if raw[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            raise ValueError(f"{path} is UTF-16 text (it starts with a UTF-16 byte-order mark); pass "
                             "--encoding utf-16 or re-save it as UTF-8")
        raise ValueError(f"{path} looks binary (it holds NUL bytes); pass a text file "
                         "(CSV, TSV, JSON lines, .ts)")
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not valid {encoding} (byte {exc.start}); re-save it as UTF-8 "
                         "or pass --encoding") from None
    if wide and "\x00" in text[:65536]:
        raise ValueError(f"{path} looks binary (NUL characters after decoding it as {encoding}); pass a "
                         "text file, or the --encoding it was saved in")
    return text[1:] if text.startswith("\ufeff") else text


def lines(text):
    """``text`` split at its line breaks: ``\\n``, ``\\r\\n`` or a lone ``\\r``, and no
    others (``str.splitlines`` also breaks at U+2028 and friends, which JSON
    strings and tokens may hold)."""
    return re.split(r"\r\n|\r|\n", text)


def _swallowed_row(field, delimiter):
    """Whether a TSV field holds both a line break and a tab: rows an unclosed
    quote has joined (quoted multi-line text rarely holds a tab; CSV text often
    holds commas, so CSV is not judged)."""
    return delimiter == "\t" and "\n" in field and "\t" in field


def read_records(path, columns, encoding="utf-8"):
    """Rows of a CSV/TSV/JSON-lines file as dicts holding at least ``columns``."""
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in TABLE_EXTS:
        raise ValueError(f"{path}: unknown table format {ext!r}; use .csv, .tsv or .jsonl")
    text = read_text(path, encoding)
    rows = []
    if ext in (".csv", ".tsv"):
        rows = _csv_rows(path, text, columns, "," if ext == ".csv" else "\t")
    else:
        for no, line in enumerate(lines(text), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} line {no}: not valid JSON ({exc.msg}); write one JSON object "
                                 "a line") from None
            if not isinstance(obj, dict) or any(c not in obj for c in columns):
                raise ValueError(f"{path} line {no}: needs an object with keys {', '.join(columns)}")
            rows.append(obj)
    if not rows:
        raise ValueError(f"{path} holds no examples; add rows after the header")
    return rows


def column_texts(path, rows, col):
    """The ``col`` values of ``rows`` (from :func:`read_records`) as strings: text
    as it is, JSON numbers and booleans written out; JSON ``null``, lists and
    objects refused, naming the example."""
    out = []
    for no, r in enumerate(rows, 1):
        v = r[col]
        if v is None or isinstance(v, (list, dict)):
            what = "null" if v is None else f"a JSON {'list' if isinstance(v, list) else 'object'}"
            raise ValueError(f"{path} example {no}: {col!r} is {what}; give every example a {col} string")
        out.append(v if isinstance(v, str) else str(v))
    return out


def _csv_rows(path, text, columns, delimiter):
    """The rows of a CSV/TSV ``text`` (standard quoting for TSV too: pandas and R
    quote fields holding tabs, quotes or newlines); any line break convention,
    fields of any length; lines of blanks at the end are no rows (any other row
    is one, so that predictions line up with the file's rows)."""
    tail = re.search(r"(?:(?:\r\n|\r|\n)[ \t]*)+\Z", text)     # trailing lines of blanks: not rows
    if tail:
        text = text[:tail.start()] + "\n"
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text) + 1))       # one field may be the whole file; restored below
    rows, start = [], 1
    try:
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the header row {reader.fieldnames} lacks column(s) {missing}; "
                             f"add a header naming {', '.join(columns)} (or pick columns with the --*-col options)")
        start = reader.line_num + 1
        for row in reader:
            no, start = start, reader.line_num + 1          # the row's first line; the next row's
            values = [v for v in row.values() if isinstance(v, str)]
            if any(_swallowed_row(v, delimiter) for v in values):
                raise ValueError(f"{path} line {no}: a quoted field runs over a line break into what looks like "
                                 "another row (an unclosed quote?); close or remove the quote")
            if any(row.get(c) is None for c in columns):
                quote = " (a quote opened there is not closed?)" if any("\n" in v for v in values) else ""
                raise ValueError(f"{path} line {no}: too few fields{quote}; every row needs {', '.join(columns)}")
            if any(v.strip() for v in row.get(None) or ()):             # DictReader puts extra fields under None
                raise ValueError(f"{path} line {no}: more fields than the header names; quote fields that "
                                 "hold the delimiter, or fix the row (an unclosed quote joins rows)")
            rows.append(row)
    except csv.Error as exc:
        raise ValueError(f"{path} line {start}: not readable as {'CSV' if delimiter == ',' else 'TSV'} ({exc}); "
                         "fix the row or quote its fields") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def read_conll(path, encoding="utf-8"):
    """Sentences of a ``token tag`` column file: ``(tokens, tags)`` lists."""
    text = read_text(path, encoding)
    sents, toks, tags = [], [], []
    for no, line in enumerate(lines(text), 1):
        parts = re.split(r"[ \t]+", line.strip(" \t")) if line.strip(" \t") else []   # tokens may hold other spaces
        if not parts:
            if toks:
                sents.append((toks, tags))
                toks, tags = [], []
            continue
        if len(parts) < 2:
            raise ValueError(f"{path} line {no}: expected 'token tag'; separate sentences by blank lines")
        toks.append(parts[0])
        tags.append(parts[-1])
    if toks:
        sents.append((toks, tags))
    return sents


def read_tagged(path, tokens_col="tokens", tags_col="tags", encoding="utf-8"):
    """Tagged sentences from ``.conll`` or JSON lines (``{"tokens": [...], "tags": [...]}``);
    tags may be absent at prediction time (then each tag list is ``None``)."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == ".conll":
        return read_conll(path, encoding)
    if ext not in (".jsonl", ".ndjson", ".json"):
        raise ValueError(f"{path}: unknown tagging format {ext!r}; use .conll or .jsonl")
    rows = read_records(path, [tokens_col], encoding)
    out = []
    for no, r in enumerate(rows, 1):
        toks, tags = r[tokens_col], r.get(tags_col)
        if not isinstance(toks, list) or not toks:
            raise ValueError(f"{path} example {no}: '{tokens_col}' must be a non-empty list of strings")
        if tags is not None and (not isinstance(tags, list) or len(tags) != len(toks)):
            raise ValueError(f"{path} example {no}: '{tags_col}' must list one tag per token")
        out.append(([str(t) for t in toks], None if tags is None else [str(t) for t in tags]))
    return out
