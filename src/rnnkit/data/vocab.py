"""``Vocabulary``: tokens <-> integer ids at three levels.

``"byte"``  the 256 byte values of UTF-8 text; every text encodes, nothing is unknown.
``"char"``  the characters seen when building (plus specials).
``"word"``  words and punctuation (``\\w+|[^\\w\\s]``), lower-cased if asked.

Specials (``<pad>`` = 0, ``<unk>`` = 1, then ``<bos>``, ``<eos>``) come first for
char and word vocabularies; an unseen token maps to ``<unk>`` or, with
``unknown="error"``, raises an error naming the token.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

LEVELS = ("byte", "char", "word")
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class Vocabulary:
    def __init__(self, tokens, level="char", lower=False, unknown="unk"):
        if level not in LEVELS:
            raise ValueError(f"unknown vocabulary level {level!r}; use 'byte', 'char' or 'word'")
        if unknown not in ("unk", "error"):
            raise ValueError(f"unknown={unknown!r}; use 'unk' or 'error'")
        self.level, self.lower, self.unknown = level, bool(lower), unknown
        self.tokens = [bytes([i]) for i in range(256)] if level == "byte" else list(tokens)
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if level != "byte" and len(self.index) != len(self.tokens):
            raise ValueError("vocabulary tokens must be unique")

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, texts, level="char", min_freq=1, max_size=None, lower=False, unknown="unk"):
        """Count tokens over ``texts`` (an iterable of strings) and keep those seen
        at least ``min_freq`` times, most frequent first (ties by token)."""
        if level == "byte":
            return cls([], "byte")
        counts = Counter()
        for text in texts:
            counts.update(cls._split(text, level, lower))
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max(0, max_size - len(SPECIALS))]
        return cls(list(SPECIALS) + kept, level, lower, unknown)

    @staticmethod
    def _split(text, level, lower):
        if lower:
            text = text.lower()
        if level == "char":
            return list(text)
        if level == "word":
            return _WORD.findall(text)
        return [bytes([b]) for b in text.encode("utf-8")]

    # -- use -----------------------------------------------------------------------------------
    def __len__(self):
        return len(self.tokens)

    @property
    def pad_id(self):
        return self.index.get("<pad>")

    @property
    def unk_id(self):
        return self.index.get("<unk>")

    def tokenize(self, text):
        return self._split(text, self.level, self.lower)

    def encode(self, text):
        """``text`` -> ``int64`` ids ``(n,)``."""
        if self.level == "byte":
            return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)
        unk = self.unk_id
        ids = []
        for tok in self.tokenize(text):
            i = self.index.get(tok)
            if i is None:
                if self.unknown == "error" or unk is None:
                    raise ValueError(f"token {tok!r} is not in the model's vocabulary; use the vocabulary the "
                                     "model was trained with, or retrain on data that contains it")
                i = unk
            ids.append(i)
        return np.asarray(ids, dtype=np.int64)

    def decode(self, ids):
        """ids -> text (bytes decode as UTF-8 with replacement of broken sequences)."""
        if self.level == "byte":
            return bytes(int(i) for i in ids).decode("utf-8", errors="replace")
        sep = " " if self.level == "word" else ""
        return sep.join(self.tokens[int(i)] for i in ids)

    # -- saving ----------------------------------------------------------------------------------
    def get_config(self):
        return {"level": self.level, "lower": self.lower, "unknown": self.unknown,
                "tokens": [] if self.level == "byte" else self.tokens}

    @classmethod
    def from_config(cls, config):
        return cls(config["tokens"], config["level"], config.get("lower", False), config.get("unknown", "unk"))

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"Vocabulary(level={self.level!r}, size={len(self)})"
