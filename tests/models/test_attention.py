"""The attention layer (rnnkit.attention): hand-written backward against central
differences in float64, masks, and the refusals at its edge."""
import numpy as np
import pytest

from rnnkit.attention import SCORES, Attention

from cells._layer_gradcheck import _check as check_every_entry     # float64 central differences

B, T, S, H, E = 3, 4, 5, 4, 6
LENGTHS = np.array([5, 2, 3])


def make(score, seed=0):
    E_ = H if score == "dot" else E
    att = Attention(score, H, E_, dtype=np.float64, seed=seed)
    rng = np.random.default_rng(seed + 1)
    query = rng.standard_normal((B, T, H))
    values = rng.standard_normal((B, S, E_))
    values[np.arange(S)[None, :] >= LENGTHS[:, None]] = 0.0          # an encoder's padded outputs
    weights = rng.standard_normal((B, T, E_))                         # loss = Σ weights ∘ context
    return att, query, values, weights


def loss_of(att, query, values, weights):
    c, _, _ = att.forward(query, att.memory(values, LENGTHS))
    return float(np.sum(weights * c))


def analytic(att, query, values, weights):
    mem = att.memory(values, LENGTHS)
    _, _, cache = att.forward(query, mem)
    dq, dv, dk, g = att.backward(cache, weights)
    dvalues, gk = att.memory_backward(mem, dv, dk)
    att.set_grads(g, gk)
    return dq, dvalues


@pytest.mark.parametrize("score", SCORES)
def test_backward_matches_central_differences_for_every_parameter_the_query_and_the_memory(score):
    att, query, values, weights = make(score)
    dq, dvalues = analytic(att, query, values, weights)
    f = lambda: loss_of(att, query, values, weights)  # noqa: E731
    check_every_entry(dq, f, query, "query")
    check_every_entry(dvalues, f, values, "memory")
    assert set(att.grads) == set(att.params) == {"additive": {"query_weight", "key_weight", "key_bias",
                                                              "score_weight"},
                                                 "general": {"weight"}, "dot": set()}[score]
    for name, p in att.params.items():
        check_every_entry(att.grads[name], f, p, name)


@pytest.mark.parametrize("score", SCORES)
def test_padded_source_steps_get_exactly_zero_weight_and_no_gradient(score):
    att, query, values, weights = make(score)
    _, a, _ = att.forward(query, att.memory(values, LENGTHS))
    pad = np.arange(S)[None, None, :] >= LENGTHS[:, None, None]      # (B, 1, S)
    assert np.all(a[np.broadcast_to(pad, a.shape)] == 0.0)
    assert np.all(a[~np.broadcast_to(pad, a.shape)] > 0.0)
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-12)
    _, dvalues = analytic(att, query, values, weights)
    assert np.all(dvalues[np.broadcast_to(pad[:, 0, :, None], dvalues.shape)] == 0.0)
    values[1, 3] = 1e3                                               # what sits in a padded step changes nothing
    _, a2, _ = att.forward(query, att.memory(values, LENGTHS))
    np.testing.assert_array_equal(a2, a)


def test_one_step_at_a_time_equals_all_steps_at_once():
    att, query, values, _ = make("additive")
    mem = att.memory(values, LENGTHS)
    c_all, a_all, _ = att.forward(query, mem)
    for t in range(T):
        c_t, a_t, _ = att.forward(query[:, t:t + 1], mem)
        np.testing.assert_allclose(c_t[:, 0], c_all[:, t], rtol=1e-12)
        np.testing.assert_allclose(a_t[:, 0], a_all[:, t], rtol=1e-12)


def test_a_memory_taken_by_rows_reads_those_sequences():
    att, query, values, _ = make("general")
    mem = att.memory(values, LENGTHS)
    rows = np.array([2, 0, 0])
    c, a, _ = att.forward(query[rows], mem.take(rows))
    c_all, a_all, _ = att.forward(query, mem)
    np.testing.assert_allclose(c, c_all[rows], rtol=1e-12)


def test_dot_attention_refuses_widths_that_differ_and_unknown_scores_are_named():
    with pytest.raises(ValueError, match="dot attention needs encoder outputs as wide as the decoder state"):
        Attention("dot", 4, 8)
    with pytest.raises(ValueError, match="unknown score 'concat'"):
        Attention("concat", 4, 4)
    att = Attention("general", 4, 6)
    with pytest.raises(ValueError, match=r"\(B, S, 6\)"):
        att.memory(np.zeros((2, 3, 5)))
