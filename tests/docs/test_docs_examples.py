"""Docs that cannot rot (issue 20): every code example in README.md and docs/*.md runs here.

How the examples are found and run
----------------------------------
* **Python** — every fenced block opened with ```python is one test, id ``FILE:LINE`` (the
  line of the block's first code line).  The blocks of one file run **in order in one
  namespace**, as a reader types them into one session: a later block may use names an
  earlier block of the same file defined.  Each file gets its own fresh namespace and its own
  temporary working directory (files a block writes, ``runs/lm`` say, land there).  Running one
  block's test alone (``-k``) runs the file's earlier blocks first; when an earlier block
  failed, the later ones fail naming it.  Data comes from the block itself (a few lines of
  NumPy, text the packages ship) — nothing is downloaded.
* **Command lines** — in every other fenced block (```bash, ```sh, ```console or no
  language), each line that starts with ``rnnkit `` (joined with its ``\\`` continuation
  lines; ``&&`` chains split; trailing ``# comments`` dropped) is an example:
    - a **synopsis** (it shows ``[--option ...]``, ``...``, ``|`` alternatives or an
      upper-case placeholder such as ``RUN_DIR``, ``FILE``, ``RUN``, ``OUT``) is not run;
      instead every ``--option`` it names must exist in that sub-command's parser
      (``rnnkit.cli.build_parser``);
    - every other line is **run in-process** through ``rnnkit.cli.main``, the lines of one
      file in order in one temporary working directory, and must exit 0.  The input files
      the examples name are made first by :data:`INPUTS` (small synthetic CSV/text files).
  All command lines of a file are one test, id ``FILE:cli``.
* **Smaller sizes** — where a doc must show a realistic size, an HTML comment on the line(s)
  just before the block, ``<!-- test: OLD => NEW; OLD2 => NEW2 -->``, is a textual
  replacement map the test applies to the block before running it (each ``OLD`` must occur in
  the block, so a stale map fails too).  Readers of the rendered page do not see it.
* Lines the tests must not run (``pip install``, ``python benchmarks/...``) are simply not
  ``rnnkit`` lines; the README's main job (``rnnkit lm train --minutes 10 ...``) is only
  parsed (:data:`PARSE_ONLY`), its ``lm sample`` runs on a tiny run made in its place.
"""
import contextlib
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")          # plots the examples make go to files
ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

FENCE = re.compile(r"^\s*```(\S*)\s*$")
SUBST = re.compile(r"^\s*<!--\s*test:(.*?)-->\s*$")


def _rel(path):
    return path.relative_to(ROOT).as_posix()


