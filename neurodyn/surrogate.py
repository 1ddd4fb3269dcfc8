"""Surrogate spike gradients: a Heaviside step whose derivative is replaced by a smooth one.

Clock-driven threshold crossings have zero gradient almost everywhere. `spike(x)` is H(x)
in the forward pass and uses a surrogate derivative (SuperSpike fast sigmoid, sigmoid,
arctan) in JVPs and gradients. `neurodyn.simulate(..., surrogate=...)` uses it for the
spikes of reset models (and networks of them), so spike counts, soft resets and the spikes
delivered to synapses are differentiable.
"""

import functools
import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

__all__ = ["SURROGATES", "check_surrogate", "spike"]

SURROGATES = ("fast_sigmoid", "sigmoid", "arctan")


def _surrogate_grad(x, shape: str, slope: float):
    if shape == "fast_sigmoid":  # SuperSpike (Zenke & Ganguli 2018): 1/(1 + β|x|)²
        return 1.0 / (1.0 + slope * jnp.abs(x)) ** 2
    if shape == "sigmoid":  # β σ(βx)(1 − σ(βx))
        s = jax.nn.sigmoid(slope * x)
        return slope * s * (1.0 - s)
    # arctan (Fang et al. 2021): d/dx [½ + arctan(π β x / 2)/π] = (β/2)/(1 + (πβx/2)²)
    return (slope / 2.0) / (1.0 + (math.pi * slope * x / 2.0) ** 2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _heaviside(x, shape, slope):
    return (x >= 0).astype(x.dtype)


@_heaviside.defjvp
def _heaviside_jvp(shape, slope, primals, tangents):
    (x,), (dx,) = primals, tangents
    return _heaviside(x, shape, slope), _surrogate_grad(x, shape, slope) * dx


def spike(
    x: Float[Array, "*shape"], surrogate: str = "fast_sigmoid", slope: float = 1.0
) -> Float[Array, "*shape"]:
    """Heaviside H(x) (1.0 for x ≥ 0) with a surrogate derivative.

    Forward: exact step. Backward/JVP: dH/dx replaced by
        fast_sigmoid (SuperSpike): 1/(1 + β|x|)²
        sigmoid:                   β σ(βx)(1 − σ(βx))
        arctan:                    (β/2)/(1 + (πβx/2)²)
    with slope β (per unit of x, e.g. 1/mV for x = V − V_th).
    """
    check_surrogate(surrogate, slope)
    return _heaviside(x, surrogate, float(slope))


def check_surrogate(surrogate: str, slope, slope_name: str = "slope") -> None:
    """Raise ValueError unless `surrogate` is a known shape and `slope` a number > 0."""
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
    if isinstance(slope, bool) or not (isinstance(slope, (int, float)) and slope > 0):
        raise ValueError(f"{slope_name} must be a number > 0 (per unit of V − V_th), got {slope!r}")
