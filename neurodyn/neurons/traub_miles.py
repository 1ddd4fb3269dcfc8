"""Traub–Miles Hodgkin–Huxley neuron of the COBAHH benchmark (Brette et al. 2007, no. 3).

    C_m dV/dt = I − ḡ_Na m³h (V − E_Na) − ḡ_Kd n⁴ (V − E_K) − g_L (V − E_L)
    dx/dt     = α_x(V)(1 − x) − β_x(V) x,     x ∈ {m, h, n}

    α_m = 0.32(13 − V + V_T)/(e^{(13 − V + V_T)/4} − 1)
    β_m = 0.28(V − V_T − 40)/(e^{(V − V_T − 40)/5} − 1)
    α_h = 0.128 e^{(17 − V + V_T)/18},        β_h = 4/(1 + e^{(40 − V + V_T)/5})
    α_n = 0.032(15 − V + V_T)/(e^{(15 − V + V_T)/5} − 1)
    β_n = 0.5 e^{(10 − V + V_T)/40}

Units: V in mV, t in ms, rates in 1/ms, and whole-cell (not per-area) quantities: currents in
nA, conductances in µS, C_m in nF (nA/nF = mV/ms, µS·mV = nA). These are the units the
network code needs: it adds Σ_r g_r (E_r − V) to `input`, so a conductance synapse with
g in µS feeds nA straight in (COBAHH: w_e = 6 nS = 0.006 µS, w_i = 67 nS = 0.067 µS).

Defaults: Brian2's COBAHH example (Brette et al. 2007, J Comput Neurosci 23:349,
benchmark 3; rates after Traub & Miles 1991 as in Destexhe & Paré 1999): area
20 000 µm² = 2·10⁻⁴ cm², C_m = 1 µF/cm² → 0.2 nF, g_L = 0.05 mS/cm² → 0.01 µS,
ḡ_Na = 100 mS/cm² → 20 µS, ḡ_Kd = 30 mS/cm² → 6 µS, E_L = −60, E_K = −90, E_Na = 50,
V_T = −63 mV. Spikes are upward crossings of −20 mV with a 3 ms refractory period and
no reset (Brian2: `threshold='v>-20*mV', refractory=3*ms`; Brian2's level test fires
again only if V is still above −20 mV when the 3 ms end, and an action potential spends
≈ 0.6 ms there, so the two count the same spikes). Brian2 integrates COBAHH with
exponential Euler at dt = 0.1 ms; forward Euler is unstable at that step (NaN within 6 ms
at 0.5 nA) but fine at 0.05 ms or below.

With these parameters the neuron has no stable rest at zero input: the window Na current
outweighs the tiny leak, the only equilibrium (−33.4 mV) is unstable and the cell fires
tonically at ≈ 13.9 Hz. A stable rest appears below a holding current of ≈ −0.032 nA
(saddle-node on the limit cycle, type I: the rate falls to 1.4 Hz at −0.0315 nA), e.g.
−70.0 mV at −0.1 nA. `initial_state` is therefore V = E_L with gates at x∞(E_L), not a rest.
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


def traub_miles_rates(
    v: Float[ArrayLike, "..."], v_t: Float[ArrayLike, "..."] = -63.0
) -> dict[str, Float[Array, "..."]]:
    """Opening (α) and closing (β) rates in 1/ms of the Traub–Miles gates at v (mV).

    `v_t` (mV) shifts every rate curve; α_m, β_m and α_n have removable singularities at
    v = V_T + 13, V_T + 40 and V_T + 15, evaluated safely (finite value and gradient).
    """
    u = jnp.asarray(v) - v_t  # V − V_T
    return {
        "alpha_m": 0.32 * exprel_ratio(13.0 - u, 4.0),
        "beta_m": 0.28 * exprel_ratio(u - 40.0, 5.0),
        "alpha_h": 0.128 * jnp.exp((17.0 - u) / 18.0),
        "beta_h": 4.0 / (1.0 + jnp.exp((40.0 - u) / 5.0)),
        "alpha_n": 0.032 * exprel_ratio(15.0 - u, 5.0),
        "beta_n": 0.5 * jnp.exp((10.0 - u) / 40.0),
    }


def traub_miles_gate_steady_states(
    v: Float[ArrayLike, "..."], v_t: Float[ArrayLike, "..."] = -63.0
) -> dict[str, Float[Array, "..."]]:
    """x∞(v) = α_x / (α_x + β_x) for x in m, h, n."""
    return gate_steady_states_from(traub_miles_rates(v, v_t))


@final
class TraubMiles(AbstractConductanceNeuron):
    """Traub–Miles HH neuron (COBAHH); spikes are upward crossings of `threshold`.

    Every parameter may be a scalar or an array with one value per neuron. Units: mV, ms,
    nA, µS, nF (see the module docstring for the per-area values they come from).
    """

    c_m: Float[ArrayLike, "*neurons"] = 0.2  # membrane capacitance, nF (1 µF/cm² × 20 000 µm²)
    g_na: Float[ArrayLike, "*neurons"] = 20.0  # maximal Na conductance, µS (100 mS/cm²)
    g_kd: Float[ArrayLike, "*neurons"] = 6.0  # max. delayed-rectifier K conductance, µS (30 mS/cm²)
    g_l: Float[ArrayLike, "*neurons"] = 0.01  # leak conductance, µS (0.05 mS/cm²)
    e_na: Float[ArrayLike, "*neurons"] = 50.0  # sodium reversal potential, mV
    e_k: Float[ArrayLike, "*neurons"] = -90.0  # potassium reversal potential, mV
    e_l: Float[ArrayLike, "*neurons"] = -60.0  # leak reversal potential, mV
    v_t: Float[ArrayLike, "*neurons"] = -63.0  # V_T, shift of the rate curves, mV
    threshold: Float[ArrayLike, "*neurons"] = -20.0  # spike detection level, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 3.0  # ms (detection only; no clamp)

    state_names: ClassVar[tuple[str, ...]] = ("v", "m", "h", "n")

    def __check_init__(self):
        check_fields(self, positive=("c_m",), nonnegative=("g_na", "g_kd", "g_l", "refractory_period"),
                     real=("e_na", "e_k", "e_l", "v_t", "threshold"))

    def rates(self, v: Float[ArrayLike, "..."]) -> dict[str, Float[Array, "..."]]:
        """The gates' α and β (1/ms) at v (mV) with this model's V_T."""
        return traub_miles_rates(v, self.v_t)

    def gate_steady_states(self, v: Float[ArrayLike, "..."]) -> dict[str, Float[Array, "..."]]:
        """x∞(v) for x in m, h, n with this model's V_T."""
        return traub_miles_gate_steady_states(v, self.v_t)

    def ionic_current(self, state: State) -> Float[Array, " neurons"]:
        """Total ionic current I_Na + I_Kd + I_L in nA (positive = outward)."""
        return sodium_potassium_leak_current(state, self.g_na, self.g_kd, self.g_l, self.e_na, self.e_k, self.e_l)

    def vector_field(self, t, state: State, input_current) -> State:
        r = self.rates(state["v"])
        dv = (input_current - self.ionic_current(state)) / self.c_m
        return {"v": dv, **gate_derivatives(r, state)}

    def resting_potential(
        self, n_neurons: int, input_current=0.0, v_min: float = -120.0, v_max: float = 60.0
    ) -> Float[Array, " neurons"]:
        """The lowest V in [v_min, v_max] (mV) where the steady-state current equals the input.

        That is the lowest fixed point of the vector field for a constant `input_current`
        (nA, scalar or one per neuron). The steady-state I–V curve is not monotonic here (up
        to three equilibria), so the root is bracketed by a scan up a 0.5 mV grid and
        refined by 40 bisections. It is the stable rest only below rheobase (default
        parameters: input < ≈ −0.032 nA); at zero input it is the unstable equilibrium at
        −33.4 mV. NaN where no root lies in [v_min, v_max].
        """
        current = jnp.asarray(input_current, dtype=float)  # an array: no recompile per value
        return _lowest_equilibrium(self, n_neurons, current, float(v_min), float(v_max))

    def initial_state(self, n_neurons: int) -> State:
        """V = E_L with every gate at its steady state x∞(E_L).

        Not a fixed point: with the default parameters there is no stable rest at zero
        input (see the module docstring). Use `resting_potential(n, I)` with
        `gate_steady_states` for the rest under a holding current I.
        """
        v = jnp.broadcast_to(jnp.asarray(self.e_l, dtype=float), (n_neurons,))
        return {"v": v, **self.gate_steady_states(v)}


