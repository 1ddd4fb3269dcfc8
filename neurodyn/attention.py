"""The one attention function, shared by the modern Hopfield network and the transformer.

Attention(Q, K, V) = softmax(Q Kᵀ · scale + mask) V   (Vaswani et al. 2017, eq. 1)

With Q = ξ (state patterns), K = V = X (stored patterns) and scale = β this is one update
of the modern continuous Hopfield network (Ramsauer et al. 2020).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float


def dot_product_attention(
    query: Float[Array, "... q d_k"],
    key: Float[Array, "... k d_k"],
    value: Float[Array, "... k d_v"],
    *,
    scale: float | Float[Array, ""] | None = None,
    mask: Bool[Array, "... q k"] | None = None,
) -> tuple[Float[Array, "... q d_v"], Float[Array, "... q k"]]:
    """Scaled dot-product attention.

    Arguments:
        query, key, value: arrays whose last two axes are (positions, features).
        scale: multiplies the logits; defaults to 1/sqrt(d_k).
        mask: True where attention is allowed; masked logits get -inf before softmax.

    Returns:
        (output, weights): the attended values and the attention weights (rows sum to 1).
    """
    if scale is None:
        scale = 1.0 / jnp.sqrt(query.shape[-1]).astype(query.dtype)
    logits = jnp.einsum("...qd,...kd->...qk", query, key) * scale
    if mask is not None:
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    weights = jax.nn.softmax(logits, axis=-1)
    return jnp.einsum("...qk,...kd->...qd", weights, value), weights
