"""Model 4: dense associative memories, seen through the Universal Hopfield Networks lens.

Universal Hopfield Networks (Millidge, Salvatori, Song, Lukasiewicz & Bogacz 2022, ICML):
a single-shot associative memory is

    z = P · sep(sim(X, q))          (projection ∘ separation ∘ similarity)

with the stored patterns X (rows x_μ) as keys and as the projection. `UniversalHopfield`
implements the grid of that paper:

    similarity s_μ (larger = more similar):
        "dot"        x_μ·q / N
        "euclidean"  −‖x_μ − q‖₂ / √N
        "manhattan"  −‖x_μ − q‖₁ / N
    separation w_μ:
        "identity"   s_μ                               (dot: the classical Hebbian field)
        "polynomial" (s_μ − min_ν s_ν)^n                (shifted ≥ 0 so any similarity and
                                                         any degree rank patterns the same)
        "softmax"    exp(β s_μ) / Σ_ν exp(β s_ν)
        "max"        1 at argmax_μ s_μ, else 0
    output z = Σ_μ w_μ x_μ / Σ_μ |w_μ|  (the normalisation changes no overlap: cosines)

The scaling of s by N (or √N) makes β comparable across dimensions; β is per unit of that
similarity. β is an array leaf of the model, not static configuration: a sweep over β
re-uses one compiled program, and β can be vmapped over or differentiated. dot + softmax
is the modern continuous Hopfield network (Ramsauer et al. 2020, ξ_new = X softmax(β' Xᵀξ)
with β' = β/N) and one attention head; "euclidean"/"manhattan" with softmax retrieved
better than dot product on image data in Millidge et al. (2022).
Iterating (n_steps > 1) feeds z back as q. Padding rows (mask False) get weight 0.

`DenseAssociativeMemory` is the binary dense associative memory of Krotov & Hopfield
(2016, NeurIPS), energy E = −Σ_μ F(ξ^μ·σ) with F(x) = x^n, updated by

    σ_i ← sign( Σ_μ [F(ξ_i^μ + Σ_{j≠i} ξ_j^μ σ_j) − F(−ξ_i^μ + Σ_{j≠i} ξ_j^μ σ_j)] )

(all neurons at once here; Krotov & Hopfield update one at a time). n = 2 is the classical
Hebbian network; its capacity grows as N^{n−1} (K_max ≈ N^{n−1} / (2 (2n−3)!! ln N) for
error-free retrieval, their eq. 6), so for n ≥ 3 it stores P ≫ N patterns.
"""

from __future__ import annotations

import numbers
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._checks import check_int, check_positive, concrete
from .harness import AbstractMemory, Retrieval

SIMILARITIES = ("dot", "euclidean", "manhattan")
SEPARATIONS = ("identity", "polynomial", "softmax", "max")


def similarity(kind: str, patterns: Float[Array, "p n"], query: Float[Array, " n"]) -> Float[Array, " p"]:
    """s_μ = sim(x_μ, q), larger = more similar (see the module docstring)."""
    n = patterns.shape[-1]
    if kind == "dot":
        return patterns @ query / n
    diff = patterns - query
    if kind == "euclidean":
        return -jnp.sqrt(jnp.sum(diff * diff, -1) + 1e-30) / jnp.sqrt(n)
    if kind == "manhattan":
        return -jnp.sum(jnp.abs(diff), -1) / n
    raise ValueError(f"similarity must be one of {SIMILARITIES}, got {kind!r}")


def separation(
    kind: str, scores: Float[Array, " p"], mask: Bool[Array, " p"], beta: Float[ArrayLike, ""] = 1.0,
    degree: int = 2,
) -> Float[Array, " p"]:
    """w = sep(s) over the real patterns (mask True); padding gets exactly 0."""
    if kind == "identity":
        return jnp.where(mask, scores, 0.0)
    if kind == "polynomial":
        low = jnp.min(jnp.where(mask, scores, jnp.inf))
        return jnp.where(mask, (scores - low) ** degree, 0.0)
    if kind == "softmax":
        logits = jnp.where(mask, beta * scores, -jnp.inf)
        return jax.nn.softmax(logits)
    if kind == "max":
        best = jnp.argmax(jnp.where(mask, scores, -jnp.inf))
        return jax.nn.one_hot(best, scores.shape[0], dtype=scores.dtype)
    raise ValueError(f"separation must be one of {SEPARATIONS}, got {kind!r}")


