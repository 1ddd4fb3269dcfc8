"""Leaky integrate-and-fire neuron.

    τ_m dV/dt = −(V − E_L) + R·I
    V ≥ V_th  →  spike, V ← V_r, V held at V_r for t_ref

Units: V in mV, t in ms, R in MΩ and I in nA (so R·I is in mV). With the default R = 1 the
input is a voltage drive in mV. Defaults follow Brian2's IF-curve example (τ_m = 10 ms,
V_th = 10 mV, V_r = E_L = 0, t_ref = 5 ms), for which the analytic rate at R·I = 20 mV is
83.81 Hz:  r(I) = 1 / (t_ref + τ_m ln((R I + E_L − V_r)/(R I + E_L − V_th))).
"""

from __future__ import annotations

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_fields, check_greater
from .base import AbstractIntegrateAndFire, State


@final
class LIF(AbstractIntegrateAndFire):
    """Leaky integrate-and-fire neuron with reset and a clamped refractory period."""

    tau_m: Float[ArrayLike, "*neurons"] = 10.0  # membrane time constant, ms
    v_rest: Float[ArrayLike, "*neurons"] = 0.0  # leak reversal E_L, mV
    threshold: Float[ArrayLike, "*neurons"] = 10.0  # V_th, mV
    v_reset: Float[ArrayLike, "*neurons"] = 0.0  # V_r, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 5.0  # t_ref, ms
    resistance: Float[ArrayLike, "*neurons"] = 1.0  # R, MΩ (R·I in mV for I in nA)

    state_names: ClassVar[tuple[str, ...]] = ("v",)

    def __check_init__(self):
        check_fields(self, positive=("tau_m", "resistance"), nonnegative=("refractory_period",),
                     real=("v_rest", "threshold", "v_reset"))
        check_greater(self, "threshold", "v_reset")

    def vector_field(self, t, state: State, input_current) -> State:
        v = state["v"]
        return {"v": (-(v - self.v_rest) + self.resistance * input_current) / self.tau_m}

    def reset(self, state: State, spiked) -> State:
        return {**state, "v": jnp.where(spiked, self.v_reset, state["v"])}

    def initial_state(self, n_neurons: int) -> State:
        return {"v": jnp.broadcast_to(jnp.asarray(self.v_rest, dtype=float), (n_neurons,))}

    def analytic_rate(self, input_current: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Firing rate in Hz for a constant input (0 below rheobase)."""
        drive = self.resistance * jnp.asarray(input_current) + self.v_rest
        above = drive > self.threshold
        safe = jnp.where(above, drive, self.threshold + 1.0)
        period = self.refractory_period + self.tau_m * jnp.log(
            (safe - self.v_reset) / (safe - self.threshold)
        )
        return jnp.where(above, 1000.0 / period, 0.0)