def extract_blocks(path):
    """``[(lang, first_code_line (1-based), code, replacements)]`` of the fenced blocks in ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang = m.group(1).lower()
        j = i + 1
        while j < len(lines) and not FENCE.match(lines[j]):
            j += 1
        repl = {}
        k = i - 1
        while k >= 0 and SUBST.match(lines[k]):       # <!-- test: ... --> lines just above
            for pair in SUBST.match(lines[k]).group(1).split(";"):
                if pair.strip():
                    old, new = pair.split("=>")
                    repl[old.strip()] = new.strip()
            k -= 1
        blocks.append((lang, i + 2, "\n".join(lines[i + 1:j]) + "\n", repl))
        i = j + 1
    return blocks


def apply_replacements(code, repl, where):
    for old, new in repl.items():
        assert old in code, f"{where}: the <!-- test: --> map names {old!r}, which the block lacks"
        code = code.replace(old, new)
    return code


@contextlib.contextmanager
def _cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


# --------------------------------------------------------------------------------- Python blocks

PY_BLOCKS = [(p, line, code, repl) for p in DOC_FILES
             for lang, line, code, repl in extract_blocks(p) if lang in ("python", "py")]


class _FileSession:
    """The Python blocks of one doc, run in order in one namespace and one working directory."""

    def __init__(self, path, workdir):
        self.blocks = [(line, code, repl) for p, line, code, repl in PY_BLOCKS if p == path]
        self.path, self.workdir = path, workdir
        self.namespace = {"__name__": "__docs__"}
        self.done = {}                                  # line -> None (passed) or the error

    def run_through(self, line):
        for ln, code, repl in self.blocks:
            if ln not in self.done:
                where = f"{_rel(self.path)}:{ln}"
                try:
                    src = apply_replacements(code, repl, where)
                    with _cwd(self.workdir):
                        exec(compile(src, where, "exec"), self.namespace)
                    self.done[ln] = None
                except BaseException as exc:            # noqa: BLE001 - reported by the block's own test
                    self.done[ln] = exc
            if ln == line:
                return self.done[ln]
            if self.done[ln] is not None:
                return AssertionError(f"an earlier block of this file failed: {_rel(self.path)}:{ln}")


_SESSIONS = {}


@pytest.mark.parametrize("path,line", [(p, line) for p, line, _, _ in PY_BLOCKS],
                         ids=[f"{_rel(p)}:{line}" for p, line, _, _ in PY_BLOCKS])
def test_python_block(path, line, tmp_path_factory):
    if path not in _SESSIONS:
        _SESSIONS[path] = _FileSession(path, tmp_path_factory.mktemp(path.stem))
    err = _SESSIONS[path].run_through(line)
    if err is not None:
        raise err


# --------------------------------------------------------------------------------- command lines

SHELL_LANGS = ("", "bash", "sh", "shell", "console", "text")
PLACEHOLDER = re.compile(r"(?<![\w-])[A-Z][A-Z0-9_]+(?![\w-])")
PARSE_ONLY = {"rnnkit lm train --minutes 10 --out runs/stdlib-lm"}   # the README's 10-minute main job


def extract_commands(path):
    """``[(line, command)]``: the ``rnnkit`` command lines of ``path``'s shell blocks (the
    block's ``<!-- test: -->`` replacements applied)."""
    out = []
    for lang, first, code, repl in extract_blocks(path):
        if lang not in SHELL_LANGS:
            continue
        code = apply_replacements(code, repl, f"{_rel(path)}:{first}")
        raw = code.splitlines()
        i = 0
        while i < len(raw):
            start, text = first + i, raw[i]
            while text.rstrip().endswith("\\") and i + 1 < len(raw):
                i += 1
                text = text.rstrip()[:-1] + " " + raw[i].strip()
            i += 1
            for part in text.split("&&"):
                part = part.strip()
                if part.startswith("rnnkit "):
                    cmd = re.sub(r"\s+#.*$", "", part).strip()
                    out.append((start, cmd))
    return out


def is_synopsis(cmd):
    return ("[" in cmd or "..." in cmd or "|" in cmd
            or bool(PLACEHOLDER.search(re.sub(r"\$\w+", "", cmd))))


def _subparser(parser, words):
    """The parser of the sub-command ``words`` names (``lm train`` ...), and the words it took."""
    import argparse

    taken = 0
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or taken >= len(words) or words[taken] not in subs[0].choices:
            return parser, taken
        parser = subs[0].choices[words[taken]]
        taken += 1


def check_synopsis(cmd):
    """Every ``--option`` a synopsis names exists in its sub-command's parser."""
    from rnnkit.cli import build_parser

    words = cmd.split()[1:]
    parser, taken = _subparser(build_parser(), words)
    assert taken >= 1, f"{cmd!r}: no such command"
    known = {s for a in parser._actions for s in a.option_strings}
    named = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", cmd))
    missing = sorted(named - known)
    assert not missing, f"{cmd!r}: `rnnkit {' '.join(words[:taken])}` has no {missing}"
    # `--opt a|b|c`: each alternative is one of the option's choices, where it has a fixed set
    by_name = {s: a for a in parser._actions for s in a.option_strings}
    for opt, alts in re.findall(r"(--[a-z][a-z0-9-]*)[ =]([\w.-]+(?:\|[\w.-]+)+)", cmd):
        choices = by_name[opt].choices
        if choices:
            bad = [a for a in alts.split("|") if a not in choices]
            assert not bad, f"{cmd!r}: {opt} offers {sorted(choices)}, not {bad}"


def check_parses(cmd):
    from rnnkit.cli import build_parser

    args = build_parser().parse_args(shlex.split(cmd)[1:])
    assert callable(args.func)


