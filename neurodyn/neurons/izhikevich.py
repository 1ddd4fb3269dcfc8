"""Izhikevich (2003) simple model.

    dv/dt = 0.04 v² + 5 v + 140 − u + I
    du/dt = a (b v − u)
    v ≥ v_peak  →  v ← c,  u ← u + d

Units: v in mV, t in ms, I in the model's dimensionless current units (mV/ms). Defaults are
the regular-spiking cell (a = 0.02, b = 0.2, c = −65, d = 8, v_peak = 30 mV), from
Izhikevich 2003, IEEE Trans Neural Netw 14:1569, Fig. 2.
"""

from __future__ import annotations

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import ArrayLike, Float

from .._checks import check_fields
from .base import AbstractIntegrateAndFire, State


@final
class Izhikevich(AbstractIntegrateAndFire):
    """Izhikevich neuron; the defaults give regular spiking (RS)."""

    a: Float[ArrayLike, "*neurons"] = 0.02  # recovery rate, 1/ms
    b: Float[ArrayLike, "*neurons"] = 0.2  # recovery sensitivity to v, dimensionless
    c: Float[ArrayLike, "*neurons"] = -65.0  # reset potential, mV
    d: Float[ArrayLike, "*neurons"] = 8.0  # recovery jump at a spike, mV/ms
    threshold: Float[ArrayLike, "*neurons"] = 30.0  # spike peak v_peak, mV
    refractory_period: Float[ArrayLike, "*neurons"] = 0.0  # ms

    state_names: ClassVar[tuple[str, ...]] = ("v", "u")

    def __check_init__(self):
        check_fields(self, positive=("a",), nonnegative=("refractory_period",), real=("b", "c", "d", "threshold"))

    def vector_field(self, t, state: State, input_current) -> State:
        v, u = state["v"], state["u"]
        return {
            "v": 0.04 * v * v + 5.0 * v + 140.0 - u + input_current,
            "u": self.a * (self.b * v - u),
        }

    def reset(self, state: State, spiked) -> State:
        return {
            "v": jnp.where(spiked, self.c, state["v"]),
            "u": jnp.where(spiked, state["u"] + self.d, state["u"]),
        }

    def initial_state(self, n_neurons: int) -> State:
        """The lower fixed point of the (v, u) system at zero input, where it exists."""
        # 0.04 v² + (5 − b) v + 140 = 0 (u = b v); the smaller root is the stable rest.
        b = jnp.asarray(self.b, dtype=float)
        disc = jnp.maximum((5.0 - b) ** 2 - 4 * 0.04 * 140.0, 0.0)
        v = (-(5.0 - b) - jnp.sqrt(disc)) / (2 * 0.04)
        v = jnp.broadcast_to(v, (n_neurons,))
        return {"v": v, "u": b * v}
