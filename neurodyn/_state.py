"""The state a run carries between calls (`SimState`) and what `simulate` returns."""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PyTree

from .io import nwb as _io_nwb
from .io import results as _io_results
from .neurons.base import State


class NumericalBlowUpError(FloatingPointError):
    """The state became NaN or infinite during a simulation."""


class SimState(eqx.Module):
    """Everything needed to continue a simulation: time, model state, refractory ends.

    `step` counts the clock steps since the run began (it sets the phase of delay buffers
    and which random numbers each step draws, so a continued run equals an uninterrupted
    one); `buffers` is the model's `delivery_state` (networks: delay ring buffers).
    """

    t: Float[Array, ""]
    y: State
    refractory_until: Float[Array, " neurons"]  # ms; -inf when not refractory
    step: Int[ArrayLike, ""] = 0
    buffers: PyTree = ()


class SimulationResult(eqx.Module):
    """What `simulate` returns: the fields its monitors filled, and the final state.

    Attributes:
        times: record times in ms, shape (records,) (`StateMonitor`).
        traces: recorded variables, each of shape (records, recorded neurons).
        recorded_neurons: indices of the recorded neurons.
        spike_times, spike_neurons: spike buffer of length `max_spikes` (`SpikeMonitor`);
            entries past `n_spikes_stored` are padding (inf and -1). Use `spikes()` for the
            trimmed, time-sorted lists.
        n_spikes: total number of spikes emitted (stored or not).
        n_spikes_stored: number of spikes in the buffer.
        spike_counts: spikes per neuron, always exact.
        spikes_dropped: spikes emitted but not stored (buffer full, or more than one spike
            of a neuron inside one spike block); 0 unless a warning was given.
        final_state: the state at t1, to continue a run with `initial_state=`.
        blowup_time, blowup_neuron: the time (ms) of the first state that was NaN or
            infinite, and the lowest-numbered neuron that was non-finite then (NaN and -1
            when the run stayed finite). Exact to the step: the state after step
            `blowup_step` (counted from the start of the run, like `SimState.step`).
        rate_counts: with a `RateMonitor` (`rate_every=k`), spikes of each group
            (`rate_groups`: a network's populations, else "all") in each bin of k steps,
            shape (bins, groups) (see `population_rate`). None otherwise.
        surrogate_counts: with `surrogate=...`, Σ_t s per neuron: equal to `spike_counts`
            in value, differentiable through the surrogate spikes. None otherwise.
        blowup_step: see blowup_time (-1 when the run stayed finite).
        weights, weight_times: with `WeightMonitor`s, {monitor name: (records, synapses)}
            and the record times (ms). None otherwise.
    """

    times: Float[Array, " records"]
    traces: dict[str, Float[Array, "records recorded"]]
    recorded_neurons: Int[Array, " recorded"]
    spike_times: Float[Array, " max_spikes"]
    spike_neurons: Int[Array, " max_spikes"]
    n_spikes: Int[Array, ""]
    n_spikes_stored: Int[Array, ""]
    spike_counts: Int[Array, " neurons"]
    spikes_dropped: Int[Array, ""]
    final_state: SimState
    blowup_time: Float[Array, ""]
    blowup_neuron: Int[Array, ""]
    rate_counts: Int[Array, "bins groups"] | None = None
    rate_groups: tuple[tuple[str, int], ...] = eqx.field(static=True, default=())  # (name, size)
    rate_bin_ms: float = eqx.field(static=True, default=0.0)
    surrogate_counts: Float[Array, " neurons"] | None = None
    blowup_step: Int[Array, ""] | None = None
    weights: dict[str, Float[Array, "weight_records synapses"]] | None = None
    weight_times: dict[str, Float[Array, " weight_records"]] | None = None

    def blew_up(self) -> Bool[Array, ""]:
        """Whether the state became NaN or infinite (the status of a `throw=False` run)."""
        return ~jnp.isnan(self.blowup_time)

    def population_rate(self, group: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(bin start times in ms, rate in Hz per neuron) of a group (default the first).

        From the `RateMonitor` (`rate_every`), which counts every spike (also those not
        stored) in bins of whole steps; `neurodyn.analysis` bins the stored spike times.
        """
        if self.rate_counts is None:
            raise ValueError("no rate monitor in this result: simulate with rate_every=k (steps per bin)")
        names = [g[0] for g in self.rate_groups]
        j = 0 if group is None else names.index(group) if group in names else None
        if j is None:
            raise KeyError(f"no group {group!r}; have {names}")
        counts = np.asarray(self.rate_counts[..., j])
        t0 = float(self.final_state.t) - counts.shape[-1] * self.rate_bin_ms
        times = t0 + self.rate_bin_ms * np.arange(counts.shape[-1])
        return times, counts / self.rate_groups[j][1] / (self.rate_bin_ms / 1000.0)

    def spikes(self) -> tuple[np.ndarray, np.ndarray]:
        """(spike_times, spike_neurons) as NumPy arrays, trimmed and sorted by time."""
        k = int(self.n_spikes_stored)
        times = np.asarray(self.spike_times[:k])
        neurons = np.asarray(self.spike_neurons[:k])
        order = np.lexsort((neurons, times))
        return times[order], neurons[order]

    def spike_trains(self) -> list[np.ndarray]:
        """One sorted array of spike times (ms) per neuron."""
        times, neurons = self.spikes()
        n = self.spike_counts.shape[-1]
        return [times[neurons == i] for i in range(n)]

    def save(self, path) -> Path:
        """Everything in this result to one checksummed .npz file, written atomically
        (`neurodyn.io.save`; read back with `neurodyn.io.load`, whose `final_state` continues
        the run)."""
        return _io_results.save(self, path)

    def to_nwb(self, path, **kwargs) -> Path:
        """This result as an NWB 2 file (`neurodyn.io.to_nwb`: spikes as a Units table per
        population, traces as TimeSeries with units, rates, parameters as metadata; keyword
        arguments as there). Needs the optional extra `neurodyn[nwb]`."""
        return _io_nwb.to_nwb(self, path, **kwargs)
