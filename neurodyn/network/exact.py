"""Exact integration of linear integrate-and-fire networks, and solvers that land delta jumps.

`ExactIntegration` is NEST's integration scheme for `iaf_psc_delta`, `iaf_psc_exp` and
`iaf_psc_alpha` (Rotter & Diesmann 1999, Biol Cybern 81:381): between spikes the membrane
and current synapses form a linear system with constant coefficients, so one step of length
h is a matrix exponential, applied in closed form ("propagators"):

    τ_m dV/dt = −(V − E_L) + R (I_ext + Σ_r I_r),      R = τ_m/C_m for `IAF`, `LIF.resistance`

    exponential current I (τ_s):   I ← P11 I,            P11 = e^{−h/τ_s}
                                   V gets  P21 I,          P21 = (R/τ_m) e^{−h/τ_m} φ(a, h)
    alpha current (g, x; τ):       x ← e^{−h/τ} x,       g ← e^{−h/τ} (g + e (h/τ) x)
                                   V gets  (R/τ_m) e^{−h/τ_m} (φ(a, h) g + (e/τ) ψ(a, h) x)
    constant input I_ext (+ I_e):  V gets  P20 I_ext,      P20 = R (1 − e^{−h/τ_m})
    membrane:                      V − E_L ← P22 (V − E_L), P22 = e^{−h/τ_m}
    delta jumps:                   V ← V + (jumps that arrived), jump variable ← 0

with a = 1/τ_m − 1/τ_syn, φ(a, h) = ∫₀^h e^{a s} ds = (e^{a h} − 1)/a and
ψ(a, h) = ∫₀^h s e^{a s} ds = h² (z eᶻ − eᶻ + 1)/z² (z = a h). For `IAF`, P21 equals NEST's
`propagator_32(τ_s, τ_m, C_m, h)` = τ_s τ_m/(C_m (τ_m − τ_s)) (e^{−h/τ_m} − e^{−h/τ_s}),
and P20 NEST's τ_m/C_m (1 − e^{−h/τ_m}). Written with φ and ψ (series near z = 0), the
propagators stay accurate when τ_syn = τ_m, where the textbook forms are 0/0 (NEST
switches to a separate formula there). The input current is held at its value at the step
start (NEST's current generators are piecewise constant per step too). The synaptic
variables are propagated with the voltage update using their values at the step start, the
order of NEST's `update` (V first, then I ← P11 I, then the spikes of this step are added).

Conductance synapses (exponential or alpha: I = g (E_rev − V) makes the system
nonlinear in V) and OU currents (stochastic) have no closed-form step: they are refused,
with the fix in the message: a Diffrax solver, `diffrax.Tsit5()` for conductances (an
`iaf_cond_alpha` PSP, τ_syn = 0.2 ms, within 1e-4 mV of NEST's adaptive RKF45 at
dt = 0.1 ms; `ExponentialEuler` is first order and only fits synapses much slower than
dt), `diffrax.Euler()` (Euler–Maruyama) for noise; `simulate_network` wraps it in
`WithJumps` so delta synapses still land.

`WithJumps(solver)` runs any Diffrax solver and then lands the delta-synapse jumps, so delta
synapses work on every neuron model (e.g. AdEx with `v += w`) and with white noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import ClassVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

from ..neurons.base import State
from ..neurons.iaf import IAF
from ..neurons.lif import LIF
from ..solvers import _phi
from .synapses import AlphaConductanceSynapse, AlphaCurrentSynapse, ConductanceSynapse, CurrentSynapse, DeltaSynapse

__all__ = ["ExactIntegration", "WithJumps", "membrane_constants"]


def _psi(a: Float[Array, "..."], h: Float[ArrayLike, ""]) -> Float[Array, "..."]:
    """∫₀^h s e^{a s} ds = h² (z eᶻ − eᶻ + 1)/z², z = a h; h²/2 at a = 0.

    The closed form cancels to ~ulp/z² near z = 0: below |z| = 0.5 (float32) or 1e-2
    (float64) the series h² Σ_k z^k/(k! (k + 2)) is used (10 terms: next term < 1e-9).
    """
    z = a * h
    z0 = 1e-2 if z.dtype == jnp.float64 else 0.5
    small = jnp.abs(z) < z0
    safe_z = jnp.where(small, 1.0, z)
    ez = jnp.exp(safe_z)
    exact = (safe_z * ez - ez + 1.0) / (safe_z * safe_z)
    series = jnp.zeros_like(z)
    for k in reversed(range(10)):
        series = series + z**k / (math.factorial(k) * (k + 2))
    return h * h * jnp.where(small, series, exact)


def membrane_constants(model) -> tuple:  # (τ_m, E_L, R, I_bias)
    """(τ_m, E_L, R, I_bias) of a linear integrate-and-fire model: τ_m dV/dt = −(V − E_L) + R (I + I_bias)."""
    if isinstance(model, IAF):
        return model.tau_m, model.e_l, model.tau_m / model.c_m, model.i_e
    if isinstance(model, LIF):
        return model.tau_m, model.v_rest, model.resistance, 0.0
    raise TypeError(
        f"exact integration needs a linear integrate-and-fire model (IAF or LIF), got {type(model).__name__}"
    )


def propagate_membrane(v, current_terms, tau_m, e_l, r, i_ext, h):
    """One exact step of V given the current-synapse contributions (see module docstring)."""
    # In increments (expm1 = P22 − 1): V + ΔV rounds once, where E_L + P22 (V − E_L) would
    # round V − E_L first; in float32 the decay of a PSP below ~ulp(E_L)·τ_m/h still stalls
    # (ulp(70 mV) = 7.6e-6 mV), as any absolute-V float32 scheme does (NEST uses doubles).
    decay = jnp.expm1(-h / tau_m)
    return v + (decay * (v - e_l) - r * decay * i_ext + current_terms)


def propagate_network(network, y: State, input_current, h) -> State:
    """One exact step of length h (ms) of a linear IAF `Network` (module docstring)."""
    for syn in network.synapses:
        if isinstance(syn, (ConductanceSynapse, AlphaConductanceSynapse)):
            raise ValueError(
                f"ExactIntegration: receptor {syn.name!r} is a {type(syn).__name__}: a conductance "
                f"makes the membrane equation nonlinear in V (I = g (E_rev − V)), so there is no "
                f"closed-form step; use a Diffrax solver: diffrax.Tsit5() (an iaf_cond_alpha PSP "
                f"within 1e-4 mV of NEST's at dt = 0.1 ms) or neurodyn.solvers.ExponentialEuler() "
                f"(first order, for synapses much slower than dt)"
            )
        if not isinstance(syn, (CurrentSynapse, AlphaCurrentSynapse, DeltaSynapse)):
            raise ValueError(
                f"ExactIntegration: receptor {syn.name!r} is a {type(syn).__name__}; exact "
                f"propagators exist for current synapses (CurrentSynapse, AlphaCurrentSynapse, "
                f"DeltaSynapse) only: use a Diffrax solver (diffrax.Euler() for noise, "
                f"Euler–Maruyama)"
            )
    consts = [membrane_constants(m) for m in network.models]
    if not network.mixed:
        tau_m, e_l, r, bias = consts[0]
    else:
        tau_m, e_l, r, bias = (network.per_neuron([c[j] for c in consts]) for j in range(4))
    if network.neuron_state_names != ("v",):
        raise ValueError(f"ExactIntegration: the neurons must have the one state variable v, got {network.neuron_state_names}")
    i_ext = network.external_current(input_current) + bias
    y1 = dict(y)
    p22 = jnp.exp(-h / tau_m)
    syn_terms = 0.0
    for syn in network.synapses:
        if isinstance(syn, DeltaSynapse):
            continue
        a = 1.0 / tau_m - 1.0 / syn.tau
        a = jnp.broadcast_to(a, y["v"].shape)
        decay = jnp.exp(-h / syn.tau)
        g = y[syn.name]
        if isinstance(syn, CurrentSynapse):
            syn_terms = syn_terms + (r / tau_m) * p22 * _phi(a, h) * g
            y1[syn.name] = decay * g
        else:  # alpha: g and its rise variable x
            x = y[syn.spike_variable]
            syn_terms = syn_terms + (r / tau_m) * p22 * (_phi(a, h) * g + (math.e / syn.tau) * _psi(a, h) * x)
            y1[syn.name] = decay * (g + math.e * (h / syn.tau) * x)
            y1[syn.spike_variable] = decay * x
    y1["v"] = propagate_membrane(y["v"], syn_terms, tau_m, e_l, r, i_ext, h)
    return network.land_jumps(y1)


class _AbstractNetworkSolver(diffrax.AbstractSolver):
    """A fixed-step solver that reads the model from `simulate`'s args (model, input, t)."""

    term_structure: ClassVar = diffrax.ODETerm
    interpolation_cls: ClassVar[Callable[..., diffrax.LocalLinearInterpolation]] = (
        diffrax.LocalLinearInterpolation
    )

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)


