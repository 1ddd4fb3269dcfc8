"""The Brunel (2000) sparse E/I network of delta-synapse integrate-and-fire neurons ("model A").

    τ_m dV/dt = −V + (jumps),   V ≥ θ → spike, V ← V_r, refractory τ_rp
    N_E = 0.8 N, N_I = 0.2 N; each neuron receives C_E = ε N_E excitatory and C_I = ε N_I
    inhibitory synapses (fixed in-degree, sources uniform, autapses and multapses allowed as
    in NEST's `fixed_indegree`), jumps J (E) and −g J (I), delay D; plus C_E external
    Poisson inputs at ν_ext = η ν_thr each, ν_thr = θ/(J C_E τ_m) (the rate that brings the
    free membrane to threshold on average).

Parameters: Brunel 2000, J Comput Neurosci 8:183, section 3 and Fig. 8 (τ_m = 20 ms,
θ = 20 mV, V_r = 10 mV, τ_rp = 2 ms, J = 0.1 mV, D = 1.5 ms, ε = 0.1), as in NEST's
`brunel_delta_nest.py` example (which resets to 0 mV instead). Regimes (Brunel 2000,
Fig. 8): g = 3, η = 2 synchronous regular (SR, fast oscillation near 1/(τ_rp + D) order);
g = 5, η = 2 asynchronous irregular (AI); g = 6, η = 4 synchronous irregular with fast
oscillations (SI fast); g = 4.5, η = 0.9 synchronous irregular, slow oscillations (SI slow).

Delays: NEST's `iaf_psc_delta` with delay D lands a jump in V at t_spike + D, and tests the
threshold after it; neurodyn's delta synapse lands jumps one step after they reach the
receptor (`neurodyn.network.synapses`), so the projections get delay D − dt. Stepped with
`ExactIntegration` (NEST's propagators), so a neuron's update is NEST's.
"""

from __future__ import annotations

import jax
from jaxtyping import PRNGKeyArray

from ..neurons.base import State
from ..neurons.iaf import IAF
from .connectivity import fixed_in_degree
from .network import Network, PoissonDrive, Projection
from .synapses import DeltaSynapse

__all__ = ["brunel_network", "population_spectrum"]


def brunel_network(
    key: PRNGKeyArray,
    n: int = 10_000,
    *,
    g: float = 5.0,
    eta: float = 2.0,
    epsilon: float = 0.1,
    j: float = 0.1,
    delay: float = 1.5,
    dt: float = 0.1,
    tau_m: float = 20.0,
    theta: float = 20.0,
    v_reset: float = 10.0,
    t_ref: float = 2.0,
    max_eta: float | None = None,
) -> tuple[Network, State]:
    """The network ("E", "I") and an initial state with V ~ U(0, θ) per neuron.

    Arguments: n neurons (80 % E), relative inhibition g, drive η = ν_ext/ν_thr, connection
    probability ε, jump J (mV), delay D (ms, NEST's convention: ≥ dt), step dt (ms) and the
    neuron's τ_m (ms), θ, V_r (mV), τ_rp (ms). `max_eta`: the largest η of a sweep, so that
    networks of one size share one compiled run (`PoissonDrive.max_rate`).
    """
    if not delay >= dt:
        raise ValueError(f"delay must be >= dt = {dt} ms (NEST's minimum delay), got {delay}")
    if not (0 < epsilon <= 1):
        raise ValueError(f"epsilon must lie in (0, 1], got {epsilon}")
    for name, value in (("g", g), ("eta", eta), ("j", j)):
        if not value >= 0 or value == float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    n_e = int(round(0.8 * n))
    n_i = n - n_e
    c_e, c_i = max(1, int(round(epsilon * n_e))), max(1, int(round(epsilon * n_i)))
    nu_thr = 1000.0 * theta / (j * c_e * tau_m)  # Hz
    k_e, k_i, k_v = jax.random.split(key, 3)
    neuron = IAF(tau_m=tau_m, e_l=0.0, threshold=theta, v_reset=v_reset, refractory_period=t_ref)
    d = round(delay / dt - 1) * dt
    net = Network(
        neuron,
        [DeltaSynapse("jump")],
        {"E": n_e, "I": n_i},
        [
            Projection("E", "all", fixed_in_degree(k_e, n_e, n, c_e, j, allow_duplicates=True), "jump", delay=d),
            Projection("I", "all", fixed_in_degree(k_i, n_i, n, c_i, -g * j, allow_duplicates=True), "jump", delay=d),
        ],
        drives=[PoissonDrive("all", "jump", c_e, eta * nu_thr, j, delay=d,
                             max_rate=None if max_eta is None else max(max_eta, eta) * nu_thr)],
    )
    y0 = net.initial_state()
    y0["v"] = jax.random.uniform(k_v, (n,), minval=0.0, maxval=theta)
    return net, y0


def population_spectrum(times_ms, t_start: float, t_stop: float, n: int, bin_ms: float = 1.0):
    """(frequencies in Hz, power) of the population rate in bins of `bin_ms` over [t_start, t_stop).

    Periodogram of the mean-subtracted rate (Hz per neuron), |FFT|²·bin/len, one-sided;
    the DC bin is dropped.
    """
    import numpy as np

    edges = np.arange(t_start, t_stop + 1e-9, bin_ms)
    counts, _ = np.histogram(np.asarray(times_ms), edges)
    rate = counts / n / (bin_ms / 1000.0)
    x = rate - rate.mean()
    power = np.abs(np.fft.rfft(x)) ** 2 * (bin_ms / 1000.0) / x.size
    freqs = np.fft.rfftfreq(x.size, bin_ms / 1000.0)
    return freqs[1:], power[1:]
