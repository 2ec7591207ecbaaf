"""Gradient flow, gate statistics, step metrics and the activation feature search."""
import numpy as np
import pytest

import rnnkit
from rnnkit.diagnostics import (feature_search, forget_gate_mean, gate_activations, gate_metrics, gate_saturation,
                                gradflow_experiment, step_metrics, text_features)
from rnnkit.recurrent import LSTM
from conftest import pass_grads as _grads, small_input as _x


def test_gate_activations_split_lstm_blocks_in_pytorch_order():
    layer = rnnkit.LSTM(3, 4, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    layer(x)
    acts = gate_activations(layer)
    assert list(acts) == ["i", "f", "g", "o"]
    assert all(a.shape == (5, 2, 4) for a in acts.values())
    # recompute the first step's forget gate by hand: sigmoid(W_if x + b_if + b_hf) with h0 = 0
    W, b = layer.params["weight_ih_l0"], layer.params["bias_ih_l0"] + layer.params["bias_hh_l0"]
    f = 1 / (1 + np.exp(-(x[0] @ W[4:8].T + b[4:8])))
    np.testing.assert_allclose(acts["f"][0], f, rtol=1e-5, atol=1e-6)


def test_gate_saturation_counts_shares_outside_band():
    layer = rnnkit.GRU(2, 3, seed=0)
    layer.params["bias_ih_l0"][3:6] = 50.0      # z gate pinned at 1
    layer(np.zeros((4, 1, 2), np.float32))
    sat = gate_saturation(layer)
    assert set(sat) == {"r", "z"}
    assert sat["z"]["high"] == 1.0 and sat["z"]["low"] == 0.0
    assert np.allclose(forget_gate_mean(layer), 1.0)


def test_gate_activations_without_forward_raise_clear_error():
    with pytest.raises(ValueError, match="keep_cache=True"):
        gate_activations(rnnkit.LSTM(2, 2, seed=0))


def test_plain_tanh_rnn_gradient_vanishes_faster_than_lstm_at_init():
    r = gradflow_experiment(cells=("rnn_tanh", "lstm"), T=40, hidden=8, batch=4, steps=0)
    assert r["rnn_tanh"]["init"].shape == (40,)
    assert r["rnn_tanh"]["ratio_init"] < 1e-1
    assert r["rnn_tanh"]["ratio_init"] < r["lstm"]["ratio_init"]


def test_step_metrics_reports_clipping_and_lags():
    layer = rnnkit.RNN(2, 3, batch_first=True, seed=0)
    layer.record_grad_norms = True
    y, _ = layer(np.ones((2, 6, 2), np.float32))
    dy = np.zeros_like(y)
    dy[:, -1] = 1
    layer.backward(dy)
    hist = {}
    m = step_metrics(layer, grad_norm=3.0, clip_norm=1.0, history=hist)
    assert m["clipped"] is True and m["grad_norm_clipped"] == 1.0 and m["clip_rate"] == 1.0
    assert list(m["dh_norms"]) == ["l0"] and len(m["dh_norms"]["l0"]) == 6
    # lag 0 is the last step, whose gradient is dy[:, -1] alone: ‖(1, 1, 1)‖ = √3
    assert m["dh_norms"]["l0"][0] == pytest.approx(np.sqrt(3), rel=1e-4)
    assert m["dh_norms"]["l0"][1] == pytest.approx(float(layer.grad_norms_["l0"][-2]), rel=1e-4)
    m = step_metrics(layer, grad_norm=0.5, clip_norm=1.0, history=hist)
    assert m["clipped"] is False and m["clip_rate"] == 0.5


def test_text_features_and_search_find_a_unit_copying_a_feature():
    text = 'a "bc" (d\n  e) f\n'
    feats = text_features(text)
    assert feats["inside quotes"].tolist()[:7] == [0, 0, 1, 1, 1, 1, 0]
    assert feats["indentation"][text.index("e")] == 2
    assert feats["position in line"][text.index("e")] == 2
    rng = np.random.default_rng(0)
    acts = rng.normal(size=(len(text), 5))
    acts[:, 3] = feats["inside brackets"] + 0.01 * rng.normal(size=len(text))
    best = feature_search(acts, feats)
    assert best["inside brackets"][0][0] == 3 and best["inside brackets"][0][1] > 0.99


def test_step_metrics_records_every_layer_and_direction():
    T, B, H = 5, 3, 4
    layer = rnnkit.LSTM(2, H, num_layers=2, bidirectional=True, seed=0)
    layer.record_grad_norms = True
    rng = np.random.default_rng(1)
    y, _ = layer(rng.normal(size=(T, B, 2)).astype(np.float32))
    dy = rng.normal(size=y.shape).astype(np.float32)                   # (T, B, 2H)
    layer.backward(dy)
    dh = step_metrics(layer)["dh_norms"]
    assert sorted(dh) == ["l0", "l0_reverse", "l1", "l1_reverse"] and all(len(v) == T for v in dh.values())
    # the top layer's last state in each direction gets only the output gradient of its own step
    fwd_last = np.linalg.norm(dy[-1, :, :H], axis=1).mean()            # forward direction, t = T-1 (lag 0)
    rev_last = np.linalg.norm(dy[0, :, H:], axis=1).mean()             # reverse direction ends at t = 0 (lag T-1)
    assert dh["l1"][0] == pytest.approx(fwd_last, rel=1e-4)
    assert dh["l1_reverse"][T - 1] == pytest.approx(rev_last, rel=1e-4)


def test_forget_gate_mean_is_sigmoid_of_the_bias_when_weights_are_zero():
    layer = rnnkit.LSTM(3, 4, num_layers=2, bidirectional=True, seed=0)
    for v in layer.params.values():
        v[...] = 0
    bias = {"l0": 0.7, "l0_reverse": -1.5, "l1": 3.0, "l1_reverse": 0.0}
    for key, b in bias.items():
        layer.params["bias_ih_" + key][4:8] = b                        # forget block (i, f, g, o)
    layer(np.random.default_rng(0).normal(size=(6, 2, 3)).astype(np.float32))
    m = gate_metrics(layer)
    for key, b in bias.items():
        np.testing.assert_allclose(m["forget_gate_mean"][key], np.full(6, 1 / (1 + np.exp(-b))), rtol=1e-4)  # 5 digits kept
    # i and o have zero pre-activation: sigmoid(0) = 0.5, never saturated
    assert m["gate_saturation"]["l1"]["i"] == {"low": 0.0, "high": 0.0}


def test_huge_forget_bias_keeps_the_forget_gate_open_and_saturated():
    layer = rnnkit.LSTM(3, 8, forget_bias=30.0, seed=0)
    layer(np.random.default_rng(0).normal(size=(20, 4, 3)).astype(np.float32))
    f = forget_gate_mean(layer)
    assert f.shape == (20,) and f.min() > 0.999
    assert gate_saturation(layer)["f"]["high"] == 1.0
    closed = rnnkit.LSTM(3, 8, forget_bias=-30.0, seed=0)
    closed(np.random.default_rng(0).normal(size=(20, 4, 3)).astype(np.float32))
    assert forget_gate_mean(closed).max() < 1e-3


def test_plain_rnn_has_no_gate_metrics():
    layer = rnnkit.RNN(2, 3, seed=0)
    layer(np.ones((4, 1, 2), np.float32))
    assert gate_metrics(layer) == {}


def test_gradflow_experiment_reports_test_mse_and_flow_history():
    r = gradflow_experiment(cells=("lstm_fb0", "rnn_relu"), T=12, hidden=4, batch=4, steps=3, n_test=8,
                            record_every=1)
    for res in r.values():
        assert res["steps_run"] == 3 and res["history"]["step"] == [0, 1, 2]
        assert all(len(row) == 12 for row in res["history"]["dh_norms"]) and len(res["loss_curve"]) == 3
        assert res["ratio_init"] == pytest.approx(res["init"][0] / res["init"][-1])
        assert np.isfinite(res["test_mse"]) and np.isfinite(res["test_mse_init"])
    # without clipping nothing is clipped
    r = gradflow_experiment(cells=("gru",), T=6, hidden=3, batch=2, steps=2, n_test=4, clip_norm=None)
    assert r["gru"]["clip_rate"] == 0


@pytest.mark.parametrize("cls", [rnnkit.LSTM, rnnkit.GRU])
def test_gate_metrics_read_after_backward_match_those_after_forward(cls):
    """Training loops read gate statistics after BPTT; reused buffers must not have changed them."""
    layer = cls(3, 5, num_layers=2, seed=0)
    layer.record_grad_norms = True
    y, _ = layer(np.random.default_rng(0).normal(size=(7, 4, 3)).astype(np.float32))
    before = gate_metrics(layer)
    layer.backward(np.ones_like(y))
    assert gate_metrics(layer) == before and len(before["forget_gate_mean"]) == 2


def test_gate_activations_with_unsorted_lengths_are_in_the_callers_batch_order():
    rng = np.random.default_rng(3)
    lstm = rnnkit.LSTM(3, 5, seed=0)
    x = rng.standard_normal((7, 4, 3)).astype(np.float32)
    lengths = np.array([3, 7, 5, 2])                     # unsorted: the layer runs packed
    lstm.forward(x, lengths=lengths)
    acts = gate_activations(lstm)
    for b, n in enumerate(lengths):                      # each sequence alone, no padding
        lstm.forward(x[:n, b:b + 1])
        alone = gate_activations(lstm)
        for g in ("i", "f", "g", "o"):
            np.testing.assert_allclose(acts[g][:n, b], alone[g][:, 0], atol=1e-6)
            assert np.all(acts[g][n:, b] == 0)           # padded steps hold zeros


# -- gate statistics with lengths, copies and subclasses; gradient norms; gradflow's solved step -------------
def test_gate_statistics_leave_padded_steps_out():
    layer = LSTM(3, 4, forget_bias=30.0, seed=0)
    layer(_x(T=10, B=4))
    assert gate_saturation(layer)["f"] == {"low": 0.0, "high": 1.0}
    layer(_x(T=10, B=4), lengths=[10, 5, 2, 1])
    assert gate_saturation(layer)["f"] == {"low": 0.0, "high": 1.0}
    assert np.all(forget_gate_mean(layer) > 0.999)
    g = gate_metrics(layer)
    assert min(g["forget_gate_mean"]["l0"]) > 0.999


def test_gate_activations_are_copies_that_later_passes_leave_alone():
    layer = LSTM(3, 4, seed=0)
    layer(_x())
    kept = gate_activations(layer)["f"]
    before = kept.copy()
    layer(_x() * 3)
    np.testing.assert_array_equal(kept, before)


def test_diagnostics_know_a_subclass_of_a_layer():
    class MyLSTM(LSTM):
        pass

    layer = MyLSTM(3, 4, seed=0)
    layer(_x())
    assert sorted(gate_activations(layer)) == ["f", "g", "i", "o"]
    assert forget_gate_mean(layer).shape == (5,) and set(gate_metrics(layer)) == {"gate_saturation",
                                                                                  "forget_gate_mean"}


def test_gradient_norms_of_an_earlier_pass_are_not_reported_as_current():
    layer = LSTM(3, 4, seed=0)
    layer.record_grad_norms = True
    _grads(layer, _x())
    assert layer.grad_norms_
    layer.record_grad_norms = False
    _grads(layer, _x())
    assert layer.grad_norms_ == {} and "dh_norms" not in step_metrics(layer)


def test_gradflow_never_reports_a_solved_step_past_the_steps_it_ran():
    from rnnkit.diagnostics.flow import gradflow_experiment

    r = gradflow_experiment(cells=("rnn_tanh",), T=10, hidden=4, batch=8, steps=5, n_test=16,
                            record_every=2)["rnn_tanh"]
    assert r["loss_curve"][-1] < 0.05 and r["steps_run"] == 5   # solved in the last, short block (this seed)
    assert r["solved_step"] is not None and r["solved_step"] <= 5


# -- gate accessors on the wrong layer or index --------------------------------------------------------------
def test_gate_activations_out_of_range_index_is_a_value_error():
    import rnnkit
    from rnnkit.diagnostics.gates import gate_activations

    lstm = rnnkit.LSTM(3, 4)
    lstm.forward(np.zeros((5, 2, 3)), keep_cache=True)
    with pytest.raises(ValueError, match="layer_index 5 is out of range"):
        gate_activations(lstm, layer_index=5)
    with pytest.raises(ValueError, match="direction 1 is out of range"):
        gate_activations(lstm, direction=1)


def test_forget_gate_mean_of_plain_rnn_is_a_value_error():
    import rnnkit
    from rnnkit.diagnostics.gates import forget_gate_mean

    rnn = rnnkit.RNN(3, 4)
    rnn.forward(np.zeros((5, 2, 3)), keep_cache=True)
    with pytest.raises(ValueError, match="no forget gate"):
        forget_gate_mean(rnn)


def test_gate_activations_of_a_plain_rnn_are_its_hidden_states_as_documented():
    import rnnkit
    from rnnkit.diagnostics.gates import gate_activations

    x = np.random.default_rng(0).standard_normal((5, 3, 2))
    for lengths in (None, [5, 2, 4]):
        rnn = rnnkit.RNN(2, 4, bidirectional=True, dtype=np.float64, seed=0)
        y, _ = rnn.forward(x, lengths=lengths, keep_cache=True)
        for d in (0, 1):
            acts = gate_activations(rnn, direction=d)
            assert list(acts) == ["h"]
            live = y[..., 4 * d:4 * d + 4] != 0                     # padded steps: the output is zero
            np.testing.assert_array_equal(acts["h"][live], y[..., 4 * d:4 * d + 4][live])
