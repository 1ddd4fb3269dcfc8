"""Continuous-time graded-response Hopfield network (Hopfield 1984), a neuron population.

Hopfield's circuit equations C_i du_i/dt = Σ_j T_ij V_j − u_i/R_i + I_i, V_i = g(u_i), with
R_i = 1 and C_i = τ (so that τ is the time constant in ms) and a symmetric odd gain function:

    τ du_i/dt = −u_i + Σ_j w_ij V_j + b_i + I_i(t),     V_i = g(u_i) = tanh(λ u_i)

Lyapunov energy (Hopfield 1984, eq. 7), for a constant input I:

    E = −½ Vᵀ W V − (b + I)ᵀ V + Σ_i ∫_0^{V_i} g⁻¹(x) dx
      = −½ Vᵀ W V − (b + I)ᵀ V + Σ_i [V_i u_i − log cosh(λ u_i) / λ]

and dE/dt = −τ Σ_i g'(u_i) (du_i/dt)² ≤ 0 when W is symmetric: the state flows downhill to
fixed points. As the gain λ → ∞ the minima approach the corners of the binary network
(`classical.py`) with the same weights.

The model is an `AbstractNeuron` (state {"u": membrane potential, one value per neuron}),
so it is integrated by `neurodyn.simulate` like every other neuron model:

    >>> net = ContinuousHopfield.from_patterns(patterns, gain=4.0)
    >>> res = neurodyn.simulate(net, t1=100.0, dt=0.1, solver=diffrax.Tsit5(),
    ...                         record=("u",), initial_state={"u": 0.1 * cue})
    >>> energies = net.energy({"u": res.traces["u"]})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, final

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_finite_array, check_ndim, concrete
from ..neurons.base import AbstractNeuron, State
from .classical import hebbian


@final
class ContinuousHopfield(AbstractNeuron):
    """Graded-response Hopfield network τ du/dt = −u + W tanh(λu) + b + I(t).

    Fields:
        weights: (N, N) symmetric coupling w_ij (dimensionless, drive per unit output).
        bias: b_i, constant drive in the units of u (scalar or one per neuron). Default 0.
        tau: membrane time constant τ in ms (= R·C in Hopfield 1984). Default 10 ms.
        gain: slope λ of the output tanh(λu) at 0. Default 4; retrieval of stored patterns
            needs λ·(largest eigenvalue of W) > 1 or the origin is the only attractor.
    """

    weights: Float[Array, "neurons neurons"]
    bias: Float[ArrayLike, "*neurons"] = 0.0
    tau: Float[ArrayLike, "*neurons"] = 10.0
    gain: Float[ArrayLike, ""] = 4.0

    state_names: ClassVar[tuple[str, ...]] = ("u",)
    noisy_variables: ClassVar[tuple[str, ...]] = ()
    populations: ClassVar[tuple[tuple[str, int, int], ...]] = ()

    def __check_init__(self):
        check_ndim("weights", self.weights, (2,), "(n_neurons, n_neurons)", owner="ContinuousHopfield")
        n = self.weights.shape[0]
        if self.weights.shape != (n, n):
            raise ValueError(
                f"ContinuousHopfield: weights must be square, got shape {self.weights.shape}"
            )
        check_finite_array("weights", self.weights, owner="ContinuousHopfield")
        for name in ("bias", "tau"):
            shape = np.shape(getattr(self, name))
            if shape not in ((), (n,)):
                raise ValueError(
                    f"ContinuousHopfield: {name} must be a scalar or have shape ({n},), "
                    f"got shape {shape}"
                )
        for name in ("tau", "gain"):
            value = concrete(getattr(self, name))
            if value is not None and not (np.all(np.isfinite(value)) and np.all(value > 0)):
                raise ValueError(
                    f"ContinuousHopfield: {name} must be finite and > 0, got {value}"
                )
        if np.ndim(self.gain) != 0:
            raise ValueError(
                f"ContinuousHopfield: gain must be a scalar, got shape {np.shape(self.gain)}"
            )
        w = concrete(self.weights)
        if w is not None and n:
            asym = float(np.max(np.abs(w - w.T)))
            if asym > 1e-5 * max(float(np.max(np.abs(w))), 1e-30):
                raise ValueError(
                    "ContinuousHopfield: weights must be symmetric (w_ij = w_ji) for the "
                    f"energy to be a Lyapunov function; got max |w_ij - w_ji| = {asym:.3g}"
                )

    @classmethod
    def from_patterns(
        cls,
        patterns: Float[ArrayLike, "patterns neurons"],
        rule: Callable[[Array], Array] = hebbian,
        **parameters,
    ) -> ContinuousHopfield:
        """Store ±1 patterns with a binary learning rule (`hebbian`, `storkey`)."""
        return cls(weights=rule(patterns), **parameters)

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        # The weight matrix is (N, N); report its neuron axis so `simulate` can check sizes.
        shapes = {"weights": (self.n_neurons,)}
        for name in ("bias", "tau"):
            if np.ndim(getattr(self, name)) == 1:
                shapes[name] = np.shape(getattr(self, name))
        return shapes

    def diffusion(self, t, state: State) -> State:
        return {}  # deterministic: noise enters through the input

    def output(self, state: dict[str, Float[ArrayLike, "*batch neurons"]]) -> Float[Array, "*batch neurons"]:
        """Firing rate V = tanh(λu) in (−1, 1)."""
        return jnp.tanh(self.gain * state["u"])

    def vector_field(self, t, state: State, input_current) -> State:
        u = state["u"]
        v = jnp.tanh(self.gain * u)
        return {"u": (-u + v @ self.weights + self.bias + input_current) / self.tau}

    def initial_state(self, n_neurons: int) -> State:
        """u = 0 (an unstable fixed point when λ is above the retrieval threshold)."""
        if n_neurons != self.n_neurons:
            raise ValueError(
                f"ContinuousHopfield: n_neurons must equal the size of weights "
                f"({self.n_neurons}), got {n_neurons}"
            )
        return {"u": jnp.zeros((n_neurons,), jnp.result_type(self.weights))}

    def energy(
        self, state: dict[str, Float[ArrayLike, "*batch neurons"]], input_current: Float[ArrayLike, "*neurons"] = 0.0
    ) -> Float[Array, "*batch"]:
        """Lyapunov energy (Hopfield 1984, eq. 7) of one state or a batch (leading axes).

        Written in terms of u so that it stays finite when tanh saturates:
        ∫_0^V g⁻¹ = V·u − log cosh(λu)/λ.
        """
        u = jnp.asarray(state["u"])
        x = self.gain * u
        v = jnp.tanh(x)
        log_cosh = jnp.logaddexp(x, -x) - jnp.log(2.0)
        drive = self.bias + jnp.asarray(input_current)
        return (
            -0.5 * jnp.sum(v * (v @ self.weights), -1)
            - jnp.sum(drive * v, -1)
            + jnp.sum(v * u - log_cosh / self.gain, -1)
        )
