"""Leaky integrate-and-fire neuron in NEST's parameterisation (`iaf_psc_*`).

    C_m dV/dt = −(C_m/τ_m)(V − E_L) + I_e + I
    V ≥ V_th  →  spike, V ← V_reset, V held at V_reset for t_ref

Units as in NEST: V in mV, t in ms, C_m in pF, currents (I_e, the input I and current-synapse
weights) in pA; a delta-synapse weight is a jump of V in mV. It is `LIF` with R = τ_m/C_m
(GΩ·pA = mV) and a bias current I_e. Defaults are NEST 3's `iaf_psc_delta`/`iaf_psc_exp`
defaults (NEST model documentation): C_m = 250 pF, τ_m = 10 ms, E_L = −70 mV,
V_th = −55 mV, V_reset = −70 mV, t_ref = 2 ms, I_e = 0 pA.

With `neurodyn.network.ExactIntegration` as the solver, a network of these neurons with
delta, exponential or alpha current synapses is stepped with NEST's exact propagators
(Rotter & Diesmann 1999), so its voltage traces are NEST's to rounding; with any Diffrax
solver it is an ODE like every other model.
"""

from __future__ import annotations

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from .._checks import check_fields, check_greater
from .base import AbstractIntegrateAndFire, State


@final
class IAF(AbstractIntegrateAndFire):
    """Leaky integrate-and-fire neuron with NEST's parameters (C_m in pF, currents in pA)."""

    c_m: Float[ArrayLike, "*neurons"] = 250.0  # membrane capacitance C_m, pF
    tau_m: Float[ArrayLike, "*neurons"] = 10.0  # membrane time constant τ_m, ms
    e_l: Float[ArrayLike, "*neurons"] = -70.0  # resting potential E_L, mV
    threshold: Float[ArrayLike, "*neurons"] = -55.0  # V_th, mV
    v_reset: Float[ArrayLike, "*neurons"] = -70.0  # V_reset, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 2.0  # t_ref, ms
    i_e: Float[ArrayLike, "*neurons"] = 0.0  # constant bias current I_e, pA

    state_names: ClassVar[tuple[str, ...]] = ("v",)

    def __check_init__(self):
        check_fields(self, positive=("c_m", "tau_m"), nonnegative=("refractory_period",),
                     real=("e_l", "threshold", "v_reset", "i_e"))
        check_greater(self, "threshold", "v_reset")

    @property
    def resistance(self) -> Float[ArrayLike, "*neurons"]:
        """R = τ_m/C_m in GΩ (mV per pA)."""
        return self.tau_m / self.c_m

    def vector_field(self, t, state: State, input_current) -> State:
        v = state["v"]
        return {"v": -(v - self.e_l) / self.tau_m + (self.i_e + input_current) / self.c_m}

    def reset(self, state: State, spiked) -> State:
        return {**state, "v": jnp.where(spiked, self.v_reset, state["v"])}

    def initial_state(self, n_neurons: int) -> State:
        return {"v": jnp.broadcast_to(jnp.asarray(self.e_l, dtype=float), (n_neurons,))}
