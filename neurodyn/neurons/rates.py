"""Helpers shared by the Hodgkin–Huxley-type models (`HodgkinHuxley`, `TraubMiles`).

Both have gates x ∈ {m, h, n} with first-order kinetics dx/dt = α_x(V)(1 − x) − β_x(V) x
and the ionic current I_Na + I_K + I_L = ḡ_Na m³h (V − E_Na) + ḡ_K n⁴ (V − E_K) + g_L (V − E_L)
(Hodgkin & Huxley 1952, J Physiol 117:500, eqs. 6–7, 26); they differ in their rates and units.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

GATES = ("m", "h", "n")


def exprel_ratio(x: Float[ArrayLike, "..."], y: float) -> Float[Array, "..."]:
    """x / (exp(x/y) − 1), finite with a finite gradient at its removable singularity x = 0.

    The limit at x = 0 is y. With u = x/y: for |u| >= u₀, y·u/(eᵘ − 1) from one `exp` (XLA's
    CPU `expm1` costs ~2.5 `exp`s and this function sits in every HH step: HH 100k neurons,
    20 ms: 0.95/1.08 s vs 1.11/1.22 s with expm1, two alternating runs, same spikes); for |u| < u₀ the Bernoulli series
    y·(1 − u/2 + u²/12 − u⁴/720 + u⁶/30240), whose next term is u⁸/1209600. u₀ = 0.2 in
    float32 (eᵘ − 1 then loses at most ~1 ulp/0.2; series error 2e-12; max relative error over
    V in [−120, 80] mV 4e-7, as with expm1) and 1e-3 in float64 (cancellation 1e-13, series
    exact to rounding). The "double where" keeps the discarded branch's gradient finite.
    """
    u = jnp.asarray(x) / y
    u0 = 1e-3 if u.dtype == jnp.float64 else 0.2
    small = jnp.abs(u) < u0
    safe_u = jnp.where(small, 1.0, u)
    exact = y * safe_u / (jnp.exp(safe_u) - 1.0)
    u2 = u * u
    series = y * (1.0 - u / 2.0 + u2 / 12.0 - u2 * u2 / 720.0 + u2 * u2 * u2 / 30240.0)
    return jnp.where(small, series, exact)


def gate_steady_states_from(rates: dict[str, Float[Array, "..."]]) -> dict[str, Float[Array, "..."]]:
    """x∞ = α_x / (α_x + β_x) for x in m, h, n, from a dict of `alpha_x`/`beta_x` rates."""
    return {x: rates[f"alpha_{x}"] / (rates[f"alpha_{x}"] + rates[f"beta_{x}"]) for x in GATES}


def gate_derivatives(
    rates: dict[str, Float[Array, " neurons"]], state: dict[str, Float[Array, " neurons"]]
) -> dict[str, Float[Array, " neurons"]]:
    """dx/dt = α_x (1 − x) − β_x x for x in m, h, n (1/ms)."""
    return {x: rates[f"alpha_{x}"] * (1.0 - state[x]) - rates[f"beta_{x}"] * state[x] for x in GATES}


def sodium_potassium_leak_current(
    state: dict[str, Float[Array, " neurons"]], g_na, g_k, g_l, e_na, e_k, e_l
) -> Float[Array, " neurons"]:
    """ḡ_Na m³h (V − E_Na) + ḡ_K n⁴ (V − E_K) + g_L (V − E_L), positive outward (units of g·V)."""
    v, m, h, n = state["v"], state["m"], state["h"], state["n"]
    return g_na * m**3 * h * (v - e_na) + g_k * n**4 * (v - e_k) + g_l * (v - e_l)
