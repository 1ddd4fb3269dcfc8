"""Distributions of per-synapse parameters (weights, delays), drawn on the device.

A connection builder takes a weight or a delay as one number, or as anything callable as
`f(key, shape, dtype) -> array`: the two distributions below, or your own function of a
key (e.g. `lambda key, shape, dtype: 0.5 + 0.1 * jax.random.gamma(key, 2.0, shape, dtype)`).

Bounds follow NEST's `nest.math.redraw(param, min, max)`: a value outside [low, high] is
redrawn until it falls inside, so the result has the distribution *truncated* to
[low, high] (the probability mass outside is spread over the inside in proportion, not
piled onto the bounds). `Normal(bounds="redraw")` draws that truncated normal directly by
inverting its CDF (`Φ⁻¹(U(Φ(low), Φ(high)))`): the same distribution as NEST's
rejection loop, in one pass over the synapses, whatever the fraction redrawn.
`bounds="clip"` is the alternative that moves the outside mass *onto* the bound
(`jnp.clip`, NEST's `nest.math.min/max`): the minimum value then has an atom of probability.

The Potjans & Diesmann (2014) microcircuit as NEST 3 builds it (PyNEST example
`Potjans_2014/network.py`):
- weights: normal, mean J, SD |J|·0.1, redrawn to keep the sign (`min=0` for excitatory,
  `max=0` for inhibitory, negative J = g·J_E with g = −4):
  `Normal(87.81, 8.781, low=0.0)`, `Normal(-351.2, 35.12, high=0.0)`.
- delays: normal, mean 1.5 ms (excitatory) or 0.75 ms (inhibitory), SD mean·0.5, redrawn
  below `resolution − 0.5·resolution`; NEST then rounds each delay to the nearest step, so
  the smallest delay is one step: `Normal(1.5, 0.75, low=0.5 * dt)`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

__all__ = ["Normal", "Uniform"]

BOUNDS = ("redraw", "clip")


def _finite(cls: str, name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{cls}.{name} must be a finite number, got {value!r}")
    return float(value)


class Normal(eqx.Module):
    """Normal(mean, std) truncated to [low, high] (NEST's redraw) or clipped to it.

    Attributes:
        mean, std: of the untruncated normal, in the unit of the parameter drawn (e.g. pA
            or nS for weights, ms for delays); std >= 0.
        low, high: bounds (default: none); low < high.
        bounds: "redraw" (NEST's `redraw`: the truncated normal) or "clip" (values outside
            are set to the nearest bound).
    """

    mean: float = eqx.field(static=True)
    std: float = eqx.field(static=True)
    low: float = eqx.field(static=True, default=-math.inf)
    high: float = eqx.field(static=True, default=math.inf)
    bounds: str = eqx.field(static=True, default="redraw")

    def __check_init__(self):
        _finite("Normal", "mean", self.mean)
        if _finite("Normal", "std", self.std) < 0:
            raise ValueError(f"Normal.std must be >= 0, got {self.std!r}")
        for name in ("low", "high"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
                raise ValueError(f"Normal.{name} must be a number (or ±inf), got {v!r}")
        if not self.low < self.high:
            raise ValueError(f"Normal needs low < high, got low={self.low}, high={self.high}")
        if self.bounds not in BOUNDS:
            raise ValueError(f"Normal.bounds must be one of {BOUNDS}, got {self.bounds!r}")
        if self.bounds == "redraw" and self.std == 0 and not self.low <= self.mean <= self.high:
            raise ValueError(
                f"Normal(mean={self.mean}, std=0) never falls in [{self.low}, {self.high}]: "
                f"redrawing would never end"
            )
        if self.bounds == "redraw" and self.std > 0:
            # Mass left inside the bounds: below ~1e-30 float32 cannot represent it.
            z_lo, z_hi = (self.low - self.mean) / self.std, (self.high - self.mean) / self.std
            if z_lo > 10 or z_hi < -10:
                raise ValueError(
                    f"Normal(mean={self.mean}, std={self.std}) has almost no mass in "
                    f"[{self.low}, {self.high}] ({max(z_lo, -z_hi):.1f} SD away): redrawing "
                    f"would never end"
                )

    @property
    def support(self) -> tuple[float, float]:
        """The smallest and largest value a draw can take."""
        return self.low, self.high

    def __call__(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        if self.std == 0:
            value = min(max(self.mean, self.low), self.high)
            return jnp.full(shape, value, dtype)
        if self.bounds == "clip" or (self.low == -math.inf and self.high == math.inf):
            x = self.mean + self.std * jax.random.normal(key, shape, dtype)
            return jnp.clip(x, self.low, self.high)
        lo = (self.low - self.mean) / self.std
        hi = (self.high - self.mean) / self.std
        z = _truncated_standard_normal(key, lo, hi, shape, dtype)
        # mean + std·z can round one ulp past a bound that z respected: keep the bound.
        return jnp.clip(self.mean + self.std * z, self.low, self.high)


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _truncated_standard_normal(key, lo: float, hi: float, shape, dtype) -> Array:
    """N(0, 1) truncated to [lo, hi] by inverting its CDF: z = Φ⁻¹(U(Φ(lo), Φ(hi))).

    Φ(lo), Φ(hi) are computed in float64 on the host and Φ⁻¹ is `ndtri`, accurate far into
    the lower tail; the bound that is nearer the mean's far side is put there by symmetry
    (z → −z), so a bound 10 SD out (NEST's sign-preserving weights) is met exactly rather
    than through erf(−7) rounding to −1 in float32 (which gives −inf in
    `jax.random.truncated_normal` once in 2²³ draws).
    """
    flip = abs(lo) > abs(hi)
    if flip:
        lo, hi = -hi, -lo
    # U on the midpoints (k + ½)·2⁻²³ of jax's float32 uniform grid: never exactly 0, so
    # the float32 grid cannot put an atom at the far bound; the deepest tail reached is
    # Φ⁻¹(2⁻²⁴) ≈ −5.3 SD, as with `jax.random.normal`.
    grid = (jax.random.bits(key, shape, jnp.uint32) >> 9).astype(dtype)
    p_lo, p_hi = _ndtr(lo), _ndtr(hi)
    u = p_lo + (grid + 0.5) * (2.0**-23 * (p_hi - p_lo))
    z = jnp.clip(jax.scipy.special.ndtri(u), lo, hi)
    return -z if flip else z


class Uniform(eqx.Module):
    """Uniform on [low, high) (NEST `nest.random.uniform(min, max)`, Brian2 `rand()`)."""

    low: float = eqx.field(static=True)
    high: float = eqx.field(static=True)

    def __check_init__(self):
        lo = _finite("Uniform", "low", self.low)
        if not lo < _finite("Uniform", "high", self.high):
            raise ValueError(f"Uniform needs low < high, got low={self.low}, high={self.high}")

    @property
    def support(self) -> tuple[float, float]:
        return self.low, self.high

    def __call__(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return jax.random.uniform(key, shape, dtype, self.low, self.high)


Sampler = Callable[[PRNGKeyArray, tuple[int, ...], object], Array]
