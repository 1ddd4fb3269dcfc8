"""Model 5: one attention head used as an associative memory.

Attention(Q, K, V) = softmax(Q Kᵀ · scale) V (Vaswani et al. 2017, eq. 1), computed by
`neurodyn.attention.dot_product_attention` — the very function the transformer uses — with
the cue as the query Q, the stored patterns as both keys K and values V, padding masked
out and scale = β/N. This is one update of the modern continuous Hopfield network
(Ramsauer et al. 2020, ξ_new = X softmax(β' Xᵀ ξ), β' = β/N), i.e.
`UniversalHopfield("dot", "softmax", β)` of `dense.py`; the tests check the two agree to
float rounding. The stored representation is the key/value cache: P·N floats.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._checks import check_int
from ..attention import dot_product_attention
from .dense import AbstractPatternStoreMemory, PatternStore, as_beta, beta_text, check_beta, fixed_step_retrieval
from .harness import Retrieval


class AttentionMemory(AbstractPatternStoreMemory):
    """K = V = stored patterns, Q = cue, scale β/N; `n_steps` applications of the head.

    Fields:
        beta: inverse temperature per unit of x·q/N (scale = β/N), a float32 leaf (traced
            by jit: a sweep over β compiles once). Default 8, as `modern_hopfield`.
        n_steps: how many times the head is applied, the output fed back as the query.
    """

    beta: Float[ArrayLike, ""] = eqx.field(default=np.float32(8.0), converter=as_beta)
    n_steps: int = 1

    binary: ClassVar[bool] = False
    symmetric: ClassVar[bool] = False
    operation_unit: ClassVar[str] = "flop"

    def __check_init__(self):
        check_beta("AttentionMemory", self.beta)  # concrete here; traced: checked where used
        check_int("n_steps", self.n_steps, lower=1, owner="AttentionMemory")

    @property
    def label(self) -> str:
        return f"attention head β={beta_text(self.beta)}" + ("" if self.n_steps == 1 else f", {self.n_steps} steps")

    def attend(self, memory: PatternStore, query: Float[Array, " n"]):
        """(output, attention weights) of one application of the head."""
        n = memory.patterns.shape[-1]
        out, weights = dot_product_attention(
            query[None, :], memory.patterns, memory.patterns,
            scale=check_beta("AttentionMemory", self.beta) / n, mask=memory.mask[None, :],
        )
        return out[0], weights[0]

    def retrieve(self, memory: PatternStore, cue, key: PRNGKeyArray) -> Retrieval:
        del key
        return fixed_step_retrieval(lambda q: self.attend(memory, q)[0], memory, cue, self.n_steps)