def as_beta(value):
    """An inverse temperature as an array leaf: a real number becomes `np.float32` (an
    array to `jit`, so changing β re-uses the compiled program, and the repr still shows
    its value); arrays and tracers (β vmapped over) pass unchanged, and anything else
    (strings, bools) is left for the check to refuse, never reinterpreted."""
    if isinstance(value, np.float32):
        return value  # the default object itself, so the repr hides it as a default
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return np.float32(value)
    return value


def check_beta(owner: str, beta):
    """β > 0 and finite: raised at construction when concrete, `eqx.error_if` when traced
    (returns β, to be used downstream of the check)."""
    if concrete(beta) is not None:
        check_positive("beta", beta, owner=owner)
        return beta
    return eqx.error_if(beta, ~(jnp.isfinite(beta) & (beta > 0)), f"{owner}.beta must be a finite number > 0")


def beta_text(beta) -> str:
    """β for a label: its value, or "traced" inside jit/vmap."""
    value = concrete(beta)
    return "traced" if value is None or value.ndim else f"{value.item():g}"


class PatternStore(eqx.Module):
    """The stored representation of pattern-store memories: the patterns and their mask."""

    patterns: Float[Array, "p n"]
    mask: Bool[Array, " p"]


class AbstractPatternStoreMemory(AbstractMemory):
    """A memory whose stored representation is the patterns themselves (P·N float32), as
    the Universal Hopfield, dense associative and attention-head memories keep them."""

    def store(self, patterns, mask) -> PatternStore:
        return PatternStore(jnp.where(mask[:, None], patterns, 0.0), mask)

    def memory_bytes(self, n_patterns: int, n_neurons: int) -> int:
        return 4 * n_patterns * n_neurons


class UniversalHopfield(AbstractPatternStoreMemory):
    """z = X · sep(sim(X, q)), iterated `n_steps` times (Millidge et al. 2022).

    Fields:
        similarity: "dot", "euclidean" or "manhattan".
        separation: "identity", "polynomial", "softmax" or "max".
        beta: softmax inverse temperature per unit of similarity (dot: β' = β/N in
            Ramsauer et al.'s units), a float32 leaf (traced by jit; see `as_beta`).
            Default 8, large enough that P = 16 N random patterns at N = 100 are
            retrieved from 10 %-flipped cues in one update (notebook 07).
        degree: polynomial degree n (default 2).
        n_steps: updates (1: single-shot retrieval, as in Millidge et al.).
    """

    similarity: str = "dot"
    separation: str = "softmax"
    beta: Float[ArrayLike, ""] = eqx.field(default=np.float32(8.0), converter=as_beta)
    degree: int = 2
    n_steps: int = 1

    binary: ClassVar[bool] = False
    symmetric: ClassVar[bool] = False
    operation_unit: ClassVar[str] = "flop"

    def __check_init__(self):
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"UniversalHopfield: similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.separation not in SEPARATIONS:
            raise ValueError(f"UniversalHopfield: separation must be one of {SEPARATIONS}, got {self.separation!r}")
        check_beta("UniversalHopfield", self.beta)  # concrete here; traced: checked where used
        check_int("degree", self.degree, lower=1, owner="UniversalHopfield")
        check_int("n_steps", self.n_steps, lower=1, owner="UniversalHopfield")

    @property
    def label(self) -> str:
        sep = {"polynomial": f"poly{self.degree}", "softmax": f"softmax β={beta_text(self.beta)}"}.get(
            self.separation, self.separation)
        steps = "" if self.n_steps == 1 else f", {self.n_steps} steps"
        return f"UHN {self.similarity}/{sep}{steps}"

    def update(self, memory: PatternStore, query: Float[Array, " n"]) -> Float[Array, " n"]:
        """One step z = Σ_μ w_μ x_μ / Σ_μ |w_μ|."""
        s = similarity(self.similarity, memory.patterns, query)
        beta = check_beta("UniversalHopfield", self.beta) if self.separation == "softmax" else self.beta
        w = separation(self.separation, s, memory.mask, beta, self.degree)
        total = jnp.sum(jnp.abs(w))
        return (w @ memory.patterns) / jnp.where(total > 0, total, 1.0)

    def retrieve(self, memory: PatternStore, cue, key: PRNGKeyArray) -> Retrieval:
        del key
        return fixed_step_retrieval(lambda q: self.update(memory, q), memory, cue, self.n_steps)


