"""Bijections θ = T(u) between an unconstrained optimiser variable u ∈ ℝ and a parameter θ.

`Identity` (θ = u), `Positive` (θ = s·softplus(u) > 0) and `Interval` (θ ∈ (lo, hi)), on the
abstract base `AbstractTransform`: each transform is final and provides all three of
`forward`, `inverse` and `check` (Equinox's abstract/final pattern). The transform of a
parameter is chosen in `fit(..., transforms=...)`.
"""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float


class AbstractTransform(eqx.Module):
    """A bijection between an unconstrained u ∈ ℝ and a parameter's valid range."""

    @abc.abstractmethod
    def forward(self, u: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """θ = T(u)."""

    @abc.abstractmethod
    def inverse(self, theta: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        """u = T⁻¹(θ)."""

    @abc.abstractmethod
    def check(self, name: str, theta: Float[ArrayLike, "*shape"]) -> None:
        """Raise ValueError if the initial value `theta` of parameter `name` is out of range."""


class Identity(AbstractTransform):
    """θ = u (unbounded parameters)."""

    def forward(self, u):
        return u

    def inverse(self, theta):
        return jnp.asarray(theta, dtype=float)

    def check(self, name, theta):
        arr = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"params: the initial value of {name!r} must be finite, got {arr}")


class Positive(AbstractTransform):
    """θ = s·softplus(u) > 0, with scale s (mS/cm², ms, ...: the parameter's unit).

    `scale=None` (default) takes s = |θ₀| from the initial value, so that u₀ = softplus⁻¹(1)
    for every parameter and a learning rate means the same relative step for all of them.
    """

    scale: float | None = None

    def __check_init__(self):
        if self.scale is not None and not (
            isinstance(self.scale, (int, float)) and math.isfinite(self.scale) and self.scale > 0
        ):
            raise ValueError(f"Positive.scale must be a finite number > 0, got {self.scale!r}")

    def forward(self, u):
        return self.scale * jax.nn.softplus(u)

    def inverse(self, theta):
        x = jnp.asarray(theta, dtype=float) / self.scale
        return x + jnp.log(-jnp.expm1(-x))  # softplus⁻¹, stable for large x

    def check(self, name, theta):
        arr = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(
                f"transforms[{name!r}] is Positive() but the initial value is {arr} "
                f"(must be finite and > 0)"
            )


class Interval(AbstractTransform):
    """θ = lo + (hi − lo)·sigmoid(u) ∈ (lo, hi)."""

    lo: float
    hi: float

    def __check_init__(self):
        for name, v in (("lo", self.lo), ("hi", self.hi)):
            if not isinstance(v, (int, float)):
                raise TypeError(f"Interval.{name} must be a number, got {v!r}")
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ValueError(f"Interval bounds must be finite, got lo={self.lo}, hi={self.hi}")
        if not self.lo < self.hi:
            raise ValueError(f"Interval needs lo < hi, got lo={self.lo}, hi={self.hi}")

    def forward(self, u):
        return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(u)

    def inverse(self, theta):
        p = (jnp.asarray(theta, dtype=float) - self.lo) / (self.hi - self.lo)
        return jnp.log(p) - jnp.log1p(-p)

    def check(self, name, theta):
        arr = np.asarray(theta, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr <= self.lo) or np.any(arr >= self.hi):
            raise ValueError(
                f"transforms[{name!r}] = Interval({self.lo}, {self.hi}) must contain the "
                f"initial value strictly inside, got {arr}"
            )


__all__ = ["AbstractTransform", "Identity", "Interval", "Positive"]
