"""Sampling from a GPT (temperature, top-k, explicit seed) and attention maps.

Autoregressive sampling draws x_{t+1} ~ softmax(logits_t / temperature), with logits outside
the k largest set to -inf for top-k sampling (Fan et al. 2018); temperature 0 is greedy.

`generate` is one jitted `lax.scan` over new tokens. The window is a fixed buffer of
`context_length` ids: while the sequence is shorter than the context, new ids are written
after the prompt and, because attention is causal, the unused tail cannot change the logits
read at the last real position; once it is full, the buffer slides left by one. So one
compiled function serves every prompt length (no KV cache: each token re-runs the window).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from neurodyn._checks import check_int, check_positive
from neurodyn.transformer.model import GPT


def sample_logits(
    logits: Float[Array, " vocab"], *, key: PRNGKeyArray, temperature: float = 1.0, top_k: int | None = None
) -> Int[Array, ""]:
    """One id from softmax(logits / temperature), restricted to the top_k largest logits.

    temperature == 0 returns argmax (greedy decoding)."""
    if temperature == 0:
        return jnp.argmax(logits)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = jax.lax.top_k(logits, top_k)[0][-1]
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    return jax.random.categorical(key, logits)


def _check_sampling(model: GPT, temperature, top_k, max_new_tokens) -> None:
    V = model.config.vocab_size
    check_positive("temperature", temperature, allow_zero=True)
    if check_int("top_k", top_k, allow_none=True) is not None and not 1 <= top_k <= V:
        raise ValueError(f"top_k must be None or an integer in [1, vocab_size={V}], got {top_k!r}")
    check_int("max_new_tokens", max_new_tokens, lower=0)


@eqx.filter_jit
def _generate(model: GPT, buffer, length, key, max_new_tokens: int, temperature: float, top_k):
    C = model.config.context_length

    def step(carry, k):
        buffer, length = carry
        h, _ = model.features(buffer)
        pos = jnp.minimum(length, C) - 1
        logits = model.unembed(h[pos])
        new = sample_logits(logits, key=k, temperature=temperature, top_k=top_k).astype(buffer.dtype)
        full = length >= C
        shifted = jnp.roll(buffer, -1).at[C - 1].set(new)
        grown = buffer.at[jnp.minimum(length, C - 1)].set(new)
        buffer = jnp.where(full, shifted, grown)
        return (buffer, length + 1), new

    _, new_tokens = jax.lax.scan(step, (buffer, length), jax.random.split(key, max_new_tokens))
    return new_tokens


def generate(
    model: GPT,
    prompt: Int[Array, " prompt"] | list[int],
    max_new_tokens: int,
    *,
    key: PRNGKeyArray,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> Int[Array, " tokens"]:
    """Continue `prompt` by `max_new_tokens` sampled ids; returns prompt + new ids.

    Arguments:
        model: a GPT (dropout is off: no key is passed to it).
        prompt: at least one token id in [0, vocab_size). A prompt longer than the context
            is allowed: the model sees its last context_length ids.
        max_new_tokens: how many ids to draw.
        key: PRNG key (the seed); the same key gives the same sample.
        temperature: > 0 scales logits; 0 is greedy.
        top_k: sample only among the k most likely ids (None: all).
    """
    _check_sampling(model, temperature, top_k, max_new_tokens)
    prompt = jnp.asarray(prompt, dtype=jnp.int32)
    V, C = model.config.vocab_size, model.config.context_length
    if prompt.ndim != 1 or prompt.shape[0] < 1:
        raise ValueError(f"prompt must be a non-empty 1-D sequence of ids, got shape {prompt.shape}")
    if isinstance(prompt, jax.core.Tracer):  # under jit: checked when the values are known
        prompt = eqx.error_if(prompt, (prompt < 0) | (prompt >= V), f"prompt ids must be in [0, vocab_size={V})")
    elif int(prompt.min()) < 0 or int(prompt.max()) >= V:
        raise ValueError(
            f"prompt holds ids in [{int(prompt.min())}, {int(prompt.max())}], outside [0, vocab_size={V})"
        )
    if max_new_tokens == 0:
        return prompt
    window = prompt[-C:]
    n = window.shape[0]
    buffer = jnp.zeros(C, jnp.int32).at[:n].set(window)
    new = _generate(model, buffer, jnp.asarray(n), key, max_new_tokens, float(temperature), top_k)
    return jnp.concatenate([prompt, new])


@eqx.filter_jit
def attention_maps(model: GPT, tokens: Int[Array, " seq"]) -> Float[Array, "layers heads seq seq"]:
    """Attention weights of every layer and head: entry [l, h, i, j] is how much position i
    attends to position j (rows sum to 1; zero above the diagonal)."""
    return model(tokens, return_attention=True)[1]


def plot_attention(
    weights: Float[Array, "heads seq seq"],
    labels: list[str] | None = None,
    path=None,
    *,
    title: str = "attention",
    max_heads: int = 8,
):
    """One heat map per head (query rows, key columns) for one layer."""
    import matplotlib.pyplot as plt

    weights = np.asarray(weights)
    if weights.ndim == 2:
        weights = weights[None]
    n = min(weights.shape[0], max_heads)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    for h in range(n):
        ax = axes[0, h]
        im = ax.imshow(weights[h], cmap="viridis", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
        ax.set_title(f"{title}, head {h}", fontsize=9)
        if labels is not None and len(labels) <= 40:
            shown = [repr(s)[1:-1] for s in labels]
            ax.set_xticks(range(len(shown)), shown, rotation=90, fontsize=7)
            ax.set_yticks(range(len(shown)), shown, fontsize=7)
        ax.set_xlabel("key position")
        if h == 0:
            ax.set_ylabel("query position")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
