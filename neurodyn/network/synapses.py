"""Synapses (receptor types): exponential, alpha-shaped and delta (voltage-jump).

Exponential: one decaying variable per receptor type and postsynaptic neuron.

    dg/dt = −g/τ,        a presynaptic spike adds its weight w to g (after its delay)

Current-based (CUBA):      I_syn = g                      (g in the input's units)
Conductance-based (COBA):  I_syn = g·(E_rev − V)          (g in units of the leak conductance)

With the LIF neuron (R = 1, τ_m dV/dt = −(V − E_L) + I) these give exactly the Brette et al.
(2007) benchmark equations: COBA τ_m dV/dt = −(V − E_L) + g_e(E_e − V) + g_i(E_i − V), and
CUBA τ_m dV/dt = −(V − E_L) + g_e + g_i with g in mV (Brian2 examples COBA and CUBA).

Analytic response to one spike of weight w at t = 0 (CUBA, LIF, V(0) = E_L):
    g(t) = w e^{−t/τ_s},   V(t) − E_L = w τ_s/(τ_m − τ_s) (e^{−t/τ_m} − e^{−t/τ_s}),
    peak at t* = τ_m τ_s/(τ_m − τ_s) ln(τ_m/τ_s).

Alpha-shaped (`AlphaCurrentSynapse`, `AlphaConductanceSynapse`; Brian2/NEST `*_alpha`):
two variables per neuron, the synaptic variable g and its rise variable x (`<name>_rise`),

    dx/dt = −x/τ,   dg/dt = (e·x − g)/τ,     a spike of weight w adds w to x,

so one spike at t = 0 gives g(t) = w (t/τ) e^{1 − t/τ}: peak w at t = τ, the normalisation
of NEST's `iaf_psc_alpha` (PSC amplitude = weight at t = τ_syn) and `iaf_cond_alpha`.

Delta (`DeltaSynapse`; NEST `iaf_psc_delta`, Brian2 `on_pre='v += w'`): a spike makes the
membrane potential jump by w (mV). Its variable collects the jumps that arrive during a
step; the step's solver adds them to V at the end of the next step, after the
subthreshold update and before the threshold test, and clears it (NEST's order: integrate,
add the jumps of this step, test the threshold). While a neuron is refractory its V is
clamped, so the jumps that arrive then are discarded, as NEST's `iaf_psc_delta` does (its
default `refractory_input = False`; NEST's update: `if r == 0: V = P33 V + P30 I + jumps;
else: discard jumps, r -= 1`, then `if V >= V_th: spike`). A jump can therefore trigger a
spike in the step it lands in. Timing: a spike emitted in step s (time stamp t_{s+1}) sent
with delay d reaches the variable at t_{s+1} + d and lands in V one step later, at
t_{s+1} + d + dt: NEST's `iaf_psc_delta` with delay D is a neurodyn projection with
delay D − dt (D ≥ dt). Networks with delta synapses must be stepped by a solver that applies
the jumps (`neurodyn.network.ExactIntegration`, or any Diffrax solver wrapped in
`neurodyn.network.WithJumps`; `simulate_network` wraps the solver by itself).
"""


import abc
import math
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
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

    @property
    def state_names(self) -> tuple[str, ...]:
        """The receptor's state variables (the first is the synaptic variable g)."""
        return (self.name,)

    @property
    def spike_variable(self) -> str:
        """The state variable a presynaptic spike adds its weight to."""
        return self.name

    def initial_state(self) -> dict[str, Float[ArrayLike, "*neurons"]]:
        """Resting values of `state_names`."""
        return {self.name: self.resting_value}

    def decay(self, g: Float[Array, " neurons"]) -> Float[Array, " neurons"]:
        """dg/dt = −g/τ."""
        return -g / self.tau

    def vector_field(self, y: dict[str, Float[Array, " neurons"]]) -> dict[str, Float[Array, " neurons"]]:
        """d/dt of `state_names` given their values `y` (spikes enter through delivery)."""
        return {self.name: self.decay(y[self.name])}

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


class _AbstractAlphaSynapse(AbstractSynapse):
    """Two-state alpha synapse: dx/dt = −x/τ, dg/dt = (e·x − g)/τ (module docstring)."""

    @property
    def state_names(self) -> tuple[str, ...]:
        return (self.name, self.name + "_rise")

    @property
    def spike_variable(self) -> str:
        return self.name + "_rise"

    def initial_state(self):
        return {self.name: 0.0, self.name + "_rise": 0.0}

    def vector_field(self, y):
        g, x = y[self.name], y[self.name + "_rise"]
        return {self.name: (math.e * x - g) / self.tau, self.name + "_rise": -x / self.tau}


class AlphaCurrentSynapse(_AbstractAlphaSynapse):
    """Alpha-shaped current synapse (NEST `iaf_psc_alpha`): I_syn = g, peak w at t = τ.

    Weights may have either sign (negative: inhibitory current). With `IAF` neurons,
    weights are the PSC amplitude in pA, as in NEST.
    """

    name: str = eqx.field(static=True, default="ge")
    tau: Float[ArrayLike, "*neurons"] = 2.0  # ms; NEST iaf_psc_alpha tau_syn_ex default

    def __check_init__(self):
        check_parameter("AlphaCurrentSynapse", "tau", self.tau, lower=0.0, lower_open=True)

    def current(self, g, v):
        return g


class AlphaConductanceSynapse(_AbstractAlphaSynapse):
    """Alpha-shaped conductance synapse (NEST `iaf_cond_alpha`): I_syn = g (E_rev − v), w >= 0.

    I_syn depends on V, so the membrane equation has no closed-form step (`ExactIntegration`
    refuses it): step it with a Diffrax solver; `diffrax.Tsit5()` at dt = 0.1 ms gives NEST's
    `iaf_cond_alpha` PSP (τ = 0.2 ms, adaptive RKF45) to 1e-4 mV.
    """

    name: str = eqx.field(static=True, default="ge")
    tau: Float[ArrayLike, "*neurons"] = 0.2  # ms; NEST iaf_cond_alpha tau_syn_ex default
    reversal: Float[ArrayLike, "*neurons"] = 0.0  # E_rev, mV

    nonnegative_weights: ClassVar[bool] = True

    def __check_init__(self):
        check_parameter("AlphaConductanceSynapse", "tau", self.tau, lower=0.0, lower_open=True)
        check_parameter("AlphaConductanceSynapse", "reversal", self.reversal)

    def current(self, g, v):
        return g * (self.reversal - v)


class DeltaSynapse(AbstractSynapse):
    """Voltage-jump synapse: a spike of weight w makes `target` jump by w (module docstring).

    The variable `name` holds the jumps (mV) waiting to land at the end of the next step;
    weights may have either sign. `tau` is not used (a delta synapse has no time course).
    """

    name: str = eqx.field(static=True, default="jump")
    target: str = eqx.field(static=True, default="v")

    @property
    def tau(self):  # satisfies AbstractSynapse; a delta synapse has no decay
        return math.inf

    def __check_init__(self):
        if not isinstance(self.target, str) or not self.target:
            raise ValueError(f"DeltaSynapse.target must name a state variable (e.g. 'v'), got {self.target!r}")

    def vector_field(self, y):
        return {self.name: jnp.zeros_like(y[self.name])}

    def current(self, g, v):
        return jnp.zeros_like(v)
