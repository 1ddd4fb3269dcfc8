"""Modern continuous Hopfield network (Ramsauer et al. 2020, "Hopfield Networks is All You Need").

Stored patterns x_1 … x_P ∈ R^d are the rows of `patterns` (Xᵀ in the paper's notation,
where X = (x_1, …, x_P) is d × P). A state (query) pattern ξ ∈ R^d is updated by

    ξ_new = X softmax(β Xᵀ ξ)                                         (eq. 3)

which decreases the energy

    E(ξ) = −lse(β, Xᵀ ξ) + ½ ξᵀ ξ + β⁻¹ log P + ½ M²,                 (eq. 2)
    lse(β, z) = β⁻¹ log Σ_μ exp(β z_μ),  M = max_μ ‖x_μ‖.

The update is one head of transformer attention, Attention(Q, K, V) = softmax(β Q Kᵀ) V,
with Q = ξᵀ (one row per query), K = V = Xᵀ = `patterns` and scale β (β = 1/√d_k in
"Attention Is All You Need"); it is computed here by `neurodyn.attention`, the function
the transformer uses.

Retrieval: if pattern x_μ is well separated from the others,
    Δ_μ = x_μᵀ x_μ − max_{ν≠μ} x_μᵀ x_ν ≥ 2/(βP) + β⁻¹ log(2 (P − 1) P β M²)   (Theorem 3)
then one update from a cue near x_μ lands exponentially close to x_μ. For small β the
fixed point is a metastable average of many patterns (β → 0: the mean of all patterns).
The number of retrievable random patterns grows exponentially with d (Theorem 4).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_finite_array, check_last_dim, check_ndim, check_positive
from ..attention import dot_product_attention


class ModernHopfield(eqx.Module):
    """Modern continuous Hopfield network: stored patterns and inverse temperature β.

    Fields:
        patterns: (P, d) stored patterns, one per row (K = V in attention terms).
        beta: inverse temperature β > 0 (the attention scale).

    Example:
        >>> net = ModernHopfield(patterns, beta=8.0 / patterns.shape[1])
        >>> xi_new = net.update(cue)              # one update = one attention head
    """

    patterns: Float[Array, "n_patterns dim"]
    beta: Float[ArrayLike, ""]

    def __init__(self, patterns: Float[ArrayLike, "n_patterns dim"], beta: Float[ArrayLike, ""] = 1.0):
        check_ndim("patterns", patterns, (2,), "(n_patterns, dim)", owner="ModernHopfield")
        check_finite_array("patterns", patterns, owner="ModernHopfield")
        check_positive("beta", beta, owner="ModernHopfield")
        patterns = jnp.asarray(patterns)
        if not jnp.issubdtype(patterns.dtype, jnp.floating):
            patterns = patterns.astype(float)
        if patterns.shape[0] < 1:
            raise ValueError("ModernHopfield: patterns must hold at least one pattern, got 0")
        self.patterns = patterns
        self.beta = beta

    @property
    def n_patterns(self) -> int:
        return self.patterns.shape[0]

    @property
    def dim(self) -> int:
        return self.patterns.shape[1]

    def _check_query(self, query):
        check_last_dim("query", query, self.dim, "the pattern dimension d", owner="ModernHopfield")

    def attention_weights(self, query: Float[ArrayLike, "*batch dim"]) -> Float[Array, "*batch n_patterns"]:
        """p = softmax(β Xᵀ ξ): how much each stored pattern contributes to the update."""
        self._check_query(query)
        _, weights = self._attend(query)
        return weights

    def update(self, query: Float[ArrayLike, "*batch dim"]) -> Float[Array, "*batch dim"]:
        """One update ξ_new = X softmax(β Xᵀ ξ), computed as attention(Q=ξ, K=V=X, scale=β)."""
        self._check_query(query)
        new, _ = self._attend(query)
        return new

    def _attend(self, query):
        query = jnp.asarray(query, self.patterns.dtype)
        out, weights = dot_product_attention(
            query[..., None, :], self.patterns, self.patterns, scale=self.beta
        )
        return out[..., 0, :], weights[..., 0, :]

    def retrieve(self, query: Float[ArrayLike, "*batch dim"], n_steps: int = 1) -> Float[Array, "*batch dim"]:
        """Apply `n_steps` updates (one is usually enough) in a `lax.fori_loop`."""
        self._check_query(query)
        if int(n_steps) < 1:
            raise ValueError(f"ModernHopfield.retrieve: n_steps must be >= 1, got {n_steps}")
        query = jnp.asarray(query, self.patterns.dtype)
        return lax.fori_loop(0, int(n_steps), lambda _, q: self._attend(q)[0], query)

    def energy(self, query: Float[ArrayLike, "*batch dim"]) -> Float[Array, "*batch"]:
        """E(ξ) = −β⁻¹ log Σ_μ exp(β x_μᵀ ξ) + ½ ξᵀξ + β⁻¹ log P + ½ M² (eq. 2; E ≥ 0)."""
        self._check_query(query)
        query = jnp.asarray(query, self.patterns.dtype)
        scores = query @ self.patterns.T
        lse = jax.nn.logsumexp(self.beta * scores, axis=-1) / self.beta
        max_norm_sq = jnp.max(jnp.sum(self.patterns**2, -1))
        return (
            -lse
            + 0.5 * jnp.sum(query**2, -1)
            + jnp.log(self.n_patterns) / self.beta
            + 0.5 * max_norm_sq
        )


def update_reference(
    patterns: Float[ArrayLike, "n_patterns dim"], query: Float[ArrayLike, "dim"], beta: Float[ArrayLike, ""]
) -> Float[Array, " dim"]:
    """The update written literally as in Ramsauer et al. eq. 3, X softmax(β Xᵀ ξ).

    An independent reference for `ModernHopfield.update` (which goes through attention).
    """
    x = jnp.asarray(patterns, float).T  # d × P, the paper's X
    return x @ jax.nn.softmax(beta * (x.T @ jnp.asarray(query, float)))


def separation(patterns: Float[ArrayLike, "n_patterns dim"]) -> Float[Array, " n_patterns"]:
    """Δ_μ = x_μᵀ x_μ − max_{ν≠μ} x_μᵀ x_ν (Ramsauer et al. 2020, Def. 1)."""
    check_ndim("patterns", patterns, (2,), "(n_patterns, dim)", owner="separation")
    x = jnp.asarray(patterns, float)
    if x.shape[0] < 2:
        raise ValueError(f"separation: needs at least 2 patterns, got {x.shape[0]}")
    gram = x @ x.T
    others = jnp.where(jnp.eye(x.shape[0], dtype=bool), -jnp.inf, gram)
    return jnp.diag(gram) - jnp.max(others, axis=1)


def separation_threshold(
    beta: Float[ArrayLike, ""], n_patterns: int, max_norm: Float[ArrayLike, ""]
) -> Float[Array, ""]:
    """Sufficient separation for one-step retrieval: 2/(βP) + β⁻¹ log(2(P−1)PβM²) (Thm. 3)."""
    check_positive("beta", beta, owner="separation_threshold")
    p = n_patterns
    return 2.0 / (beta * p) + jnp.log(2.0 * (p - 1) * p * beta * max_norm**2) / beta
