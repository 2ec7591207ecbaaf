"""Seq2Seq with attention: the decoder's BPTT (teacher-forced and with input
feeding) against central differences in float64, bidirectional encoders,
beam search, the attention weights predict returns, saving and loading."""
import numpy as np
import pytest

from rnnkit.io.files import read_file, write_file
from rnnkit.models import Seq2Seq
from rnnkit.models.attention_decoder import AttentionDecoder
from rnnkit.models.decoder import SHIFT
from rnnkit.models.seq2seq import _Seq2SeqNet

from _gradcheck import check_estimator_grads
from cells._layer_gradcheck import _check as check_every_entry     # float64 central differences


def copy_task(n, seed, lo=1, hi=5, symbols=8):
    rng = np.random.default_rng(seed)
    X = [rng.integers(0, symbols, rng.integers(lo, hi + 1)) for _ in range(n)]
    return X, [x.copy() for x in X]


def float64_net(m, X, y):
    data = m.prepare(X, y, learn=True)
    m.net_ = _Seq2SeqNet(m.spec_, m.n_targets_, m.get_params(), np.random.default_rng(0), dtype=np.float64)
    return data


# -- gradients --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("attention,input_feeding,cell,bidirectional,merge_mode,layers", [
    ("additive", False, "lstm", False, "concat", 2),
    ("general", False, "gru", True, "concat", 1),
    ("dot", False, "lstm", True, "sum", 1),
    ("additive", True, "gru", False, "concat", 1),
    ("general", True, "lstm", True, "mean", 2),
    ("dot", True, "rnn", False, "concat", 2),
])
def test_encoder_attention_decoder_backward_matches_central_differences(attention, input_feeding, cell,
                                                                         bidirectional, merge_mode, layers):
    X, y = copy_task(4, 3)
    m = Seq2Seq(cell=cell, hidden_size=4, embedding_dim=3, num_layers=layers, clip=0, random_state=0,
                attention=attention, input_feeding=input_feeding, bidirectional=bidirectional,
                merge_mode=merge_mode)
    data = float64_net(m, X, y)
    check_estimator_grads(m, data, np.arange(4), n_per_param=6)


def decoder_case(score, input_feeding, cell="lstm", seed=0):
    """A float64 attention decoder, its first state, a memory and targets."""
    rng = np.random.default_rng(seed)
    L, B, H, E, S = 2, 3, 4, 5, 6
    dec = AttentionDecoder(7 + SHIFT, 3, cell, H, L, 0.0, np.random.default_rng(seed), np.float64,
                           memory_size=H if score == "dot" else E, score=score, input_feeding=input_feeding)
    E = dec.attention.memory_size
    h0 = rng.standard_normal((L, B, H)) * 0.5
    state0 = (h0, rng.standard_normal((L, B, H)) * 0.5) if cell == "lstm" else h0
    lengths = np.array([6, 2, 4])
    values = rng.standard_normal((B, S, E))
    values[np.arange(S)[None, :] >= lengths[:, None]] = 0.0
    targets = [rng.integers(0, 7, n) for n in (3, 0, 5)]
    return dec, state0, values, lengths, targets


@pytest.mark.parametrize("score,input_feeding,cell", [("additive", False, "lstm"), ("general", True, "lstm"),
                                                     ("dot", True, "gru"), ("general", False, "gru")])
def test_decoder_gradients_of_its_first_state_and_of_the_encoder_outputs_match_central_differences(
        score, input_feeding, cell):
    dec, state0, values, lengths, targets = decoder_case(score, input_feeding, cell)

    def loss():
        return dec.loss_backward(state0, targets, dec.attention.memory(values, lengths))[0]

    _, dstate0, dmemory = dec.loss_backward(state0, targets, dec.attention.memory(values, lengths))
    check_every_entry(dmemory, loss, values, "encoder outputs")
    for d, s in zip(dstate0 if cell == "lstm" else (dstate0,), state0 if cell == "lstm" else (state0,)):
        check_every_entry(d, loss, s, "decoder state")
    pad = np.arange(values.shape[1])[None, :] >= lengths[:, None]
    assert np.all(dmemory[pad] == 0.0)                      # padded source steps pass no gradient back


