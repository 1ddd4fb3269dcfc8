"""Diffrax solvers for neuron models that Diffrax does not ship.

`ExponentialEuler` is Brian2's `exponential_euler` as a Diffrax solver: each state variable
is advanced by the exact solution of its own equation linearised in that variable, with
every other variable frozen at the step start,

    dx_k/dt ≈ A_k x_k + B_k,   A_k = ∂f_k/∂x_k,   B_k = f_k − A_k x_k      (at y0, t0)
    x_k(t0 + h) = x_k + φ(A_k, h) f_k,             φ(A, h) = (e^{A h} − 1)/A  (→ h as A → 0)

For equations that are linear in their own variable ("conditionally linear": the membrane
equation of HH models and conductance LIF, the gates dx/dt = α(1 − x) − βx, exponential
synapses) this is Brian2's update exactly; it is exact for a linear ODE with constant
coefficients at any step size, and stable for stiff decays (|A h| ≫ 1) where forward Euler
diverges. Elsewhere (e.g. the exponential term of AdEx) it is the diagonal exponential
Rosenbrock–Euler method. Order 1 in every case.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import diffrax
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

__all__ = ["ExponentialEuler"]


def _phi(a: Float[Array, "..."], h: Float[ArrayLike, ""]) -> Float[Array, "..."]:
    """(e^{a h} − 1)/a, with its limit h (and a finite gradient) at a h → 0.

    With z = a h: for |z| >= z₀, h (eᶻ − 1)/z from one `exp` (XLA's CPU `expm1` costs
    ~2.5 `exp`s, and this runs once per state variable per neuron per step: see
    benchmarks/results/README.md for the measured step times); for |z| < z₀ the Taylor
    series h (1 + z/2 + z²/6 + … + z⁶/5040), whose next term is z⁷/40320. z₀ = 0.2 in float32
    (eᶻ − 1 then loses at most ~1 ulp/0.2 ≈ 3e-7 relative; series error 3e-10) and 1e-3 in
    float64 (cancellation 1e-13, series exact to rounding). The "double where" keeps the
    discarded branch's gradient finite (no 0/0 at z = 0).
    """
    z = a * h
    z0 = 1e-3 if z.dtype == jnp.float64 else 0.2
    small = jnp.abs(z) < z0
    safe_z = jnp.where(small, 1.0, z)
    exact = (jnp.exp(safe_z) - 1.0) / safe_z
    series = 1.0 + z * (1 / 2 + z * (1 / 6 + z * (1 / 24 + z * (1 / 120 + z * (1 / 720 + z / 5040)))))
    return h * jnp.where(small, series, exact)


class ExponentialEuler(diffrax.AbstractSolver):
    """Exponential Euler (Brian2's `exponential_euler`) for ODEs with a neuron axis.

    x_k ← x_k + (e^{A_k h} − 1)/A_k · f_k(t0, y0), with A_k = ∂f_k/∂x_k at the step start
    (see the module docstring). First order; fixed steps only (no error estimate); dense
    output is linear between the step's end points.

    The derivative A_k is the *diagonal* of the Jacobian: one Jacobian-vector product per
    state leaf k with tangent 1 on every element of leaf k gives Σ_i ∂f_{k,j}/∂x_{k,i}, which
    is ∂f_{k,j}/∂x_{k,j} because the elements of a leaf (the neurons of a population) do not
    interact through the vector field. Do not use it for an ODE whose array elements are
    coupled in f (e.g. a three-component Lorenz system stored as one array): split the
    components into separate leaves (a dict) instead.

    Example:
        >>> import neurodyn as nd
        >>> res = nd.simulate(nd.TraubMiles(), 100.0, 0.1, solver=nd.ExponentialEuler())
    """

    term_structure: ClassVar = diffrax.ODETerm
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = (
        diffrax.LocalLinearInterpolation
    )

    def order(self, terms) -> int:
        return 1

    def init(self, terms, t0, t1, y0, args) -> None:
        return None

    def step(self, terms, t0, t1, y0: PyTree, args, solver_state, made_jump):
        del solver_state, made_jump
        h = terms.contr(t0, t1)
        leaves, treedef = jax.tree.flatten(y0)

        def field(*xs):
            return jax.tree.leaves(terms.vf(t0, jax.tree.unflatten(treedef, xs), args))

        f0 = field(*leaves)
        new = []
        for k, (x, f) in enumerate(zip(leaves, f0)):
            # A JVP in leaf k alone: the other leaves' tangents are symbolic zeros, so only
            # the terms of ∂f_k/∂x_k are computed (the primal is shared with f0 by XLA).
            def f_k(x_k, k=k):
                return field(*leaves[:k], x_k, *leaves[k + 1 :])[k]

            _, a = jax.jvp(f_k, (x,), (jnp.ones_like(x),))
            new.append(x + _phi(a, h) * f)
        y1 = jax.tree.unflatten(treedef, new)
        dense_info = dict(y0=y0, y1=y1)
        return y1, None, dense_info, None, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)
