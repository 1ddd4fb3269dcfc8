"""A decoder-only transformer (GPT) as Equinox modules, in one file.

The model of "Attention Is All You Need" (Vaswani et al. 2017) without the encoder, as in
GPT-2 (Radford et al. 2019) and nanoGPT, with pre-norm residual blocks:

    x_0   = s · W_E[tokens] + PE                      token embedding + positional encoding
    x'    = x + Dropout(MHA(LN_1(x)))                 causal multi-head self-attention
    x_out = x' + Dropout(MLP(LN_2(x')))               MLP(h) = act(h W_in + b_in) W_out + b_out
    logits = LN_f(x_L) W_U                            W_U = W_Eᵀ when weights are tied

    MHA(h) = Σ_heads softmax(Q Kᵀ / √d_head + causal mask) V W_O,   Q = h W_Q, K = h W_K, V = h W_V

The attention itself is `neurodyn.attention.dot_product_attention`, the function the modern
Hopfield network uses for its update (Ramsauer et al. 2020).

Sinusoidal positional encoding (Vaswani et al. 2017, section 3.5):
    PE(k, 2i) = sin(k / 10000^(2i/d_model)),   PE(k, 2i+1) = cos(k / 10000^(2i/d_model)).

With sinusoidal positions the embedding is scaled by s = √d_model and initialised with std
1/√d_model (Vaswani et al. 2017, section 3.4; tensor2tensor), so tokens and positions enter
with comparable size: with GPT-2's std-0.02 embeddings the fixed PE (entries of size ~1)
would swamp the token identity and training stalls. With learned positions s = 1 (GPT-2).

Modules act on one unbatched sequence `tokens: Int[Array, "seq"]`; a batch is `jax.vmap`.
Randomness (initialisation, dropout) comes from explicit keys.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from neurodyn._checks import check_int, check_number, check_positive
from neurodyn.attention import dot_product_attention


@dataclasses.dataclass(frozen=True)
class GPTConfig:
    """Sizes and switches of a GPT. Static (hashable): it never becomes a tracer.

    Attributes:
        vocab_size: number of token ids (a byte-level BPE has at least 256).
        context_length: longest sequence the model accepts (positions 0..context_length-1).
        d_model: width of the residual stream.
        n_heads: attention heads per layer.
        n_layers: number of residual blocks.
        d_head: width of each head; default d_model // n_heads.
        d_mlp: hidden width of the MLP; default 4 * d_model.
        activation: "gelu" (GPT-2) or "relu" (Vaswani et al.; Nanda et al. 2023).
        layer_norm: pre-norm LayerNorm before attention, MLP and unembedding; False for none.
        positional: "sinusoidal" (fixed, Vaswani et al.) or "learned" (GPT-2).
        dropout: dropout probability on attention/MLP outputs and embeddings, in [0, 1).
        tie_weights: use the token embedding as the unembedding (W_U = W_Eᵀ).
        init_std: standard deviation of the normal initialisation of weight matrices;
            residual output projections are scaled by 1/√(2 n_layers) as in GPT-2.
    """

    vocab_size: int
    context_length: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_head: int | None = None
    d_mlp: int | None = None
    activation: Literal["gelu", "relu"] = "gelu"
    layer_norm: bool = True
    positional: Literal["sinusoidal", "learned"] = "sinusoidal"
    dropout: float = 0.0
    tie_weights: bool = False
    init_std: float = 0.02

    def __post_init__(self):
        for name in ("vocab_size", "context_length", "d_model", "n_heads", "n_layers"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lower=1, owner="GPTConfig"))  # NumPy ints -> int
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(
                    f"GPTConfig.d_model={self.d_model} is not divisible by n_heads="
                    f"{self.n_heads}; give d_head explicitly"
                )
            object.__setattr__(self, "d_head", self.d_model // self.n_heads)
        if self.d_mlp is None:
            object.__setattr__(self, "d_mlp", 4 * self.d_model)
        for name in ("d_head", "d_mlp"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lower=1, owner="GPTConfig"))  # NumPy ints -> int
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"GPTConfig.activation must be 'gelu' or 'relu', got {self.activation!r}")
        if self.positional not in ("sinusoidal", "learned"):
            raise ValueError(
                f"GPTConfig.positional must be 'sinusoidal' or 'learned', got {self.positional!r}"
            )
        if self.positional == "sinusoidal" and self.d_model % 2:
            raise ValueError(
                f"GPTConfig.d_model must be even for sinusoidal positions, got {self.d_model}"
            )
        if not 0.0 <= check_number("dropout", self.dropout, owner="GPTConfig") < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout!r}")
        check_positive("init_std", self.init_std, owner="GPTConfig")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        return cls(**d)


def sinusoidal_positional_encoding(
    context_length: int, d_model: int
) -> Float[np.ndarray, "pos d_model"]:
    """PE(k, 2i) = sin(k / 10000^(2i/d)), PE(k, 2i+1) = cos(k / 10000^(2i/d)) (Vaswani 2017).

    Computed with NumPy in float64, then cast to float32: a constant, not a parameter.
    """
    k = np.arange(context_length)[:, None]
    two_i = np.arange(0, d_model, 2)[None, :]
    angle = k / 10000.0 ** (two_i / d_model)
    pe = np.zeros((context_length, d_model))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle)
    return pe.astype(np.float32)


def causal_mask(n_query: int, n_key: int) -> Bool[Array, "q k"]:
    """True where query i may attend to key j: j <= i (queries are the last n_query keys)."""
    offset = n_key - n_query
    return jnp.arange(n_key)[None, :] <= (jnp.arange(n_query)[:, None] + offset)



class LayerNorm(eqx.Module):
    """LN(x) = (x - mean) / sqrt(var + eps) * gamma + beta over the feature axis (Ba et al. 2016)."""

    gamma: Float[Array, " d_model"]
    beta: Float[Array, " d_model"]
    eps: float = eqx.field(static=True, default=1e-5)

    def __init__(self, d_model: int, eps: float = 1e-5):
        self.gamma = jnp.ones(d_model)
        self.beta = jnp.zeros(d_model)
        self.eps = eps

    def __call__(self, x: Float[Array, "seq d_model"]) -> Float[Array, "seq d_model"]:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + self.eps) * self.gamma + self.beta


class NoNorm(eqx.Module):
    """No normalisation: stands where a LayerNorm would when config.layer_norm is False
    (named apart from `neurodyn.fit.Identity`, the identity parameter transform)."""

    def __call__(self, x):
        return x


class CausalSelfAttention(eqx.Module):
    """Multi-head causal self-attention (Vaswani 2017, section 3.2.2).

    head_h = Attention(x W_Q^h, x W_K^h, x W_V^h) with a lower-triangular mask;
    output = Σ_h head_h W_O^h + b_O.
    """

    w_q: Float[Array, "heads d_model d_head"]
    w_k: Float[Array, "heads d_model d_head"]
    w_v: Float[Array, "heads d_model d_head"]
    b_q: Float[Array, "heads d_head"]
    b_k: Float[Array, "heads d_head"]
    b_v: Float[Array, "heads d_head"]
    w_o: Float[Array, "heads d_head d_model"]
    b_o: Float[Array, " d_model"]

    def __init__(self, config: GPTConfig, *, key: PRNGKeyArray):
        kq, kk, kv, ko = jax.random.split(key, 4)
        h, d, dh = config.n_heads, config.d_model, config.d_head
        std = config.init_std
        self.w_q = std * jax.random.normal(kq, (h, d, dh))
        self.w_k = std * jax.random.normal(kk, (h, d, dh))
        self.w_v = std * jax.random.normal(kv, (h, d, dh))
        self.b_q = jnp.zeros((h, dh))
        self.b_k = jnp.zeros((h, dh))
        self.b_v = jnp.zeros((h, dh))
        self.w_o = std / math.sqrt(2 * config.n_layers) * jax.random.normal(ko, (h, dh, d))
        self.b_o = jnp.zeros(d)

    def __call__(
        self, x: Float[Array, "seq d_model"], *, last_only: bool = False
    ) -> tuple[Float[Array, "q d_model"], Float[Array, "heads q seq"]]:
        """Attend; with last_only, only the last position queries (q = 1), as when only
        the next-token logits are needed. Returns (output, attention weights)."""
        xq = x[-1:] if last_only else x
        q = jnp.einsum("td,hde->hte", xq, self.w_q) + self.b_q[:, None]
        k = jnp.einsum("td,hde->hte", x, self.w_k) + self.b_k[:, None]
        v = jnp.einsum("td,hde->hte", x, self.w_v) + self.b_v[:, None]
        mask = causal_mask(xq.shape[0], x.shape[0])
        heads, weights = dot_product_attention(q, k, v, mask=mask)
        return jnp.einsum("hte,hed->td", heads, self.w_o) + self.b_o, weights


class MLP(eqx.Module):
    """MLP(h) = act(h W_in + b_in) W_out + b_out, act = ReLU or GELU."""

    w_in: Float[Array, "d_model d_mlp"]
    b_in: Float[Array, " d_mlp"]
    w_out: Float[Array, "d_mlp d_model"]
    b_out: Float[Array, " d_model"]
    activation: str = eqx.field(static=True)

    def __init__(self, config: GPTConfig, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        std = config.init_std
        self.w_in = std * jax.random.normal(k1, (config.d_model, config.d_mlp))
        self.b_in = jnp.zeros(config.d_mlp)
        self.w_out = std / math.sqrt(2 * config.n_layers) * jax.random.normal(
            k2, (config.d_mlp, config.d_model)
        )
        self.b_out = jnp.zeros(config.d_model)
        self.activation = config.activation

    def __call__(self, x: Float[Array, "seq d_model"]) -> Float[Array, "seq d_model"]:
        h = x @ self.w_in + self.b_in
        h = jax.nn.relu(h) if self.activation == "relu" else jax.nn.gelu(h, approximate=True)
        return h @ self.w_out + self.b_out


class Block(eqx.Module):
    """Pre-norm residual block: x + Attn(LN(x)), then + MLP(LN(·)), with dropout."""

    ln_1: LayerNorm | NoNorm
    attn: CausalSelfAttention
    ln_2: LayerNorm | NoNorm
    mlp: MLP
    dropout: eqx.nn.Dropout

    def __init__(self, config: GPTConfig, *, key: PRNGKeyArray):
        ka, km = jax.random.split(key)
        norm = (lambda: LayerNorm(config.d_model)) if config.layer_norm else NoNorm
        self.ln_1 = norm()
        self.attn = CausalSelfAttention(config, key=ka)
        self.ln_2 = norm()
        self.mlp = MLP(config, key=km)
        self.dropout = eqx.nn.Dropout(config.dropout)

    def __call__(
        self,
        x: Float[Array, "seq d_model"],
        *,
        key: PRNGKeyArray | None = None,
        last_only: bool = False,
    ) -> tuple[Float[Array, "q d_model"], Float[Array, "heads q seq"]]:
        k1, k2 = (None, None) if key is None else jax.random.split(key)
        inference = key is None
        a, weights = self.attn(self.ln_1(x), last_only=last_only)
        x = (x[-1:] if last_only else x) + self.dropout(a, key=k1, inference=inference)
        x = x + self.dropout(self.mlp(self.ln_2(x)), key=k2, inference=inference)
        return x, weights


class GPT(eqx.Module):
    """Decoder-only transformer: embeddings, `n_layers` blocks, final norm, unembedding.

    Call it on one sequence of token ids to get next-token logits at every position:

        model = GPT(GPTConfig(vocab_size=512, context_length=64), key=jax.random.key(0))
        logits = model(tokens)                              # (seq, vocab)
        logits = model(tokens, key=k)                       # training mode (dropout on)
        logits, attn = model(tokens, return_attention=True) # attn: (layers, heads, seq, seq)

    Errors: a sequence longer than `context_length` raises ValueError at trace time;
    token ids outside [0, vocab_size) raise an `EqxRuntimeError` (checked with
    `eqx.error_if`, so also inside jit).
    """

    token_embedding: Float[Array, "vocab d_model"]
    position_embedding: Float[Array, "context d_model"] | None
    blocks: tuple[Block, ...]
    ln_f: LayerNorm | NoNorm
    unembedding: Float[Array, "d_model vocab"] | None
    dropout: eqx.nn.Dropout
    config: GPTConfig = eqx.field(static=True)

    def __init__(self, config: GPTConfig, *, key: PRNGKeyArray):
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        ke, kp, ku, kb = jax.random.split(key, 4)
        std = config.init_std
        self.config = config
        emb_std = std if config.positional == "learned" else config.d_model**-0.5
        self.token_embedding = emb_std * jax.random.normal(ke, (config.vocab_size, config.d_model))
        self.position_embedding = (
            std * jax.random.normal(kp, (config.context_length, config.d_model))
            if config.positional == "learned"
            else None
        )
        self.blocks = tuple(
            Block(config, key=k) for k in jax.random.split(kb, config.n_layers)
        )
        self.ln_f = LayerNorm(config.d_model) if config.layer_norm else NoNorm()
        self.unembedding = (
            None
            if config.tie_weights
            else std * jax.random.normal(ku, (config.d_model, config.vocab_size))
        )
        self.dropout = eqx.nn.Dropout(config.dropout)

    def _check_tokens(self, tokens: Int[Array, " seq"]) -> Int[Array, " seq"]:
        cfg = self.config
        if tokens.ndim != 1:
            raise ValueError(
                f"tokens must be a 1-D sequence of ids (use jax.vmap for a batch), "
                f"got shape {tokens.shape}"
            )
        if not jnp.issubdtype(tokens.dtype, jnp.integer):
            raise TypeError(f"tokens must be integer ids, got dtype {tokens.dtype}")
        n = tokens.shape[0]
        if not 1 <= n <= cfg.context_length:
            raise ValueError(
                f"tokens has length {n}, but the sequence length must be in "
                f"[1, context_length={cfg.context_length}]"
            )
        return eqx.error_if(
            tokens,
            (tokens < 0) | (tokens >= cfg.vocab_size),
            f"token ids must be in [0, vocab_size={cfg.vocab_size})",
        )

    def embed(
        self, tokens: Int[Array, " seq"], *, key: PRNGKeyArray | None = None
    ) -> Float[Array, "seq d_model"]:
        """x_0 = s · W_E[tokens] + PE[:seq], s = √d_model for sinusoidal PE, else 1
        (dropout applied when a key is given)."""
        tokens = self._check_tokens(tokens)
        n = tokens.shape[0]
        x = self.token_embedding[tokens]
        if self.position_embedding is None:
            x = x * math.sqrt(self.config.d_model) + sinusoidal_positional_encoding(n, self.config.d_model)
        else:
            x = x + self.position_embedding[:n]
        return self.dropout(x, key=key, inference=key is None)

    def features(
        self,
        tokens: Int[Array, " seq"],
        *,
        key: PRNGKeyArray | None = None,
        last_only: bool = False,
    ) -> tuple[Float[Array, "q d_model"], Float[Array, "layers heads q seq"] | list]:
        """Final-norm residual stream LN_f(x_L) and each layer's attention weights.

        With last_only, the last block computes only the final position (exact, because
        attention is causal), so the MLP and unembedding run on one row instead of seq.
        """
        keys = [None] * (len(self.blocks) + 1) if key is None else jax.random.split(key, len(self.blocks) + 1)
        x = self.embed(tokens, key=keys[0])
        weights = []
        for i, block in enumerate(self.blocks):
            is_last = i == len(self.blocks) - 1
            x, w = block(x, key=keys[i + 1], last_only=last_only and is_last)
            weights.append(w)
        return self.ln_f(x), weights

    def unembed(self, h: Float[Array, "... d_model"]) -> Float[Array, "... vocab"]:
        """logits = h W_U (W_U = W_Eᵀ when tied)."""
        w_u = self.token_embedding.T if self.unembedding is None else self.unembedding
        return h @ w_u

    def __call__(
        self,
        tokens: Int[Array, " seq"],
        *,
        key: PRNGKeyArray | None = None,
        last_only: bool = False,
        return_attention: bool = False,
    ):
        """Next-token logits (seq, vocab), or (1, vocab) with last_only.

        Arguments:
            tokens: ids in [0, vocab_size), length in [1, context_length].
            key: PRNG key for dropout; None means inference (no dropout).
            last_only: compute only the last position's logits.
            return_attention: also return attention weights; with last_only=False they
                stack to (layers, heads, seq, seq).
        """
        h, weights = self.features(tokens, key=key, last_only=last_only)
        logits = self.unembed(h)
        if return_attention:
            if not last_only:
                weights = jnp.stack(weights)
            return logits, weights
        return logits


def count_parameters(model: PyTree) -> int:
    """Number of trainable scalars (all floating-point arrays) in a model."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    return int(sum(x.size for x in leaves))


def cross_entropy(
    logits: Float[Array, "... vocab"], targets: Int[Array, "..."]
) -> Float[Array, ""]:
    """Mean of -log softmax(logits)[target] (the language-modelling loss, in nats)."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1).mean()
