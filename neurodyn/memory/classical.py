"""Model 1: the classical binary Hopfield network (Hopfield 1982) as an `AbstractMemory`.

Adapts `neurodyn.hopfield`: Hebbian (Hopfield 1982) or Storkey (1997) weights, asynchronous
(one neuron at a time in a random order, a new order each sweep) or synchronous (Little)
zero-temperature dynamics, run until a sweep changes nothing or `max_sweeps`.

Hebbian weights are stored as the integer counts ξᵀξ (N times the rule, zero diagonal), as
`neurodyn.hopfield.capacity_curve` does: at T = 0 and θ = 0 a positive scale leaves every
sign(h) unchanged and integer fields are exact in float32, so the ties h = 0 are kept as the
rule says rather than decided by rounding. Capacity with random patterns: α_c = 0.138
(Amit, Gutfreund & Sompolinsky 1985); Storkey's rule stores more.

Cost: a sweep (or a synchronous step) computes N local fields of N terms: 2N² FLOPs. The
asynchronous runs use `neurodyn.hopfield`'s exact event-skipping loop (same final states
as visiting every neuron), so their wall time is lower than the nominal count.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, PRNGKeyArray

from .._checks import check_int
from ..hopfield import ClassicalHopfield, storkey
from ..hopfield.classical import _run_async_zero_temperature, _run_one
from .harness import AbstractMemory, Retrieval

RULES = ("hebbian", "storkey")


class ClassicalMemory(AbstractMemory):
    """Binary Hopfield network with a learning rule and a kind of dynamics.

    Fields:
        rule: "hebbian" or "storkey".
        synchronous: update all neurons at once (may end in 2-cycles) instead of
            asynchronously in a random order.
        max_sweeps: sweep (or step) limit per retrieval.
    """

    rule: str = "hebbian"
    synchronous: bool = False
    max_sweeps: int = 100

    binary: ClassVar[bool] = True
    symmetric: ClassVar[bool] = True
    operation_unit: ClassVar[str] = "flop"
    sequential_cues: ClassVar[bool] = True

    def __check_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"ClassicalMemory: rule must be one of {RULES}, got {self.rule!r}")
        check_int("max_sweeps", self.max_sweeps, lower=1, owner="ClassicalMemory")

    @property
    def label(self) -> str:
        return f"classical {self.rule}, {'sync' if self.synchronous else 'async'}"

    def store(self, patterns: Float[Array, "p n"], mask: Bool[Array, " p"]) -> Float[Array, "n n"]:
        x = jnp.where(mask[:, None], patterns, 0.0)  # a zero row adds nothing to either rule
        if self.rule == "storkey":
            return storkey(x)
        w = x.T @ x
        return w * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))

    def retrieve(self, memory: Float[Array, "n n"], cue: Float[Array, " n"], key: PRNGKeyArray) -> Retrieval:
        net = ClassicalHopfield(memory)
        if self.synchronous:
            out = _run_one(net, cue, key, self.max_sweeps, True, jnp.asarray(0.0, cue.dtype))
        else:
            out = _run_async_zero_temperature(net, cue, key, self.max_sweeps)
        n = cue.shape[-1]
        return Retrieval(
            output=out.state,
            n_steps=out.n_sweeps,
            time_ms=jnp.asarray(jnp.nan, jnp.float32),
            operations=2.0 * n * n * out.n_sweeps.astype(jnp.float32),
            converged=out.converged,
        )

    def memory_bytes(self, n_patterns: int, n_neurons: int) -> int:
        return 4 * n_neurons * n_neurons
