"""Exponential synapses: one decaying variable per receptor type and postsynaptic neuron.

    dg/dt = −g/τ,        a presynaptic spike adds its weight w to g (after its delay)

Current-based (CUBA):      I_syn = g                      (g in the input's units)
Conductance-based (COBA):  I_syn = g·(E_rev − V)          (g in units of the leak conductance)

With the LIF neuron (R = 1, τ_m dV/dt = −(V − E_L) + I) these give exactly the Brette et al.
(2007) benchmark equations: COBA τ_m dV/dt = −(V − E_L) + g_e(E_e − V) + g_i(E_i − V), and
CUBA τ_m dV/dt = −(V − E_L) + g_e + g_i with g in mV (Brian2 examples COBA and CUBA).

Analytic response to one spike of weight w at t = 0 (CUBA, LIF, V(0) = E_L):
    g(t) = w e^{−t/τ_s},   V(t) − E_L = w τ_s/(τ_m − τ_s) (e^{−t/τ_m} − e^{−t/τ_s}),
    peak at t* = τ_m τ_s/(τ_m − τ_s) ln(τ_m/τ_s).
"""


import abc
from typing import ClassVar

import equinox as eqx
from jaxtyping import Array, ArrayLike, Float

from ..neurons.base import check_parameter


class AbstractSynapse(eqx.Module):
    """A receptor type: its state variable `name`, decay time `tau` (ms) and current."""

    name: eqx.AbstractVar[str]
    tau: eqx.AbstractVar[Float[ArrayLike, "*neurons"]]

    # Whether weights must be >= 0 (conductances); checked when a projection is built.
    nonnegative_weights: ClassVar[bool] = False
    # Whether g has intrinsic white noise (`noise_amplitude`), integrated as an SDE.
    noisy: ClassVar[bool] = False
    resting_value: ClassVar[float] = 0.0

    def decay(self, g: Float[Array, " neurons"]) -> Float[Array, " neurons"]:
        """dg/dt = −g/τ."""
        return -g / self.tau

    def noise_amplitude(self) -> Float[ArrayLike, "*neurons"]:
        """b in dg = (...) dt + b dW (only for `noisy` receptors)."""
        raise NotImplementedError

    @abc.abstractmethod
    def current(self, g: Float[Array, " neurons"], v: Float[Array, " neurons"]) -> Float[Array, " neurons"]:
        """The synaptic input current given g and the membrane potential v."""


class CurrentSynapse(AbstractSynapse):
    """Current-based exponential synapse (CUBA): I_syn = g. Weights may have either sign."""

    name: str = eqx.field(static=True, default="ge")
    tau: Float[ArrayLike, "*neurons"] = 5.0  # ms

    def __check_init__(self):
        check_parameter("CurrentSynapse", "tau", self.tau, lower=0.0, lower_open=True)

    def current(self, g, v):
        return g


class ConductanceSynapse(AbstractSynapse):
    """Conductance-based exponential synapse (COBA): I_syn = g (E_rev − v); weights >= 0."""

    name: str = eqx.field(static=True, default="ge")
    tau: Float[ArrayLike, "*neurons"] = 5.0  # ms
    reversal: Float[ArrayLike, "*neurons"] = 0.0  # E_rev, mV

    nonnegative_weights: ClassVar[bool] = True

    def __check_init__(self):
        check_parameter("ConductanceSynapse", "tau", self.tau, lower=0.0, lower_open=True)
        check_parameter("ConductanceSynapse", "reversal", self.reversal)

    def current(self, g, v):
        return g * (self.reversal - v)


class OUCurrent(AbstractSynapse):
    """An Ornstein–Uhlenbeck noise current: dI = (μ − I)/τ dt + σ √(2/τ) dW, I_syn = I.

    Stationary mean μ and standard deviation σ (input units), correlation time τ (ms).
    Integrated by Diffrax as the diffusion of an Itô SDE (Euler–Maruyama); the run needs a
    `key`. Projections may also target it (spikes add to I, as for a CUBA receptor).
    Starts at μ (a stationary start needs I ~ N(μ, σ²): set it in `initial_state`).
    """

    name: str = eqx.field(static=True, default="I_noise")
    tau: Float[ArrayLike, "*neurons"] = 5.0  # ms
    mean: Float[ArrayLike, "*neurons"] = 0.0
    sigma: Float[ArrayLike, "*neurons"] = 1.0

    noisy: ClassVar[bool] = True

    def __check_init__(self):
        check_parameter("OUCurrent", "tau", self.tau, lower=0.0, lower_open=True)
        check_parameter("OUCurrent", "mean", self.mean)
        check_parameter("OUCurrent", "sigma", self.sigma, lower=0.0)

    @property
    def resting_value(self):
        return self.mean

    def decay(self, g):
        return (self.mean - g) / self.tau

    def noise_amplitude(self):
        return self.sigma * (2.0 / self.tau) ** 0.5

    def current(self, g, v):
        return g
