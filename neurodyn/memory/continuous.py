"""Model 2: the continuous graded-response Hopfield network (Hopfield 1984) run by `simulate`.

τ du/dt = −u + W tanh(λu), W = Hebbian (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal
(`neurodyn.hopfield.ContinuousHopfield`), integrated by `neurodyn.simulate` (Euler, fixed
dt) from u(0) = u₀·cue. The output is V = tanh(λu) at t1. With high gain λ its minima
approach the corners of the binary network with the same weights (Hopfield 1984), so its
capacity approaches the binary one (≈ 0.138 N for λ → ∞, Amit et al. 1985); at finite gain
the graded network holds fewer patterns.

Time to converge: the first recorded time after which sign(u) never changes again and V is
within 5 % (cosine ≥ 0.95) of its final value, in ms. Cost: each Euler step computes
W·V: 2N² FLOPs. Defaults: τ = 10 ms (`ContinuousHopfield`), λ = 4 (the retrieval
threshold λ·max eig(W) > 1 is passed at every load used here), dt = 0.5 ms (τ/20:
Euler is stable and accurate to a few % for these smooth flows), t1 = 100 ms (10 τ).
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import check_positive
from .._simulate import simulate
from ..hopfield import ContinuousHopfield
from .harness import AbstractMemory, Retrieval, overlap


class ContinuousMemory(AbstractMemory):
    """Graded-response Hopfield network simulated from the cue.

    Fields:
        gain: λ of V = tanh(λu). Default 4.
        tau: τ in ms. Default 10 ms.
        t1: simulated time in ms. Default 100 ms.
        dt: Euler step in ms. Default 0.5 ms.
        record_every: steps between recorded states (trajectory, time to converge).
        initial_scale: u(0) = initial_scale · cue. Default 0.5.
    """

    gain: float = 4.0
    tau: float = 10.0
    t1: float = 100.0
    dt: float = 0.5
    record_every: int = 4
    initial_scale: float = 0.5

    binary: ClassVar[bool] = False
    symmetric: ClassVar[bool] = True
    operation_unit: ClassVar[str] = "flop"

    def __check_init__(self):
        for name in ("gain", "tau", "t1", "dt", "initial_scale"):
            check_positive(name, getattr(self, name), owner="ContinuousMemory")
        steps = self.t1 / self.dt
        if abs(steps - round(steps)) > 1e-9 * steps or round(steps) % self.record_every:
            raise ValueError(
                f"ContinuousMemory: t1/dt = {steps:g} must be a whole number of steps divisible "
                f"by record_every = {self.record_every}"
            )

    @property
    def label(self) -> str:
        return f"continuous (1984) λ={self.gain:g}"

    def store(self, patterns, mask) -> Float[Array, "n n"]:
        x = jnp.where(mask[:, None], patterns, 0.0)
        w = x.T @ x / x.shape[1]
        return w * (1.0 - jnp.eye(w.shape[0], dtype=w.dtype))

    def retrieve(self, memory: Float[Array, "n n"], cue, key: PRNGKeyArray) -> Retrieval:
        del key
        net = ContinuousHopfield(weights=memory, tau=self.tau, gain=self.gain)
        res = simulate(net, t1=self.t1, dt=self.dt, record=("u",), record_every=self.record_every,
                       initial_state={"u": self.initial_scale * cue}, check=False)
        u = res.traces["u"]  # (records, N)
        v = jnp.tanh(self.gain * u)
        final = v[-1]
        settled = (jnp.all(jnp.sign(u) == jnp.sign(u[-1]), -1)) & (overlap(final, v) >= 0.95)
        # the first record from which every later record is settled
        later_all = jnp.flip(jnp.cumprod(jnp.flip(settled).astype(jnp.int32))).astype(bool)
        first = jnp.argmax(later_all)
        n_steps = round(self.t1 / self.dt)
        n = cue.shape[-1]
        return Retrieval(
            output=final,
            n_steps=jnp.asarray(n_steps),
            time_ms=res.times[first],
            operations=jnp.asarray(2.0 * n * n * n_steps, jnp.float32),
            converged=later_all[-2] if v.shape[0] > 1 else jnp.asarray(True),
            trajectory=v,
        )

    def memory_bytes(self, n_patterns: int, n_neurons: int) -> int:
        return 4 * n_neurons * n_neurons
