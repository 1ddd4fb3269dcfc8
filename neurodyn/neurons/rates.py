"""Numerically safe helpers shared by the rate functions of conductance models."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def exprel_ratio(x: Float[ArrayLike, "..."], y: float) -> Float[Array, "..."]:
    """x / (exp(x/y) − 1), finite with a finite gradient at its removable singularity x = 0.

    The limit at x = 0 is y. Near zero we use the series y·(1 − u/2 + u²/12) with u = x/y,
    and the "double where" trick so that the gradient of the discarded branch is not NaN.
    """
    u = jnp.asarray(x) / y
    small = jnp.abs(u) < 1e-3
    safe_u = jnp.where(small, 1.0, u)
    exact = y * safe_u / jnp.expm1(safe_u)
    series = y * (1.0 - u / 2.0 + u * u / 12.0)
    return jnp.where(small, series, exact)