class ExactIntegration(_AbstractNetworkSolver):
    """NEST's exact integration (module docstring) for `IAF`/`LIF` and their networks.

    Exact for the subthreshold dynamics at any step: with current synapses (exponential,
    alpha, delta) and a constant input, V at every grid point is the analytic solution to
    rounding. Relies on `simulate` passing (model, input, t_start) as the solver's `args`.

    Example:
        >>> res = nd.simulate_network(net, 100.0, 0.1, solver=nd.network.ExactIntegration())
    """

    def order(self, terms) -> int:
        return 1

    def init(self, terms, t0, t1, y0, args) -> None:
        return None

    def step(self, terms, t0, t1, y0: State, args, solver_state, made_jump):
        del solver_state, made_jump
        model, inp, t_offset = args
        h = terms.contr(t0, t1)
        i_ext = inp(t_offset + t0)
        from .network import Network  # (network imports this module)

        if isinstance(model, Network):
            y1 = propagate_network(model, y0, i_ext, h)
        else:
            tau_m, e_l, r, bias = membrane_constants(model)
            y1 = {**y0, "v": propagate_membrane(y0["v"], 0.0, tau_m, e_l, r, i_ext + bias, h)}
        return y1, None, dict(y0=y0, y1=y1), None, diffrax.RESULTS.successful


