"""Sampling: seeds, greedy decoding past the context, top-k, temperature, attention maps."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.transformer.model import GPT, GPTConfig
from neurodyn.transformer.sample import attention_maps, generate, plot_attention, sample_logits


@pytest.fixture(scope="module")
def model():
    return GPT(GPTConfig(vocab_size=30, context_length=8, d_model=16, n_heads=2, n_layers=1,
                         init_std=0.5), key=jax.random.key(0))


def test_greedy_matches_naive_loop_past_the_context(model):
    # Reference: re-run the model on the last context_length ids and take the argmax.
    prompt = [3, 7, 1]
    out = generate(model, prompt, 12, key=jax.random.key(0), temperature=0.0)
    forward = eqx.filter_jit(lambda m, t: m(t))
    seq = list(prompt)
    for _ in range(12):
        seq.append(int(jnp.argmax(forward(model, jnp.array(seq[-8:]))[-1])))
    assert out.tolist() == seq  # 15 ids > context 8: the sliding window is exercised
    top1 = generate(model, prompt, 12, key=jax.random.key(5), temperature=1.0, top_k=1)
    assert top1.tolist() == seq


def test_seed_determines_the_sample(model):
    a = generate(model, [1, 2], 20, key=jax.random.key(1))
    b = generate(model, [1, 2], 20, key=jax.random.key(1))
    c = generate(model, [1, 2], 20, key=jax.random.key(2))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert a[:2].tolist() == [1, 2] and a.shape == (22,)


def test_temperature_and_top_k_distribution():
    logits = jnp.log(jnp.array([0.5, 0.3, 0.15, 0.05]))
    keys = jax.random.split(jax.random.key(0), 20000)
    draw = jax.jit(jax.vmap(lambda k, t: sample_logits(logits, key=k, temperature=1.0, top_k=t), (0, None)), static_argnums=1)
    freq = np.bincount(np.asarray(draw(keys, None)), minlength=4) / 20000
    np.testing.assert_allclose(freq, [0.5, 0.3, 0.15, 0.05], atol=0.015)  # ~4 sigma at n=20000
    freq2 = np.bincount(np.asarray(draw(keys, 2)), minlength=4) / 20000
    np.testing.assert_allclose(freq2, [0.625, 0.375, 0, 0], atol=0.015)  # renormalised top 2
    cold = jax.vmap(lambda k: sample_logits(logits, key=k, temperature=0.25))(keys[:5000])
    p = np.array([0.5, 0.3, 0.15, 0.05]) ** 4
    assert np.mean(np.asarray(cold) == 0) == pytest.approx(p[0] / p.sum(), abs=0.02)


def test_attention_maps(model, tmp_path):
    tokens = jnp.array([1, 5, 9, 2, 2, 7])
    maps = attention_maps(model, tokens)
    assert maps.shape == (1, 2, 6, 6)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-6)
    fig = plot_attention(maps[0], [str(t) for t in tokens.tolist()], tmp_path / "attn.png")
    assert (tmp_path / "attn.png").stat().st_size > 0
    fig.clf()


def test_bad_arguments(model):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
        generate(model, [1], 3, key=key, temperature=-1.0)
    with pytest.raises(ValueError, match=r"top_k must be None or an integer in \[1, vocab_size=30\]"):
        generate(model, [1], 3, key=key, top_k=0)
    with pytest.raises(ValueError, match=r"outside \[0, vocab_size=30\)"):
        generate(model, [1, 30], 3, key=key)
    with pytest.raises(ValueError, match="non-empty"):
        generate(model, [], 3, key=key)