def test_every_decoder_parameter_matches_central_differences_with_input_feeding():
    dec, state0, values, lengths, targets = decoder_case("additive", True, seed=1)
    memory = dec.attention.memory(values, lengths)
    dec.loss_backward(state0, targets, memory)
    grads = {k: v.copy() for k, v in dec.named_grads().items()}
    params = dec.named_parameters()
    assert set(grads) == set(params)
    for name, p in params.items():
        check_every_entry(grads[name], lambda: dec.loss_backward(state0, targets,
                                                                 dec.attention.memory(values, lengths))[0], p, name)


@pytest.mark.parametrize("input_feeding", [False, True])
def test_decoder_with_dropout_between_layers_matches_central_differences_for_fixed_masks(input_feeding):
    rng = np.random.default_rng(4)
    dec = AttentionDecoder(7 + SHIFT, 3, "lstm", 4, 2, 0.4, np.random.default_rng(0), np.float64, memory_size=5,
                           score="general", input_feeding=input_feeding)
    state0 = tuple(rng.standard_normal((2, 3, 4)) * 0.5 for _ in range(2))
    values, lengths = rng.standard_normal((3, 6, 5)), np.array([6, 2, 4])
    targets = [rng.integers(0, 7, n) for n in (3, 1, 5)]

    def loss():
        dec.rnn.rng = np.random.default_rng(5)                    # the same dropout masks every pass
        return dec.loss_backward(state0, targets, dec.attention.memory(values, lengths))[0]

    loss()
    grads = {k: v.copy() for k, v in dec.named_grads().items()}
    for name, p in dec.named_parameters().items():
        check_every_entry(grads[name], loss, p, name)


# -- decoding -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def copier():
    X, y = copy_task(1500, 0, lo=2, hi=8)
    return Seq2Seq(hidden_size=32, embedding_dim=16, epochs=6, attention="general", reverse_source=False,
                   random_state=0).fit(X, y)


def test_attention_learns_to_copy_unseen_sequences(copier):
    X, y = copy_task(200, 1, lo=2, hi=8)
    assert copier.score(X, y) > 0.9


def test_beam_search_of_width_one_is_greedy_decoding(copier):
    X, _ = copy_task(60, 2, lo=1, hi=12)
    dec = copier.net_.decoder
    state, memory = copier._encode(copier._sources(X), keep_cache=False)
    start = dec.start(state, memory)
    greedy = dec.greedy(start, 20)
    beams = [dec.beam(dec._take(start, np.array([b])), 1, 20) for b in range(len(X))]
    assert all(np.array_equal(g, b) for g, b in zip(greedy, beams))


def test_beam_search_with_attention_finds_outputs_at_least_as_likely_as_greedy(copier):
    X, _ = copy_task(30, 3, lo=9, hi=14)                      # longer than training: room for the beam
    dec = copier.net_.decoder

    def logprob(x, out):
        state, memory = copier._encode(copier._sources([x]))
        loss, _, _ = dec.loss_backward(state, [out], memory)
        return -loss * (len(out) + 1)

    greedy, beam = copier.predict(X), copier.predict(X, beam_size=4)
    assert all(logprob(x, b) >= logprob(x, g) - 1e-4 for x, g, b in zip(X, greedy, beam))


def test_predict_returns_one_weight_row_per_output_token_over_the_source(copier):
    X, _ = copy_task(20, 4, lo=2, hi=8)
    for beam in (1, 3):
        out, weights = copier.predict(X, beam_size=beam, return_attention=True)
        for x, o, w in zip(X, out, weights):
            assert w.shape == (len(o), len(x))
            np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-5)
    # copying: output token t reads source token t most
    diag = np.mean([np.mean(w.argmax(axis=1) == np.arange(len(o)))
                    for o, w in zip(out, weights) if len(o) == w.shape[1]])
    assert diag > 0.8


