"""Adaptive exponential integrate-and-fire (AdEx; Brette & Gerstner 2005).

    C dV/dt = −g_L (V − E_L) + g_L Δ_T exp((V − V_T)/Δ_T) − w + I
    τ_w dw/dt = a (V − E_L) − w
    V ≥ V_peak  →  V ← V_r,  w ← w + b

Units: V in mV, t in ms, C in pF, conductances in nS, currents (I, w, b) in pA.
Defaults: Brette & Gerstner 2005, J Neurophysiol 94:3637, Table 1 (C = 281 pF,
g_L = 30 nS, E_L = −70.6 mV, V_T = −50.4 mV, Δ_T = 2 mV, τ_w = 144 ms, a = 4 nS,
b = 80.5 pA, V_r = E_L); V_peak = V_T + 5 Δ_T as in Brian2's AdEx example.
"""

from __future__ import annotations

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from .._checks import check_fields
from .base import AbstractIntegrateAndFire, State

# exp((V − V_T)/Δ_T) is evaluated with its argument capped at this value: above V_peak the
# neuron resets anyway, and the cap keeps one large explicit step from overflowing to inf.
_MAX_EXPONENT = 30.0


@final
class AdEx(AbstractIntegrateAndFire):
    """Adaptive exponential integrate-and-fire neuron."""

    c_m: Float[ArrayLike, "*neurons"] = 281.0  # membrane capacitance, pF
    g_l: Float[ArrayLike, "*neurons"] = 30.0  # leak conductance, nS
    e_l: Float[ArrayLike, "*neurons"] = -70.6  # leak reversal, mV
    v_t: Float[ArrayLike, "*neurons"] = -50.4  # exponential threshold V_T, mV
    delta_t: Float[ArrayLike, "*neurons"] = 2.0  # slope factor Δ_T, mV
    tau_w: Float[ArrayLike, "*neurons"] = 144.0  # adaptation time constant, ms
    a: Float[ArrayLike, "*neurons"] = 4.0  # subthreshold adaptation, nS
    b: Float[ArrayLike, "*neurons"] = 80.5  # spike-triggered adaptation, pA
    v_reset: Float[ArrayLike, "*neurons"] = -70.6  # V_r, mV
    threshold: Float[ArrayLike, "*neurons"] = -40.4  # V_peak, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 0.0  # ms

    state_names: ClassVar[tuple[str, ...]] = ("v", "w")

    def __check_init__(self):
        check_fields(self, positive=("c_m", "g_l", "delta_t", "tau_w"), nonnegative=("refractory_period",),
                     real=("e_l", "v_t", "a", "b", "v_reset", "threshold"))

    def vector_field(self, t, state: State, input_current) -> State:
        v, w = state["v"], state["w"]
        exponent = jnp.minimum((v - self.v_t) / self.delta_t, _MAX_EXPONENT)
        spike_current = self.g_l * self.delta_t * jnp.exp(exponent)
        dv = (-self.g_l * (v - self.e_l) + spike_current - w + input_current) / self.c_m
        dw = (self.a * (v - self.e_l) - w) / self.tau_w
        return {"v": dv, "w": dw}

    def reset(self, state: State, spiked) -> State:
        return {
            "v": jnp.where(spiked, self.v_reset, state["v"]),
            "w": jnp.where(spiked, state["w"] + self.b, state["w"]),
        }

    def initial_state(self, n_neurons: int) -> State:
        v = jnp.broadcast_to(jnp.asarray(self.e_l, dtype=float), (n_neurons,))
        return {"v": v, "w": jnp.zeros_like(v)}
