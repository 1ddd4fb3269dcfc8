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
Draws run in chunks of 2²⁰ through one compiled function whose parameters are traced,
so building 64 projections with 64 different distributions compiles it once.
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

import functools
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

    def _params(self) -> tuple:
        """(mean, std, Φ(lo), Φ(hi), lo, hi, flip, low, high) for `_normal_chunk`."""
        inf = math.inf
        if self.std == 0 or self.bounds == "clip" or (self.low == -inf and self.high == inf):
            return (self.mean, self.std, 0.0, 1.0, -inf, inf, False, self.low, self.high)
        lo = (self.low - self.mean) / self.std
        hi = (self.high - self.mean) / self.std
        flip = abs(lo) > abs(hi)  # keep the bound in the accurate lower tail of Φ⁻¹
        if flip:
            lo, hi = -hi, -lo
        return (self.mean, self.std, _ndtr(lo), _ndtr(hi), lo, hi, flip, self.low, self.high)

    def chunks(self, key: PRNGKeyArray, n: int):
        """n float32 draws as equal chunks (the last one runs past n), one at a time."""
        size = _chunk_size(n)
        params = self._params()
        return (_normal_chunk(key, i, *params, size) for i in range(-(-n // size)))

    def __call__(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return _from_chunks(self.chunks(key, math.prod(shape)), shape, dtype)


CHUNK = 2**20  # draws per compiled call: one compilation serves every table size
_SMALL_CHUNK = 2**14  # for small draws (tests, small projections): a second compilation


def _chunk_size(n: int) -> int:
    return _SMALL_CHUNK if n <= _SMALL_CHUNK else CHUNK


def _from_chunks(chunks, shape, dtype) -> Array:
    n = math.prod(shape)
    chunks = list(chunks)
    flat = chunks[0] if len(chunks) == 1 else jnp.concatenate(chunks)
    return flat[:n].reshape(shape).astype(dtype)


def _ndtr(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


@functools.partial(jax.jit, static_argnums=(11,))
def _normal_chunk(key, i, mean, std, p_lo, p_hi, lo, hi, flip, low, high, size: int):
    """One chunk of N(mean, std) truncated to [low, high] by inverting its CDF,
    z = Φ⁻¹(U(Φ(lo), Φ(hi))) with lo, hi in SD units, or (p = 0, 1) untruncated then
    clipped. Every parameter is traced, so one compilation serves all distributions.

    Φ(lo), Φ(hi) come from the host in float64 and Φ⁻¹ is `ndtri`, accurate far into the
    lower tail; a bound on the upper side is mirrored there (z → −z, `flip`), so a bound
    10 SD out (NEST's sign-preserving weights) is met exactly rather than through
    erf(−7) rounding to −1 in float32 (which makes `jax.random.truncated_normal` return
    −inf once in 2²³ draws). U sits on the midpoints (k + ½)·2⁻²³ of the float32 uniform
    grid, never exactly 0: the deepest tail reached is Φ⁻¹(2⁻²⁴) ≈ 5.3 SD, as with
    `jax.random.normal`.
    """
    grid = (jax.random.bits(jax.random.fold_in(key, i), (size,), jnp.uint32) >> 9).astype(jnp.float32)
    u = p_lo + (grid + 0.5) * (2.0**-23 * (p_hi - p_lo))
    z = jnp.clip(jax.scipy.special.ndtri(u), lo, hi)
    z = jnp.where(flip, -z, z)
    # mean + std·z can round one ulp past a bound that z respected: keep the bound.
    return jnp.clip(mean + std * z, low, high)


@functools.partial(jax.jit, static_argnums=(4,))
def _uniform_chunk(key, i, low, high, size: int):
    return jax.random.uniform(jax.random.fold_in(key, i), (size,), jnp.float32, low, high)


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

    def chunks(self, key: PRNGKeyArray, n: int):
        """n float32 draws as equal chunks (the last one runs past n), one at a time."""
        size = _chunk_size(n)
        return (_uniform_chunk(key, i, self.low, self.high, size) for i in range(-(-n // size)))

    def __call__(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype=jnp.float32) -> Array:
        return _from_chunks(self.chunks(key, math.prod(shape)), shape, dtype)


Sampler = Callable[[PRNGKeyArray, tuple[int, ...], object], Array]