class AbstractForwardingSolver(diffrax.AbstractWrappedSolver):
    """A wrapped Diffrax solver that takes its terms, interpolation and orders from `solver`;
    subclasses say what their `init`, `step` and `func` add around it (`WithJumps`, and the
    block solver of `neurodyn.distributed`)."""

    solver: eqx.AbstractVar[diffrax.AbstractSolver]

    @property
    def term_structure(self):
        return self.solver.term_structure

    @property
    def interpolation_cls(self):
        return self.solver.interpolation_cls

    def order(self, terms):
        return self.solver.order(terms)

    def strong_order(self, terms):
        return self.solver.strong_order(terms)


class WithJumps(AbstractForwardingSolver):
    """Any Diffrax solver, followed by landing a network's delta-synapse jumps.

    `simulate_network` wraps the solver in this by itself when the network has delta
    synapses. A wrapped solver in Diffrax's sense (`isinstance` checks see `solver`), so
    `WithJumps(diffrax.Euler())` integrates white noise too (`WhiteNoise` inputs, `OUCurrent`
    receptors): each step is one Euler–Maruyama step of the drift and diffusion, then the
    jumps that arrived land, as in the noise-free case.
    """

    solver: diffrax.AbstractSolver = diffrax.Euler()

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, args)

    def step(self, terms, t0, t1, y0: PyTree, args, solver_state, made_jump):
        y1, err, _, state, result = self.solver.step(terms, t0, t1, y0, args, solver_state, made_jump)
        y1 = args[0].land_jumps(y1)
        return y1, err, dict(y0=y0, y1=y1), state, result

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, args)
