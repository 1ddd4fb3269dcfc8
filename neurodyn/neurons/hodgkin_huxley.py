"""Hodgkin–Huxley (1952) squid giant axon, modern convention (rest ≈ −65 mV, 6.3 °C).

    C_m dV/dt = I − ḡ_Na m³h (V − E_Na) − ḡ_K n⁴ (V − E_K) − ḡ_L (V − E_L)
    dx/dt     = α_x(V)(1 − x) − β_x(V) x,     x ∈ {m, h, n}

    α_m = 0.1(V+40)/(1 − e^{−(V+40)/10}),   β_m = 4 e^{−(V+65)/18}
    α_h = 0.07 e^{−(V+65)/20},              β_h = 1/(1 + e^{−(V+35)/10})
    α_n = 0.01(V+55)/(1 − e^{−(V+55)/10}),  β_n = 0.125 e^{−(V+65)/80}

Units: V in mV, t in ms, currents in µA/cm², conductances in mS/cm², C_m in µF/cm², rates
in 1/ms. Source: Hodgkin & Huxley 1952, J Physiol 117:500; rate forms as in Dayan & Abbott
and Gerstner et al., "Neuronal Dynamics", ch. 2. Note E_L = −54.387 mV (rest at −65 mV);
NEURON and jaxley use −54.3 mV, BrainPy's HH uses g_L = 0.03.
"""

from __future__ import annotations

from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._checks import check_fields
from .base import AbstractConductanceNeuron, State
from .rates import exprel_ratio, gate_derivatives, gate_steady_states_from, sodium_potassium_leak_current


def hh_rates(v: Float[ArrayLike, "..."]) -> dict[str, Float[Array, "..."]]:
    """Opening (α) and closing (β) rates in 1/ms of the HH gates at membrane potential v (mV)."""
    v = jnp.asarray(v)
    return {
        "alpha_m": 0.1 * exprel_ratio(-(v + 40.0), 10.0),
        "beta_m": 4.0 * jnp.exp(-(v + 65.0) / 18.0),
        "alpha_h": 0.07 * jnp.exp(-(v + 65.0) / 20.0),
        "beta_h": 1.0 / (1.0 + jnp.exp(-(v + 35.0) / 10.0)),
        "alpha_n": 0.01 * exprel_ratio(-(v + 55.0), 10.0),
        "beta_n": 0.125 * jnp.exp(-(v + 65.0) / 80.0),
    }


def gate_steady_states(v: Float[ArrayLike, "..."]) -> dict[str, Float[Array, "..."]]:
    """x∞(v) = α_x / (α_x + β_x) for x in m, h, n."""
    return gate_steady_states_from(hh_rates(v))


@final
class HodgkinHuxley(AbstractConductanceNeuron):
    """Hodgkin–Huxley neuron; spikes are upward crossings of `threshold` (a detector only).

    Every parameter may be a scalar or an array with one value per neuron.
    """

    c_m: Float[ArrayLike, "*neurons"] = 1.0  # membrane capacitance, µF/cm²
    g_na: Float[ArrayLike, "*neurons"] = 120.0  # maximal sodium conductance, mS/cm²
    g_k: Float[ArrayLike, "*neurons"] = 36.0  # maximal potassium conductance, mS/cm²
    g_l: Float[ArrayLike, "*neurons"] = 0.3  # leak conductance, mS/cm²
    e_na: Float[ArrayLike, "*neurons"] = 50.0  # sodium reversal potential, mV
    e_k: Float[ArrayLike, "*neurons"] = -77.0  # potassium reversal potential, mV
    e_l: Float[ArrayLike, "*neurons"] = -54.387  # leak reversal potential, mV
    threshold: Float[ArrayLike, "*neurons"] = 0.0  # spike detection level, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 0.0  # ms (detection only; no clamp)

    state_names: ClassVar[tuple[str, ...]] = ("v", "m", "h", "n")

    def __check_init__(self):
        check_fields(self, positive=("c_m",), nonnegative=("g_na", "g_k", "g_l", "refractory_period"),
                     real=("e_na", "e_k", "e_l", "threshold"))

    def ionic_current(self, state: State) -> Float[Array, " neurons"]:
        """Total ionic current I_Na + I_K + I_L in µA/cm² (positive = outward)."""
        return sodium_potassium_leak_current(state, self.g_na, self.g_k, self.g_l, self.e_na, self.e_k, self.e_l)

    def vector_field(self, t, state: State, input_current) -> State:
        r = hh_rates(state["v"])
        dv = (input_current - self.ionic_current(state)) / self.c_m
        return {"v": dv, **gate_derivatives(r, state)}

    @eqx.filter_jit
    def resting_potential(self, n_neurons: int, input_current=0.0) -> Float[Array, " neurons"]:
        """The membrane potential where the steady-state current balances `input_current`.

        Solved by Newton's method on I_ion(V, x∞(V)) = I, started at E_L − 10 mV; for the
        1952 parameters this is the unique rest at −64.996 mV.
        """

        def net_current(v):
            return self.ionic_current({"v": v, **gate_steady_states(v)}) - input_current

        def newton(v, _):
            f, df = jax.jvp(net_current, (v,), (jnp.ones_like(v),))
            return v - f / df, None

        v0 = jnp.broadcast_to(jnp.asarray(self.e_l, dtype=float) - 10.0, (n_neurons,))
        v, _ = jax.lax.scan(newton, v0, None, length=30)
        return v

    def initial_state(self, n_neurons: int) -> State:
        """The resting state: V solving I_ion = 0 and each gate at its steady state x∞(V)."""
        v = self.resting_potential(n_neurons)
        return {"v": v, **gate_steady_states(v)}