# small synthetic inputs for the files the examples name, made before a file's commands run
def _series_csv(path, n=72, labels=False):
    t = np.arange(n)
    rng = np.random.default_rng(0)
    y = 10 + np.sin(2 * np.pi * t / 12) + 0.1 * rng.standard_normal(n)
    rows = ["date,y,a,b" + (",label" if labels else "")]
    for i in range(n):
        row = f"2020-{1 + i % 12:02d}-01,{y[i]:.4f},{rng.standard_normal():.4f},{rng.standard_normal():.4f}"
        rows.append(row + (f",{int(50 <= i < 55)}" if labels else ""))
    path.write_text("\n".join(rows) + "\n")


def _pairs_tsv(path):
    words = ["abc", "hello", "rnn", "kit", "data", "time", "step", "loss"]
    path.write_text("source\ttarget\n" + "".join(f"{w}\t{w[::-1]}\n" for w in words * 2))


def _tiny_runs(workdir):
    """``model.npz``, ``runs/lm`` and ``runs/sentiment``: what interop.md's exports read."""
    import rnnkit
    from rnnkit import io
    from rnnkit.cli import main

    io.save(rnnkit.LSTM(3, 4), str(workdir / "model.npz"))
    (workdir / "text.txt").write_text("def f(x):\n    return x + 1\n" * 20)
    assert main(["lm", "train", "--data", "text.txt", "--hidden", "8", "--layers", "1",
                 "--embedding-dim", "4", "--seq-len", "8", "--batch-size", "2", "--steps", "2",
                 "--quiet", "--out", "runs/lm"]) == 0
    (workdir / "reviews.csv").write_text(
        "text,label\n" + "".join(f"{t},{lab}\n" for t, lab in [("good fun", "pos"), ("bad dull", "neg")] * 4))
    assert main(["classify", "train", "--data", "reviews.csv", "--hidden", "4", "--epochs", "1",
                 "--quiet", "--out", "runs/sentiment"]) == 0


def _stdlib_lm_stand_in(workdir):
    """A two-step run where the README's 10-minute main job would leave its run directory."""
    from rnnkit.cli import main

    (workdir / "stdlib.txt").write_text("def main():\n    pass\n" * 20)
    assert main(["lm", "train", "--data", "stdlib.txt", "--hidden", "8", "--layers", "1",
                 "--embedding-dim", "4", "--seq-len", "8", "--batch-size", "2", "--steps", "2",
                 "--quiet", "--out", "runs/stdlib-lm"]) == 0


INPUTS = {
    "README.md": _stdlib_lm_stand_in,
    "docs/interop.md": _tiny_runs,
    "docs/models.md": lambda d: _pairs_tsv(d / "pairs.tsv"),
}

CLI_FILES = [p for p in DOC_FILES if extract_commands(p)]


@pytest.mark.parametrize("path", CLI_FILES, ids=[f"{_rel(p)}:cli" for p in CLI_FILES])
def test_cli_examples(path, tmp_path, capsys):
    from rnnkit.cli import main

    commands = extract_commands(path)
    with _cwd(tmp_path):
        if _rel(path) in INPUTS:
            INPUTS[_rel(path)](tmp_path)
        for line, cmd in commands:
            where = f"{_rel(path)}:{line}"
            if cmd in PARSE_ONLY:
                check_parses(cmd)
            elif is_synopsis(cmd):
                check_synopsis(cmd)
            else:
                if "$" in cmd:                       # a shell variable: data the packages here lack
                    check_parses(re.sub(r"\$\w+", "X", cmd))
                    continue
                rc = main(shlex.split(cmd)[1:])
                out = capsys.readouterr()
                assert rc == 0, f"{where}: {cmd!r} exited {rc}\n{out.err}"


def test_every_doc_has_its_examples_found():
    """The extractor sees the blocks the docs hold (a renamed fence would drop them silently)."""
    n_py = {_rel(p): sum(1 for q, *_ in PY_BLOCKS if q == p) for p in DOC_FILES}
    n_cli = {_rel(p): len(extract_commands(p)) for p in DOC_FILES}
    assert sum(n_py.values()) >= 12 and sum(n_cli.values()) >= 30, (n_py, n_cli)
    assert n_py["README.md"] == 1 and n_cli["README.md"] >= 2