@eqx.filter_jit
def _lowest_equilibrium(model: TraubMiles, n_neurons: int, input_current, v_min, v_max):
    def net_current(v):
        return model.ionic_current({"v": v, **model.gate_steady_states(v)}) - input_current

    shape = (n_neurons,)
    grid = jnp.arange(v_min, v_max + 0.25, 0.5)

    def scan_up(carry, v_hi):
        lo, f_lo, found, a, b = carry
        hi = jnp.full(shape, v_hi)
        f_hi = net_current(hi)
        new = ~found & (f_lo <= 0) & (f_hi >= 0)
        a, b = jnp.where(new, lo, a), jnp.where(new, hi, b)
        return (hi, f_hi, found | new, a, b), None

    lo = jnp.full(shape, grid[0])
    nan = jnp.full(shape, jnp.nan)
    init = (lo, net_current(lo), jnp.zeros(shape, bool), nan, nan)
    (_, _, found, a, b), _ = jax.lax.scan(scan_up, init, grid[1:])

    def bisect(bracket, _):
        a, b = bracket
        mid = 0.5 * (a + b)
        below = net_current(mid) < 0
        return (jnp.where(below, mid, a), jnp.where(below, b, mid)), None

    (a, b), _ = jax.lax.scan(bisect, (a, b), None, length=40)
    return jnp.where(found, 0.5 * (a + b), jnp.nan)
