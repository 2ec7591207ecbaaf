"""LanguageModel as an estimator: hyperparameters checked at fit, every fit afresh, unfitted use
named, repr, saving after set_params or into a run directory; and what sample, evaluate and
score give at their limits (a diverged model, word level, special tokens, a bytes prime)."""
import json
import math

import numpy as np
import pytest

from rnnkit.models import LanguageModel
from rnnkit.runs import RunDir
from _lm_tiny import TEXT, text_file, tiny, trained_run

@pytest.fixture
def data(tmp_path):
    return text_file(tmp_path)


@pytest.fixture
def trained(tmp_path, data, capsys):
    return trained_run(tmp_path, data, capsys)


def test_the_perplexity_of_a_diverged_model_is_infinite(monkeypatch):
    lm = tiny(steps=2).fit(TEXT)
    monkeypatch.setattr(LanguageModel, "_nats", lambda self, ids: 1000.0)
    r = lm.evaluate(TEXT)
    assert r["perplexity"] == math.inf and r["nats_per_token"] == 1000.0
    assert lm.score(TEXT) == -1000.0


def test_word_level_samples_start_without_a_prime():
    lm = tiny(level="word", steps=3).fit(TEXT)
    text = lm.sample(8, random_state=0)
    assert len(text.split()) == 8


def test_samples_never_hold_special_tokens():
    lm = tiny(steps=2).fit(TEXT)                      # barely trained: the specials keep real probability
    text = lm.sample(400, temperature=5.0, random_state=0)
    for special in ("<pad>", "<unk>", "<bos>", "<eos>"):
        assert special not in text


def test_sample_takes_a_bytes_prime_and_refuses_a_fractional_top_k():
    lm = tiny(steps=2).fit(TEXT)
    assert lm.sample(5, prime=b"the ", random_state=0).startswith("the ")
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        lm.sample(5, top_k=2.5)


def test_fit_refuses_a_run_directory_that_holds_a_checkpoint(trained):
    before = (trained / "checkpoint.npz").read_bytes()
    with pytest.raises(FileExistsError, match="resume=True"):
        tiny(steps=3).fit(TEXT, run=RunDir(trained))
    assert (trained / "checkpoint.npz").read_bytes() == before


def test_save_keeps_the_runs_data_record_and_rewrites_the_model(tmp_path, trained):
    data_before = json.loads((trained / "config.json").read_text())["data"]
    other = tiny(hidden_size=24, steps=2).fit(TEXT)
    other.save(trained)
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["data"] == data_before and cfg["model"]["hidden_size"] == 24
    assert LanguageModel.load(trained).hidden_size == 24


def test_fit_starts_afresh_each_time():
    a = tiny(steps=5).fit(TEXT)
    a.set_params(hidden_size=12).fit("xyz " * 200)
    b = tiny(steps=5, hidden_size=12).fit("xyz " * 200)
    assert a.step_ == 5 and a.hidden_size == 12 and "x" in a.vocab_.index
    for k, v in a.net_.named_parameters().items():
        np.testing.assert_array_equal(v, b.net_.named_parameters()[k])


def test_an_unfitted_model_says_so():
    lm = tiny()
    for call in (lambda: lm.sample(5), lambda: lm.score(TEXT), lambda: lm.save("unused")):
        with pytest.raises(ValueError, match="not fitted yet; call fit"):
            call()
    with pytest.raises(AttributeError):
        lm.sample(5)


def test_repr_lists_the_hyperparameters():
    assert repr(tiny()).startswith("LanguageModel(level='char', cell='lstm', hidden_size=16")


@pytest.mark.parametrize("bad, says", [(dict(seq_len=0), "seq_len must be a positive integer"),
                                       (dict(lr=float("nan")), "lr must be a finite number > 0"),
                                       (dict(val_fraction=-0.1), "val_fraction must be in"),
                                       (dict(embedding_dim=-2), "embedding_dim must be an integer >= 0"),
                                       (dict(cell="lstmx"), "unknown cell")])
def test_fit_refuses_hyperparameters_no_run_can_use(bad, says):
    with pytest.raises(ValueError, match=says):
        tiny(**bad).fit(TEXT)


def test_save_after_set_params_keeps_the_fitted_network(tmp_path):
    lm = tiny(steps=3).fit(TEXT)
    lm.set_params(hidden_size=12)
    lm.save(tmp_path / "r")
    back = LanguageModel.load(tmp_path / "r")
    assert back.hidden_size == 16
    assert back.sample(10, random_state=0) == lm.sample(10, random_state=0)