def fixed_step_retrieval(update, memory: PatternStore, cue, n_steps: int) -> Retrieval:
    """`n_steps` applications of `update` to the cue (a one-shot memory: no convergence test),
    with its trajectory; cost 4·P·N operations a step (similarity and projection)."""
    trajectory = lax.scan(lambda q, _: (update(q),) * 2, cue, None, length=n_steps)[1]
    p, n = memory.patterns.shape
    return Retrieval(
        output=trajectory[-1],
        n_steps=jnp.asarray(n_steps),
        time_ms=jnp.asarray(jnp.nan, jnp.float32),
        operations=jnp.asarray(4.0 * p * n * n_steps, jnp.float32),
        converged=jnp.asarray(True),
        trajectory=trajectory,
    )


def modern_hopfield(beta: Float[ArrayLike, ""] = 8.0, n_steps: int = 1) -> UniversalHopfield:
    """The exponential (Ramsauer et al. 2020) memory: dot similarity, softmax separation."""
    return UniversalHopfield("dot", "softmax", beta, 2, n_steps)


class DenseAssociativeMemory(AbstractPatternStoreMemory):
    """Krotov & Hopfield (2016) binary dense associative memory, F(x) = x^n.

    Fields:
        degree: n ≥ 2 (2 = classical Hebbian network). Default 3.
        max_steps: synchronous update limit; the run stops at the first step that changes
            nothing.
    """

    degree: int = 3
    max_steps: int = 10

    binary: ClassVar[bool] = True
    # odd n (the default 3): E(−σ) = −E(σ), a reversed pattern is an energy maximum, not a
    # stored state; for even n it is one and `spurious_rate` counts it as spurious here
    symmetric: ClassVar[bool] = False
    operation_unit: ClassVar[str] = "flop"

    def __check_init__(self):
        check_int("degree", self.degree, lower=2, owner="DenseAssociativeMemory")
        check_int("max_steps", self.max_steps, lower=1, owner="DenseAssociativeMemory")

    @property
    def label(self) -> str:
        return f"dense poly n={self.degree} (Krotov-Hopfield)"

    def update(self, memory: PatternStore, state: Float[Array, " n"]) -> Float[Array, " n"]:
        """One synchronous step of the Krotov–Hopfield rule (ties keep the neuron)."""
        x = memory.patterns  # (P, N); zero rows give F(0) − F(0) = 0
        rest = (x @ state)[:, None] - x * state[None, :]  # Σ_{j≠i} ξ_j^μ σ_j, (P, N)
        n = self.degree
        field = jnp.sum((x + rest) ** n - (-x + rest) ** n, axis=0)
        return jnp.where(field > 0, 1.0, jnp.where(field < 0, -1.0, state)).astype(state.dtype)

    def retrieve(self, memory: PatternStore, cue, key: PRNGKeyArray) -> Retrieval:
        del key

        def body(carry):
            step, state, _ = carry
            new = self.update(memory, state)
            return step + 1, new, jnp.any(new != state)

        steps, state, changed = lax.while_loop(
            lambda c: (c[0] < self.max_steps) & c[2], body, (jnp.asarray(0), cue, jnp.asarray(True))
        )
        p, n = memory.patterns.shape
        per_step = 2.0 * p * n + 4.0 * p * n * (self.degree + 1)
        return Retrieval(
            output=state,
            n_steps=steps,
            time_ms=jnp.asarray(jnp.nan, jnp.float32),
            operations=per_step * steps.astype(jnp.float32),
            converged=~changed,
        )
