"""Model 6: a small transformer trained on in-context associative recall.

Task (associative recall, as used to study induction heads, e.g. Olsson et al. 2022, and
in-context memory, Ba et al. 2016 "Using fast weights…"): a sequence of P key–value token
pairs followed by a query key, k₁ v₁ k₂ v₂ … k_P v_P q, with distinct keys and q = k_j for
one j; the model must output v_j. The memory is the context itself: "store" is writing
the pairs into the sequence, "retrieve" is one forward pass.

Vocabulary: 0 = padding, 1…n_keys = keys, then n_values value tokens. Sequences with
fewer than `max_pairs` pairs are right-padded (one compiled shape for every P) and the
prediction is read at the query position 2P, which causal attention keeps blind to the
padding after it. (Left padding, which puts the query last, was tried: the shifting
positions kept the same model at chance after 3000 steps.) Training:
`neurodyn.transformer.GPT`, cross-entropy at the query position only, AdamW (optax), random sequences drawn on the device at every step
with P uniform in [1, train_pairs]; nothing is cached to disk.

Read-outs:
- `recall_accuracy`: accuracy vs the number of pairs P: near 100 % up to the trained
  number of pairs, degrading beyond it (the look-up does not extend to longer contexts);
- `recall_attention`: the attention of the last layer's heads from the query position,
  summed over each pair's two tokens; the *recall head* is the head that puts the most
  weight on the matching pair. It is compared with the modern Hopfield network
  (Ramsauer et al. 2020) storing the same keys as one-hot patterns: its weights
  softmax(β Kq) are one-hot on the matching key as β grows.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Int, PRNGKeyArray

from .._checks import check_int, check_positive
from ..transformer import GPT, GPTConfig


@dataclasses.dataclass(frozen=True)
class RecallConfig:
    """Task and model sizes for in-context recall (defaults: 2000 steps, 1–2.5 min on 2
    CPU cores shared with other jobs; the training accuracy climbs from ≈ 1/P guessing to
    ≈ 100 % between steps ≈ 600 and 1000 with seed 0).

    Fields:
        n_keys, n_values: vocabulary sizes of keys and values (default 12 each).
        max_pairs: most pairs in a context (default 12; context length 2·max_pairs + 1).
        train_pairs: training sequences hold 1…train_pairs pairs (default 6); evaluation
            goes up to max_pairs, so the accuracy beyond train_pairs measures how far the
            learned look-up extends to longer contexts.
        d_model, n_heads, n_layers: GPT size (64, 2, 2: two layers are the minimum for an
            induction-style look-up: one head copies the key into its value's position,
            the next matches the query against it, Olsson et al. 2022).
        steps, batch_size, learning_rate, weight_decay: AdamW training.
        seed: PRNG seed of the initialisation and the data.
    """

    n_keys: int = 12
    n_values: int = 12
    max_pairs: int = 12
    train_pairs: int = 6
    d_model: int = 64
    n_heads: int = 2
    n_layers: int = 2
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self):
        for name in ("n_keys", "n_values", "max_pairs", "train_pairs", "d_model", "n_heads",
                     "n_layers", "steps", "batch_size"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lower=1, owner="RecallConfig"))  # NumPy ints -> int
        if self.train_pairs > self.max_pairs:
            raise ValueError(
                f"RecallConfig: train_pairs ({self.train_pairs}) must be <= max_pairs ({self.max_pairs})"
            )
        if self.max_pairs > self.n_keys:
            raise ValueError(
                f"RecallConfig: max_pairs ({self.max_pairs}) must be <= n_keys ({self.n_keys}): keys are distinct"
            )
        for name in ("learning_rate", "weight_decay"):
            check_positive(name, getattr(self, name), owner="RecallConfig", allow_zero=True)

    @property
    def vocab_size(self) -> int:
        return 1 + self.n_keys + self.n_values

    @property
    def context_length(self) -> int:
        return 2 * self.max_pairs + 1

    def model_config(self) -> GPTConfig:
        return GPTConfig(vocab_size=self.vocab_size, context_length=self.context_length,
                         d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers)


def recall_sequences(key: PRNGKeyArray, cfg: RecallConfig, n_pairs: Int[Array, " batch"]):
    """A batch of recall sequences with P = n_pairs[b] pairs each, right-padded.

    Returns (tokens (batch, 2·max_pairs + 1), target values (batch,), index j of the
    queried pair (batch,)). The query sits at position 2P; the padding after it cannot
    affect the prediction there (causal attention).
    """
    n_pairs = jnp.asarray(n_pairs)
    m = cfg.max_pairs

    def one(k, p):
        kk, kv, kq = jr.split(k, 3)
        keys = 1 + jr.permutation(kk, cfg.n_keys)[:m]
        values = 1 + cfg.n_keys + jr.randint(kv, (m,), 0, cfg.n_values)
        j = jr.randint(kq, (), 0, p)
        pairs = jnp.stack([keys, values], 1).reshape(-1)  # k1 v1 k2 v2 …
        pos = jnp.arange(2 * m + 1)
        tokens = jnp.where(pos < 2 * p, jnp.concatenate([pairs, jnp.zeros(1, pairs.dtype)]), 0)
        tokens = jnp.where(pos == 2 * p, keys[j], tokens)
        return tokens.astype(jnp.int32), values[j], j

    return jax.vmap(one)(jr.split(key, n_pairs.shape[0]), n_pairs)


def _query_logits(model: GPT, tokens, n_pairs):
    return jax.vmap(lambda t, p: model(t)[2 * p])(tokens, n_pairs)


def _loss(model: GPT, tokens, targets, n_pairs):
    logits = _query_logits(model, tokens, n_pairs)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, targets).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == targets)


def train_recall(cfg: RecallConfig = RecallConfig(), *, progress: bool = False) -> tuple[GPT, dict]:
    """Train a GPT on in-context recall; returns (model, history with loss and accuracy
    every 100 steps). Runs in chunks of 100 steps, each one `lax.scan` inside `jit`."""
    init_key, data_key = jr.split(jr.key(cfg.seed))
    model = GPT(cfg.model_config(), key=init_key)
    optimizer = optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    opt_state = optimizer.init(params)

    @jax.jit
    def chunk(params, opt_state, key):
        def step(carry, k):
            params, opt_state = carry
            kp, ks = jr.split(k)
            n_pairs = jr.randint(kp, (cfg.batch_size,), 1, cfg.train_pairs + 1)
            tokens, targets, _ = recall_sequences(ks, cfg, n_pairs)
            (loss, acc), grads = jax.value_and_grad(
                lambda p: _loss(eqx.combine(p, static), tokens, targets, n_pairs), has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), (loss, acc)

        (params, opt_state), (loss, acc) = jax.lax.scan(step, (params, opt_state), jr.split(key, 100))
        return params, opt_state, loss.mean(), acc.mean()

    n_chunks = -(-cfg.steps // 100)
    history = {"step": [], "loss": [], "accuracy": []}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks * 100, desc="recall transformer", unit="step")
    for c in range(n_chunks):
        params, opt_state, loss, acc = chunk(params, opt_state, jr.fold_in(data_key, c))
        history["step"].append((c + 1) * 100)
        history["loss"].append(float(loss))
        history["accuracy"].append(float(acc))
        if bar is not None:
            bar.update(100)
            bar.set_postfix(loss=f"{float(loss):.3f}", acc=f"{float(acc):.2f}")
    if bar is not None:
        bar.close()
    return eqx.combine(params, static), history


def recall_accuracy(
    model: GPT, cfg: RecallConfig, key: PRNGKeyArray, n_pairs=None, n_sequences: int = 512
) -> dict[int, float]:
    """Accuracy of the last-token prediction vs the number of pairs P in context."""
    n_pairs = list(range(1, cfg.max_pairs + 1)) if n_pairs is None else [int(p) for p in n_pairs]
    bad = [p for p in n_pairs if not 1 <= p <= cfg.max_pairs]
    if bad:
        raise ValueError(f"recall_accuracy: n_pairs must lie in [1, max_pairs={cfg.max_pairs}], got {bad}")

    keys = jnp.stack([jr.fold_in(key, p) for p in n_pairs])
    acc = _accuracy_per_p(model, cfg, keys, jnp.asarray(n_pairs), int(n_sequences))
    return dict(zip(n_pairs, np.asarray(acc).tolist()))


@eqx.filter_jit
def _accuracy_per_p(model: GPT, cfg: RecallConfig, keys, n_pairs: Int[Array, " ps"], n_sequences: int):
    """Query accuracy of `n_sequences` fresh sequences for each P: one compiled program for
    every P (the model is an argument, not a closed-over constant; `lax.map`, not `vmap`:
    a batched P makes every position index a gather and doubles the compile time)."""

    def one(args):
        k, p = args
        n = jnp.full((n_sequences,), p)
        tokens, targets, _ = recall_sequences(k, cfg, n)
        return _loss(model, tokens, targets, n)[1]

    return jax.lax.map(one, (keys, n_pairs))


def recall_attention(
    model: GPT, cfg: RecallConfig, key: PRNGKeyArray, n_pairs: int, *, n_sequences: int = 256,
    beta: float = 8.0,
) -> dict:
    """Last-layer attention from the query, per pair, next to modern-Hopfield retrieval.

    For each head h of the last layer, a_h[b, i] = attention of the query position on
    pair i (its key and value tokens summed). The recall head is the head with the largest
    mean a_h on the queried pair. The Hopfield weights are softmax(β Kq) with the P keys
    stored as one-hot patterns and the query key as the cue (Ramsauer et al. 2020; a
    transformer's attention with K = stored keys).

    Returns a dict: recall_head, attention on the queried pair (mean), Hopfield weight on
    it, mean total-variation distance between the two distributions over pairs, accuracy,
    and one example (per-pair attention and Hopfield weights).
    """
    p = int(n_pairs)
    if not 1 <= p <= cfg.max_pairs:
        raise ValueError(f"recall_attention: n_pairs must lie in [1, {cfg.max_pairs}], got {n_pairs}")
    head, on_match, hopfield, j, head_pairs, tv, acc = _query_attention(
        model, cfg, key, p, int(n_sequences), jnp.asarray(beta, jnp.float32))
    head = int(head)
    return {
        "n_pairs": p,
        "recall_head": head,
        "attention_on_match": float(on_match[:, head].mean()),
        "attention_on_match_per_head": np.asarray(on_match.mean(0)).round(4).tolist(),
        "hopfield_weight_on_match": float(jnp.take_along_axis(hopfield, j[:, None], -1).mean()),
        "total_variation": float(tv.mean()),
        "accuracy": float(acc),
        "example_attention": np.asarray(head_pairs[0]).tolist(),
        "example_hopfield": np.asarray(hopfield[0]).tolist(),
        "example_match": int(j[0]),
    }


@eqx.filter_jit
def _query_attention(model: GPT, cfg: RecallConfig, key, p: int, n_sequences: int, beta):
    """The arrays of `recall_attention`, as one compiled program."""
    tokens, targets, j = recall_sequences(key, cfg, jnp.full((n_sequences,), p))
    logits, weights = jax.vmap(lambda t: model(t, return_attention=True))(tokens)
    last = weights[:, -1, :, 2 * p, :]  # (batch, heads, seq): last layer, query row
    real = last[:, :, : 2 * p].reshape(n_sequences, cfg.n_heads, p, 2).sum(-1)
    on_match = jnp.take_along_axis(real, j[:, None, None], -1)[..., 0]  # (batch, heads)
    head = jnp.argmax(on_match.mean(0))
    keys = tokens[:, : 2 * p: 2]  # (batch, P)
    one_hot = jax.nn.one_hot(keys, cfg.vocab_size)
    query = jax.nn.one_hot(tokens[:, 2 * p], cfg.vocab_size)
    hopfield = jax.nn.softmax(beta * jnp.einsum("bpv,bv->bp", one_hot, query), -1)
    head_pairs = real[:, head] / jnp.sum(real[:, head], -1, keepdims=True)
    tv = 0.5 * jnp.abs(head_pairs - hopfield).sum(-1)
    acc = jnp.mean(jnp.argmax(logits[:, 2 * p], -1) == targets)
    return head, on_match, hopfield, j, head_pairs, tv, acc
