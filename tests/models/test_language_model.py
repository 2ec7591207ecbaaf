"""LanguageModel: stateful TBPTT training, scoring, sampling, saving."""
import math

import numpy as np
import pytest

from rnnkit.models import LanguageModel
from rnnkit.runs import RunDir

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


def tiny(**kw):
    p = dict(level="char", hidden_size=24, num_layers=1, embedding_dim=8, seq_len=12, batch_size=4, lr=1e-2,
             steps=60, eval_every=20, random_state=0)
    p.update(kw)
    return LanguageModel(**p)


def test_training_lowers_validation_loss_below_uniform():
    lm = tiny().fit(TEXT)
    vals = [h["val_loss"] for h in lm.history_ if "val_loss" in h]
    assert vals[-1] < vals[0] and vals[-1] < math.log(len(lm.vocab_)) - 0.5
    assert lm.step_ == 60 and lm.net_ is not None


def test_same_random_state_gives_same_curve_and_different_seed_does_not():
    a = [h["loss"] for h in tiny(steps=15).fit(TEXT).history_]
    b = [h["loss"] for h in tiny(steps=15).fit(TEXT).history_]
    c = [h["loss"] for h in tiny(steps=15, random_state=1).fit(TEXT).history_]
    assert a == b and a != c


def test_perplexity_score_and_bits_agree():
    lm = tiny(steps=10).fit(TEXT)
    r = lm.evaluate(TEXT[:500])
    assert r["perplexity"] == pytest.approx(math.exp(r["nats_per_token"]))
    assert lm.score(TEXT[:500]) == pytest.approx(-r["nats_per_token"])
    assert r["bits_per_char"] == pytest.approx(r["nats_per_token"] / math.log(2))   # one token per char


def test_nats_match_direct_sum_of_log_probabilities():
    lm = tiny(steps=5).fit(TEXT)
    ids = lm.encode(TEXT[:97])
    logits, _ = lm.net_.forward(ids[None, :-1], None, keep_cache=False)
    z = logits[0].astype(np.float64)
    lp = z - np.log(np.exp(z - z.max(1, keepdims=True)).sum(1, keepdims=True)) - z.max(1, keepdims=True)
    direct = -lp[np.arange(len(ids) - 1), ids[1:]].mean()
    assert lm._nats(ids, batch=1) == pytest.approx(direct, rel=1e-5)


def test_sample_is_reproducible_and_starts_with_prime():
    lm = tiny(steps=20).fit(TEXT)
    a = lm.sample(40, prime="the ", temperature=0.8, top_k=5, random_state=3)
    assert a == lm.sample(40, prime="the ", temperature=0.8, top_k=5, random_state=3)
    assert a.startswith("the ") and len(a) == 44
    greedy = lm.sample(10, prime="the ", temperature=0)
    assert greedy == lm.sample(10, prime="the ", temperature=0, random_state=99)


def test_unknown_error_names_the_token():
    lm = tiny(steps=2, unknown="error").fit(TEXT)
    with pytest.raises(ValueError, match="'Z'"):
        lm.perplexity("the Zebra")


def test_byte_level_accepts_any_bytes():
    lm = tiny(level="byte", steps=3).fit(TEXT.encode())
    assert len(lm.vocab_) == 256
    assert np.isfinite(lm.perplexity(b"\xff\xfe caf\xc3\xa9"))


def test_save_and_load_round_trip(tmp_path):
    run = RunDir(tmp_path / "run")
    lm = tiny(steps=10, level="word").fit(TEXT, run=run)
    back = LanguageModel.load(tmp_path / "run")
    assert back.get_params() == lm.get_params() and back.vocab_ == lm.vocab_ and back.step_ == 10
    assert back.perplexity(TEXT[:300]) == pytest.approx(lm.perplexity(TEXT[:300]), rel=1e-6)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0


def test_get_set_params_follow_sklearn():
    lm = tiny()
    assert lm.set_params(hidden_size=7) is lm and lm.get_params()["hidden_size"] == 7
    with pytest.raises(ValueError):
        lm.set_params(bogus=1)
    assert not hasattr(lm, "net_")


def test_train_seconds_leave_out_the_validation_runs(monkeypatch):
    import time
    lm = tiny(steps=40, eval_every=10)
    score = LanguageModel._nats

    def slow_score(self, ids):                       # each validation takes at least 0.15 s
        time.sleep(0.15)
        return score(self, ids)

    monkeypatch.setattr(LanguageModel, "_nats", slow_score)
    t0 = time.monotonic()
    lm.fit(TEXT)
    total = time.monotonic() - t0
    evals = sum("val_loss" in h for h in lm.history_)
    assert evals >= 4
    assert 0 < lm.train_seconds_ <= total - 0.15 * evals