def test_attention_weights_are_in_the_sources_order_when_the_source_is_fed_reversed():
    rng = np.random.default_rng(5)
    X = [rng.permutation(10)[:rng.integers(3, 8)] for _ in range(1000)]    # distinct symbols: one place each
    m = Seq2Seq(hidden_size=24, embedding_dim=8, epochs=5, attention="dot", random_state=0).fit(X, X)
    assert m.reverse_source
    out, weights = m.predict(X[:60], return_attention=True)
    pairs = [(w.argmax(axis=1), len(x)) for x, o, w in zip(X, out, weights) if len(o) == len(x)]
    in_order = np.mean(np.concatenate([a == np.arange(n) for a, n in pairs]))
    reversed_ = np.mean(np.concatenate([a == np.arange(n)[::-1] for a, n in pairs]))
    assert in_order > 0.7 and reversed_ < 0.3


def test_a_model_without_attention_has_no_weights_to_return():
    X, y = copy_task(8, 6)
    m = Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="no attention"):
        m.predict(X, return_attention=True)


# -- settings -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("params,message", [
    (dict(attention="bahdanau"), "unknown attention 'bahdanau'"),
    (dict(input_feeding=True), "input_feeding feeds the attention context"),
    (dict(attention="dot", bidirectional=True), "dot attention needs encoder outputs as wide"),
    (dict(attention="general", merge_mode="max"), "unknown merge_mode 'max'"),
    (dict(sampling_schedule="cosine"), "unknown sampling schedule 'cosine'"),
])
def test_settings_that_do_not_fit_are_refused_before_training(params, message):
    X, y = copy_task(8, 7)
    with pytest.raises(ValueError, match=message):
        Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, **params).fit(X, y)


def test_bidirectional_encoder_output_width_follows_the_merge_mode():
    X, y = copy_task(8, 8)
    for merge, width in (("concat", 8), ("sum", 4), ("mul", 4)):
        m = Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, attention="general", bidirectional=True,
                    merge_mode=merge, random_state=0).fit(X, y)
        assert m.net_.encoder.rnn.output_size == width
        assert m.net_.decoder.attention.memory_size == width
        assert m.net_.decoder.attention.params["weight"].shape == (4, width)


# -- files ----------------------------------------------------------------------------------------------
def test_save_load_round_trip_keeps_attention_and_its_weights(tmp_path, copier):
    copier.save(tmp_path / "a.npz")
    again = Seq2Seq.load(tmp_path / "a.npz")
    assert again.attention == "general" and again.reverse_source is False
    X, _ = copy_task(20, 9, lo=2, hi=8)
    out, w = copier.predict(X, return_attention=True)
    out2, w2 = again.predict(X, return_attention=True)
    assert all(np.array_equal(a, b) for a, b in zip(out, out2))
    assert all(np.array_equal(a, b) for a, b in zip(w, w2))


def test_model_files_saved_before_attention_existed_still_load(tmp_path):
    X, y = copy_task(20, 10)
    m = Seq2Seq(hidden_size=4, embedding_dim=3, epochs=1, random_state=0).fit(X, y)
    m.save(tmp_path / "new.npz")
    header, arrays = read_file(tmp_path / "new.npz")
    config = header["config"]
    for key in ("attention", "input_feeding", "bidirectional", "merge_mode", "sampling_schedule"):
        del config["params"][key]                             # as an older rnnkit wrote it
    write_file(tmp_path / "old.npz", header["kind"], config, arrays)
    old = Seq2Seq.load(tmp_path / "old.npz")
    assert old.attention == "none" and old.bidirectional is False and old.sampling_schedule is None
    assert all(np.array_equal(a, b) for a, b in zip(old.predict(X), m.predict(X)))
