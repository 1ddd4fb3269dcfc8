"""GPT model: positional encoding, causal mask, attention, parameter count, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.attention import dot_product_attention
from neurodyn.transformer.model import (
    GPT,
    CausalSelfAttention,
    GPTConfig,
    count_parameters,
    sinusoidal_positional_encoding,
)

# One compiled forward per shape instead of op-by-op eager dispatch (much faster on CPU).
fwd = eqx.filter_jit(lambda model, tokens, **kw: model(tokens, **kw))

SMALL = dict(vocab_size=50, context_length=12, d_model=16, n_heads=2, n_layers=2)


def make(**changes):
    return GPT(GPTConfig(**{**SMALL, **changes}), key=jax.random.key(0))


def test_positional_encoding_matches_formula():
    # Vaswani et al. 2017, section 3.5, evaluated one entry at a time in float64.
    T, d = 20, 16
    pe = sinusoidal_positional_encoding(T, d)
    for k in range(T):
        for i in range(d // 2):
            assert pe[k, 2 * i] == pytest.approx(np.sin(k / 10000 ** (2 * i / d)), abs=1e-6)
            assert pe[k, 2 * i + 1] == pytest.approx(np.cos(k / 10000 ** (2 * i / d)), abs=1e-6)
    # and the model adds exactly this to the √d_model-scaled token embedding (section 3.4)
    model = make()
    tokens = jnp.array([3, 1, 4, 1, 5])
    x = eqx.filter_jit(lambda m, t: m.embed(t))(model, tokens)
    np.testing.assert_allclose(x - 4.0 * model.token_embedding[tokens], sinusoidal_positional_encoding(5, 16), atol=1e-6)


def test_learned_positions_are_parameters():
    model = make(positional="learned")
    assert model.position_embedding.shape == (12, 16)
    tokens = jnp.array([3, 1, 4])
    np.testing.assert_allclose(model.embed(tokens), model.token_embedding[tokens] + model.position_embedding[:3], atol=1e-6)


@pytest.mark.parametrize(
    "changes",
    [{}, {"positional": "learned", "activation": "relu"}, {"layer_norm": False, "tie_weights": True}],
)
def test_future_tokens_never_change_earlier_logits(changes):
    model = make(**changes)
    tokens = jax.random.randint(jax.random.key(1), (12,), 0, 50)
    base = fwd(model, tokens)
    for j in [0, 5, 11]:
        changed = tokens.at[j:].set((tokens[j:] + 7) % 50)
        out = fwd(model, changed)
        np.testing.assert_array_equal(out[:j], base[:j])  # bitwise: masked, not just small
        assert jnp.abs(out[j] - base[j]).max() > 1e-4


def test_attention_rows_sum_to_one_and_are_causal():
    model = make()
    tokens = jax.random.randint(jax.random.key(2), (10,), 0, 50)
    _, attn = fwd(model, tokens, return_attention=True)
    assert attn.shape == (2, 2, 10, 10)  # layers, heads, query, key
    np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-6)
    upper = np.triu(np.ones((10, 10), bool), k=1)
    assert np.all(np.asarray(attn)[..., upper] == 0.0)
    np.testing.assert_allclose(attn[..., 0, 0], 1.0)  # the first token can only see itself


def test_one_head_by_hand():
    # softmax(Q Kᵀ/√d_k + mask) V in NumPy, float64, against the module.
    cfg = GPTConfig(**{**SMALL, "n_heads": 1})
    attn = CausalSelfAttention(cfg, key=jax.random.key(3))
    attn = eqx.tree_at(lambda a: a.b_q, attn, jax.random.normal(jax.random.key(4), attn.b_q.shape))
    x = np.asarray(jax.random.normal(jax.random.key(5), (6, 16)), np.float64)
    wq, wk, wv, wo = (np.asarray(w[0] if w.ndim == 3 else w, np.float64) for w in (attn.w_q, attn.w_k, attn.w_v, attn.w_o))
    q, k, v = x @ wq + np.asarray(attn.b_q[0]), x @ wk, x @ wv
    s = q @ k.T / np.sqrt(16)
    s[np.triu_indices(6, 1)] = -np.inf
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    expected = w @ v @ wo
    out, weights = attn(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(weights[0], w, atol=1e-5)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_shared_attention_function():
    # Unmasked rows are a softmax over keys; masked entries get exactly zero weight.
    q = jax.random.normal(jax.random.key(0), (3, 4))
    k = jax.random.normal(jax.random.key(1), (5, 4))
    v = jax.random.normal(jax.random.key(2), (5, 2))
    mask = jnp.array([[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    out, w = dot_product_attention(q, k, v, mask=mask)
    ref = jax.nn.softmax(jnp.where(mask, q @ k.T / 2.0, -jnp.inf), axis=-1)
    np.testing.assert_allclose(w, ref, atol=1e-6)
    np.testing.assert_allclose(out, ref @ v, atol=1e-6)


def test_last_only_matches_full_forward():
    model = make()
    tokens = jax.random.randint(jax.random.key(6), (9,), 0, 50)
    np.testing.assert_allclose(fwd(model, tokens, last_only=True)[0], fwd(model, tokens)[-1], atol=1e-5)


def test_parameter_count_formula():
    V, T, d, h, L, dh, dm = 50, 12, 16, 2, 2, 8, 64
    per_block = 2 * 2 * d + 3 * (d * h * dh + h * dh) + h * dh * d + d + (d * dm + dm + dm * d + d)
    expected = V * d + L * per_block + 2 * d + d * V  # sinusoidal PE has no parameters
    assert count_parameters(make()) == expected
    assert count_parameters(make(tie_weights=True)) == expected - d * V
    assert count_parameters(make(positional="learned")) == expected + T * d
    assert count_parameters(make(layer_norm=False)) == expected - L * 4 * d - 2 * d


def test_dropout_needs_a_key():
    model = make(dropout=0.5)
    tokens = jnp.arange(8)
    np.testing.assert_array_equal(fwd(model, tokens), fwd(model, tokens))  # no key: inference
    a, b = fwd(model, tokens, key=jax.random.key(0)), fwd(model, tokens, key=jax.random.key(1))
    assert jnp.abs(a - b).max() > 1e-3


def test_batch_by_vmap():
    model = make()
    batch = jax.random.randint(jax.random.key(7), (3, 8), 0, 50)
    out = eqx.filter_jit(lambda m, b: jax.vmap(m)(b))(model, batch)
    np.testing.assert_allclose(out[1], fwd(model, batch[1]), atol=1e-6)


def test_sequence_longer_than_context():
    with pytest.raises(ValueError, match=r"length 13.*\[1, context_length=12\]"):
        make()(jnp.arange(13))


@pytest.mark.parametrize("bad", [50, -1, 1000])
def test_token_ids_out_of_range(bad):
    model = make()
    tokens = jnp.array([1, 2, bad])
    with pytest.raises(Exception, match=r"token ids must be in \[0, vocab_size=50\)"):
        model(tokens)
    with pytest.raises(Exception, match=r"token ids must be in \[0, vocab_size=50\)"):
        eqx.filter_jit(lambda m, t: m(t))(model, tokens)


def test_bad_inputs_and_config():
    model = make()
    with pytest.raises(ValueError, match="1-D"):
        model(jnp.zeros((2, 3), jnp.int32))
    with pytest.raises(TypeError, match="integer ids"):
        model(jnp.zeros(3))
    with pytest.raises(ValueError, match="d_model=10 is not divisible by n_heads=4"):
        GPTConfig(vocab_size=10, context_length=4, d_model=10, n_heads=4)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        GPTConfig(vocab_size=10, context_length=4, dropout=1.0)
    with pytest.raises(ValueError, match="vocab_size must be an integer >= 1"):
        GPTConfig(vocab_size=0, context_length=4)
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(vocab_size=10, context_length=4, activation="tanh")
