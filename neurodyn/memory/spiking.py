"""Model 3: a spiking attractor network — LIF neurons, Hebbian weights, balancing inhibition.

Construction: a rate-to-spike mapping of the Hopfield network (in the spirit of the
E/I attractor networks of Amit & Brunel 1997, with the weights taken from the Hopfield
rule rather than learned). Each binary unit i becomes an excitatory LIF neuron E_i that
fires at a rate r_on when "on" (ξ_i = +1) and is silent when "off". Dale's law is kept by
splitting the Hebbian weights W = (1/N) Σ_μ ξ^μ ξ^μᵀ (zero diagonal) into their positive
and negative parts:

    E_j → E_i   weight  J·max(W_ij, 0)           (receptor g_exc, τ_s = 20 ms)
    E_j → I_j   weight  w_relay (one to one)      (receptor g_exc, τ_s = 0.5 ms on I)
    I_j → E_i   weight −J·max(−W_ij, 0)           (receptor g_inh, τ_s = 20 ms)

Each inhibitory neuron I_j is a fast relay that fires once per spike of E_j (τ_m = 1 ms,
refractory 3 ms), so the inhibitory population carries the negative half of the Hebbian
field: excitation and inhibition onto every E neuron are of the same size (the crosstalk
of the other patterns) and balance, and their difference is the Hopfield field.

Mapping of the field onto currents (current-based synapses, LIF R = 1): a presynaptic
neuron firing at r (kHz) gives a mean current J·W_ij·r·τ_s. With on-neurons at r_on the
recurrent current into E_i in the state η = (ξ + 1)/2 is G·½(h_i + c_i), with
h_i = Σ_j W_ij ξ_j the Hopfield field, c_i = Σ_j W_ij and the gain G = J·r_on·τ_s. A
constant external current θ − G·c_i/2 cancels the c_i term, so the total drive is
θ + (G/2)·h_i: ≈ θ + G/2 for on-neurons and θ − G/2 (silent) for off-neurons, as
sign(h_i) says. r_on is the analytic LIF rate at drive θ + G/2 and J = G/(r_on τ_s)
makes the mapping self-consistent. E neurons: τ_m = 20 ms, θ = 20 mV, V_reset = 10 mV
(Brunel 2000's LIF values) and a long refractory period t_ref = 10 ms with G = 200 mV, so
r_on = 84 Hz, near the refractory ceiling of 100 Hz.

Why saturate: the mapping is exact only for binary rates. An LIF neuron's rate grows with
its drive, so on-neurons with a larger field fire faster and the network behaves as a
graded (low-gain) Hopfield network, whose mixture states capture the dynamics. With
Brunel's t_ref = 2 ms and G = 20 mV (r_on = 63 Hz, d ln r / dh ≈ 0.6) the rate version of
this network (r_i = φ(θ − G c_i/2 + G Σ_j W_ij r_j/r_on), iterated) retrieves from 10 %
flipped cues only up to α ≈ 0.03, less at larger N; with t_ref = 10 ms and G = 200 mV
(d ln r / dh ≈ 0.15) it retrieves ≥ 80 % of the cues up to α = 0.08 at N = 100–400.
Synapses are slow (τ_s = 20 ms, NMDA-like, as persistent-activity models use, e.g.
Wang 1999): with 5 ms synapses the regular, synchronous volleys of the deterministic
network oscillated and drifted to mixture states.

Retrieval: the cue (±1) is a current ±G/2 added for the first `cue_ms` (30 ms); initial
membrane potentials are uniform in [0, V_reset) (from the key), below the reset so that no
neuron fires before the cue has acted (a first volley of random neurons near threshold
would push the network toward mixture states). The read-out is the spike
count of each E neuron in the last `window_ms` (50 ms) of a `t1` = 100 ms run: +1 if its
rate is ≥ r_on/2, else −1 (on/off coding); its overlap with the stored pattern is the harness's m. Time to
retrieval: the end of the first 20 ms sliding window (5 ms steps, from cue onset) after
which the windowed read-out stays within overlap 0.95 of the final read-out. Rates and
the CV of inter-spike intervals during the read-out window come from `activity`.
Cost: synaptic events = spikes × row width (N targets per E or I spike, +1 relay).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import check_positive
from ..inputs import Step
from ..network import (
    Connectivity,
    CurrentSynapse,
    Network,
    Projection,
    simulate_network,
)
from ..neurons import LIF
from .harness import AbstractMemory, Retrieval, overlap

TAU_M, THRESHOLD, V_RESET, T_REF = 20.0, 20.0, 10.0, 10.0  # E neurons (module docstring)
TAU_SYN, TAU_RELAY = 20.0, 0.5  # ms (E→E, I→E; E→I relay)
RELAY_TAU_M, RELAY_T_REF, RELAY_WEIGHT = 1.0, 3.0, 200.0  # fires once per E spike


def on_rate_khz(gain_mv: float) -> float:
    """r_on in kHz: the LIF rate at drive θ + G/2 (t_ref + τ ln((V−V_r)/(V−θ)))⁻¹."""
    import math

    v = THRESHOLD + gain_mv / 2
    return 1.0 / (T_REF + TAU_M * math.log((v - V_RESET) / (v - THRESHOLD)))


class SpikingStore(eqx.Module):
    """What the spiking memory stores: the network and its constant external current."""

    network: Network
    bias: Float[Array, " neurons"]  # mV (R·I), E neurons then I neurons


class SpikingMemory(AbstractMemory):
    """LIF E/I attractor network built from Hebbian weights (module docstring).

    Fields:
        gain: G in mV, the drive difference between on and off neurons. Default 200 mV.
        t1: simulated ms per retrieval. Default 100 ms.
        dt: step in ms. Default 0.1 ms.
        cue_ms: how long the cue current is on. Default 30 ms.
        window_ms: read-out window at the end of the run. Default 50 ms.
    """

    gain: float = 200.0
    t1: float = 100.0
    dt: float = 0.1
    cue_ms: float = 30.0
    window_ms: float = 50.0

    binary: ClassVar[bool] = True
    symmetric: ClassVar[bool] = False  # on/off coding: −ξ is not an attractor
    operation_unit: ClassVar[str] = "synaptic event"

    def __check_init__(self):
        for name in ("gain", "t1", "dt", "cue_ms", "window_ms"):
            check_positive(name, getattr(self, name), owner="SpikingMemory")
        if self.window_ms + self.cue_ms > self.t1:
            raise ValueError(
                f"SpikingMemory: cue_ms + window_ms = {self.cue_ms + self.window_ms} must be <= t1 = {self.t1}"
            )
        if abs(5.0 / self.dt - round(5.0 / self.dt)) > 1e-9:
            raise ValueError(f"SpikingMemory: dt must divide the 5 ms read-out bins, got {self.dt}")

    @property
    def label(self) -> str:
        return "spiking LIF E/I"

    @property
    def weight_scale(self) -> float:
        """J = G / (r_on τ_s), mV per unit Hebbian weight per spike."""
        return self.gain / (on_rate_khz(self.gain) * TAU_SYN)

    def store(self, patterns, mask) -> SpikingStore:
        x = jnp.where(mask[:, None], patterns, 0.0)
        n = x.shape[1]
        w = x.T @ x / n
        w = w * (1.0 - jnp.eye(n, dtype=w.dtype))
        j = self.weight_scale
        rows = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (n, n))
        one = jnp.arange(n, dtype=jnp.int32)[:, None]
        neuron = LIF(
            tau_m=jnp.concatenate([jnp.full(n, TAU_M), jnp.full(n, RELAY_TAU_M)]),
            threshold=THRESHOLD, v_reset=V_RESET, v_rest=0.0,
            refractory_period=jnp.concatenate([jnp.full(n, T_REF), jnp.full(n, RELAY_T_REF)]),
        )
        net = Network(
            neuron,
            [CurrentSynapse("g_exc", jnp.concatenate([jnp.full(n, TAU_SYN), jnp.full(n, TAU_RELAY)])),
             CurrentSynapse("g_inh", TAU_SYN)],
            {"E": n, "I": n},
            [Projection("E", "E", Connectivity(rows, j * jnp.maximum(w, 0.0), n, n), "g_exc"),
             Projection("E", "I", Connectivity(one, jnp.asarray(RELAY_WEIGHT), n, n), "g_exc"),
             Projection("I", "E", Connectivity(rows, -j * jnp.maximum(-w, 0.0), n, n), "g_inh")],
        )
        c = jnp.sum(w, axis=1)
        bias = jnp.concatenate([THRESHOLD - 0.5 * self.gain * c, jnp.zeros(n)])
        return SpikingStore(net, bias)

    def _bins(self) -> tuple[int, int]:
        return round(self.t1 / 5.0), round(self.window_ms / 5.0)

    def run(self, memory: SpikingStore, cue, key: PRNGKeyArray):
        """Simulate one retrieval; returns (spike counts per 5 ms bin (bins, 2N), result)."""
        n = cue.shape[-1]
        drive = jnp.concatenate([0.5 * self.gain * cue, jnp.zeros(n)])
        # bias, plus the cue drive while t < cue_ms; an input module with array fields, not a
        # closure, so the compiled simulation is re-used for every cue instead of re-traced
        current = Step(memory.bias + drive, 0.0, self.cue_ms, baseline=memory.bias)
        v0 = jnp.concatenate([jr.uniform(key, (n,), minval=0.0, maxval=V_RESET), jnp.zeros(n)])
        max_spikes = int(2 * n * self.t1 / 1000.0 * 400) + 64  # 400 Hz ceiling
        res = simulate_network(memory.network, self.t1, self.dt, input=current,
                               initial_state={"v": v0}, max_spikes=max_spikes, check=False)
        n_bins, _ = self._bins()
        valid = res.spike_neurons >= 0
        b = jnp.clip((res.spike_times / 5.0).astype(jnp.int32), 0, n_bins - 1)
        counts = jnp.zeros((n_bins, 2 * n)).at[b, jnp.where(valid, res.spike_neurons, 0)].add(
            valid.astype(jnp.float32))
        return counts, res

    def retrieve(self, memory: SpikingStore, cue, key: PRNGKeyArray) -> Retrieval:
        n = cue.shape[-1]
        counts, res = self.run(memory, cue, key)
        n_bins, w_bins = self._bins()
        rate_on = on_rate_khz(self.gain)
        e = counts[:, :n]
        final = jnp.where(e[-w_bins:].sum(0) >= 0.5 * rate_on * self.window_ms, 1.0, -1.0)
        # 20 ms sliding windows (4 bins), one per 5 ms step
        win = jnp.stack([e[k:k + 4].sum(0) for k in range(n_bins - 3)])
        readouts = jnp.where(win >= 0.5 * rate_on * 20.0, 1.0, -1.0)
        settled = overlap(final, readouts) >= 0.95
        later_all = jnp.flip(jnp.cumprod(jnp.flip(settled).astype(jnp.int32))).astype(bool)
        first = jnp.argmax(later_all)
        events = jnp.sum(counts) * n + jnp.sum(counts[:, :n])  # rows of N, +1 relay per E spike
        return Retrieval(
            output=final,
            n_steps=jnp.asarray(round(self.t1 / self.dt)),
            time_ms=jnp.where(later_all[0] | (first > 0), (first + 4) * 5.0, jnp.nan),
            operations=events,
            converged=later_all[-1] & jnp.asarray(res.spikes_dropped == 0),
            trajectory=readouts,
        )

    def activity(self, memory: SpikingStore, cue, key: PRNGKeyArray) -> dict:
        """Rates (Hz) of on / off E neurons and of I neurons, and the mean CV of the
        inter-spike intervals of on E neurons, in the read-out window (host side)."""
        import numpy as np

        counts, res = self.run(memory, cue, key)
        n = cue.shape[-1]
        _, w_bins = self._bins()
        c = np.asarray(counts[-w_bins:].sum(0)) / (self.window_ms / 1000.0)
        on = np.asarray(c[:n] >= 0.5 * on_rate_khz(self.gain) * 1000.0)
        t, i = (np.asarray(a) for a in res.spikes())
        keep = t >= self.t1 - self.window_ms
        cvs = []
        for k in np.nonzero(on)[0]:
            isi = np.diff(np.sort(t[keep & (i == k)]))
            if isi.size >= 2:
                cvs.append(isi.std() / isi.mean())
        return {
            "rate_on_hz": float(c[:n][on].mean()) if on.any() else 0.0,
            "rate_off_hz": float(c[:n][~on].mean()) if (~on).any() else 0.0,
            "rate_inhibitory_hz": float(c[n:].mean()),
            "cv_isi_on": float(np.mean(cvs)) if cvs else float("nan"),
            "predicted_rate_on_hz": 1000.0 * on_rate_khz(self.gain),
        }

    def memory_bytes(self, n_patterns: int, n_neurons: int) -> int:
        # two dense N×N tables (E→E, I→E) of int32 target + float32 weight, and the relay
        return 2 * n_neurons * n_neurons * 8 + n_neurons * 4


__all__ = ["SpikingMemory", "SpikingStore", "on_rate_khz"]
