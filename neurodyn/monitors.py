"""Monitors: what a run records, as objects (in Brian2's vocabulary), and long-run files.

    result = nd.simulate(net, 1000.0, 0.1, monitors=[
        nd.SpikeMonitor(max_spikes=200_000),
        nd.StateMonitor(("v", "ge"), neurons=[0, 1, 2], every=10),
        nd.RateMonitor(every=10),               # 1 ms bins per population
    ])

`simulate`'s keyword arguments `record`, `record_neurons`, `record_every`, `rate_every`
and `max_spikes` are a shorthand that builds these monitors. Memory is fixed before the
run starts: a monitor allocates its buffers from the run's length.

The monitor interface (`AbstractMonitor`) is how a new monitor plugs into the one clock
loop and into exact mode without editing either. A monitor owns

- its carry: `init` returns the pytree it carries through the run;
- its per-step work: `step`, called after every clock step with the step's index, start
  time, starting state and spikes (only for monitors whose `per_step` is True: their carry
  travels in the step loop, so keep it small; the others' carry stays outside it);
- its per-block work: `spikes`, called with the spikes of each block of steps (clock mode)
  or of each event (exact mode);
- exact-mode sampling: `sample_times` / `record_samples` (a monitor of the state);
- its result fields: `result` (fields of `SimulationResult`) and `merge` (chunked runs).

A plasticity (synapse/weight) monitor is such a monitor whose `step` reads the weights from
the model (or, once weights are state, from the carried state): `WeightMonitor` records a
subset of any weight array every k steps.

The second half of this module holds the files of long runs: `save_state`, `load_state`,
`load_stream` (see `simulate(stream_to=...)`): each finished chunk is committed to
`directory` as a crash-safe stream (`neurodyn.io.stream`: one file per chunk holding its
records and the state to continue from, then a manifest with checksums); a run that was
stopped, or killed, is continued with
`simulate(..., initial_state=load_state(directory), stream_to=directory)`, and
`load_stream(directory)` reads everything back as one `SimulationResult`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PyTree

from ._checks import check_int, concrete
from ._state import SimState, SimulationResult
from .io import results as _io_results
from .io import stream as _io_stream
from .neurons.base import AbstractNeuron, AbstractSpikingNeuron, State


class RunInfo(eqx.Module):
    """Static facts about a run that monitors size their buffers from."""

    n: int = eqx.field(static=True)  # neurons
    n_steps: int = eqx.field(static=True)  # clock steps of this call
    dt: float = eqx.field(static=True)  # ms
    duration_ms: float = eqx.field(static=True)  # t1 - t0 of the whole run
    mode: str = eqx.field(static=True)  # "clock" or "exact"
    spiking: bool = eqx.field(static=True)
    groups: tuple[tuple[str, int, int], ...] = eqx.field(static=True)  # (name, start, stop)
    state_names: tuple[str, ...] = eqx.field(static=True)
    model_name: str = eqx.field(static=True)


def run_info(model: AbstractNeuron, n: int, n_steps: int, dt: float, duration_ms: float, mode: str) -> RunInfo:
    spiking = isinstance(model, AbstractSpikingNeuron)
    groups = model.populations or (("all", 0, n),)
    return RunInfo(n=n, n_steps=n_steps, dt=float(dt), duration_ms=float(duration_ms), mode=mode,
                   spiking=spiking, groups=tuple(groups), state_names=tuple(model.state_names),
                   model_name=type(model).__name__)


class StepData(NamedTuple):
    """What a monitor sees after one clock step."""

    k: Int[Array, ""]  # index of the step within this call (0-based)
    t: Float[Array, ""]  # time at the start of the step, ms
    y: State  # state at the start of the step
    spiked: Bool[Array, " neurons"] | None  # spikes during the step (None: not a spiking model)
    model: AbstractNeuron
    buffers: PyTree = ()  # the model's delivery state at the start of the step (plastic weights)


class AbstractMonitor(eqx.Module):
    """The interface every monitor implements (see the module docstring)."""

    @property
    @abc.abstractmethod
    def per_step(self) -> bool:
        """Whether `step` does work (then the carry travels in the step loop)."""

    @property
    @abc.abstractmethod
    def chunk_steps(self) -> int:
        """Chunked runs split the run into multiples of this many steps (records/bins)."""

    @abc.abstractmethod
    def prepare(self, run: RunInfo) -> AbstractMonitor:
        """This monitor checked against the run, with defaults resolved (host side)."""

    @abc.abstractmethod
    def init(self, run: RunInfo, dtype) -> PyTree:
        """The carry at the start of a call."""

    @abc.abstractmethod
    def step(self, carry: PyTree, run: RunInfo, data: StepData) -> PyTree:
        """Per-step work (clock mode; only called when `per_step`)."""

    @abc.abstractmethod
    def spikes(self, carry: PyTree, run: RunInfo, times: Float[Array, " neurons"],
               counts: Int[Array, " neurons"]) -> PyTree:
        """Spikes since the last call: per neuron, their count and (last) time (ms)."""

    @abc.abstractmethod
    def sample_times(self, run: RunInfo, t_start: Float[Array, ""]) -> Float[Array, " samples"] | None:
        """Exact mode: the times at which this monitor samples the state (None: never)."""

    @abc.abstractmethod
    def record_samples(self, carry: PyTree, run: RunInfo, mask: Bool[Array, " samples"],
                       samples: State) -> PyTree:
        """Exact mode: the state at `sample_times` where `mask` (each (samples, neurons))."""

    @abc.abstractmethod
    def result(self, carry: PyTree, run: RunInfo, t_start: Float[Array, ""]) -> dict[str, Any]:
        """Fields of `SimulationResult` from the final carry."""

    @abc.abstractmethod
    def merge(self, parts: Sequence[SimulationResult]) -> dict[str, Any]:
        """Fields of one result from consecutive chunks (host side). (Streamed runs do not
        merge: their records are on disk and `neurodyn.io.stream` keeps the totals.)"""


def _every_step_count(n_steps: int, every: int) -> int:
    return -(-n_steps // every)


class SpikeMonitor(AbstractMonitor):
    """Spike times and neuron indices in a bounded buffer (Brian2's `SpikeMonitor`).

    Arguments:
        max_spikes: capacity of the buffer; spikes past it are counted in
            `spikes_dropped` (and `simulate` warns), never stored. Default: 500 Hz per
            neuron over the run, plus 64, at most 5·10⁷.

    In clock mode spikes are compacted into the buffer once per spike block (see
    `simulate`'s `spike_block`); a neuron that fires twice within one block keeps its
    last spike and the other counts as dropped (`spike_counts` stays exact).
    """

    max_spikes: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_int("max_spikes", self.max_spikes, lower=1, owner="SpikeMonitor", allow_none=True)

    @property
    def per_step(self) -> bool:
        return False

    @property
    def chunk_steps(self) -> int:
        return 1

    def prepare(self, run):
        if self.max_spikes is not None:
            return self
        duration_s = run.duration_ms / 1000.0
        return SpikeMonitor(int(min(run.n * np.ceil(duration_s * 500) + 64, 50_000_000)))

    def init(self, run, dtype):
        # n spare entries: a whole block always fits; entries past n_stored are
        # overwritten by the next block or masked at the end.
        return dict(
            t=jnp.full((self.max_spikes + run.n,), jnp.inf, dtype),
            i=jnp.full((self.max_spikes + run.n,), -1, jnp.int32),
            n_stored=jnp.zeros((), jnp.int32),
            dropped=jnp.zeros((), jnp.int32),
        )

    def step(self, carry, run, data):
        return carry

    def spikes(self, carry, run, times, counts):
        n = run.n
        fired = counts > 0
        k_block = jnp.sum(fired, dtype=jnp.int32)
        total = jnp.sum(counts, dtype=jnp.int32)
        (idx,) = jnp.nonzero(fired, size=n, fill_value=n - 1)
        stored = carry["n_stored"]
        n_keep = jnp.minimum(k_block, self.max_spikes - stored)
        pos = jnp.minimum(stored, self.max_spikes)
        keep = jnp.arange(n) < n_keep
        return dict(
            t=jax.lax.dynamic_update_slice(carry["t"], jnp.where(keep, times[idx], jnp.inf), (pos,)),
            i=jax.lax.dynamic_update_slice(carry["i"], jnp.where(keep, idx, -1).astype(jnp.int32), (pos,)),
            n_stored=stored + n_keep,
            dropped=carry["dropped"] + (total - n_keep),
        )

    def sample_times(self, run, t_start):
        return None

    def record_samples(self, carry, run, mask, samples):
        return carry

    def result(self, carry, run, t_start):
        valid = jnp.arange(self.max_spikes) < carry["n_stored"]
        return dict(
            spike_times=jnp.where(valid, carry["t"][: self.max_spikes], jnp.inf),
            spike_neurons=jnp.where(valid, carry["i"][: self.max_spikes], -1),
            n_spikes_stored=carry["n_stored"],
            spikes_dropped=carry["dropped"],
        )

    def merge(self, parts):
        """Spikes that do not fit in this monitor's buffer count as dropped."""
        max_spikes = self.max_spikes
        # sliced in NumPy: a JAX slice per distinct stored count compiles (and keeps) one op each
        times = jnp.asarray(np.concatenate([np.asarray(p.spike_times)[: int(p.n_spikes_stored)] for p in parts]))
        neurons = jnp.asarray(np.concatenate([np.asarray(p.spike_neurons)[: int(p.n_spikes_stored)] for p in parts]))
        stored = min(int(times.shape[0]), max_spikes)
        pad = max_spikes - stored
        n_spikes = sum(int(p.n_spikes) for p in parts)
        n_dropped = n_spikes - stored
        return dict(
            spike_times=jnp.concatenate([times[:stored], jnp.full((pad,), jnp.inf, times.dtype)]),
            spike_neurons=jnp.concatenate([neurons[:stored], jnp.full((pad,), -1, jnp.int32)]),
            n_spikes_stored=jnp.asarray(stored, jnp.int32),
            spikes_dropped=jnp.asarray(n_dropped, jnp.int32),
        )


class StateMonitor(AbstractMonitor):
    """State variables of chosen neurons every k steps (Brian2's `StateMonitor`).

    Arguments:
        variables: names of state variables (e.g. ("v",)); () records nothing.
        neurons: indices (or a slice) of the neurons to record; default all.
        every: record every k-th step: the state at t0 + j·k·dt, j = 0, 1, ... (the state
            at the start of each k-th step; t1 itself is not recorded).

    Result fields: `times` (records,), `traces` {variable: (records, neurons)},
    `recorded_neurons`.
    """

    variables: tuple[str, ...] = eqx.field(static=True)
    neurons: Int[Array, " recorded"] | None = None
    every: int = eqx.field(static=True, default=1)

    def __init__(self, variables: str | Sequence[str] = ("v",), neurons=None, every: int = 1):
        if isinstance(variables, str):
            variables = (variables,)
        variables = tuple(variables)
        for v in variables:
            if not isinstance(v, str):
                raise TypeError(f"StateMonitor.variables must be names of state variables, got {v!r}")
        self.variables = variables
        self.neurons = neurons if neurons is None or isinstance(neurons, slice) else _check_indices(neurons)
        self.every = check_int("every", every, lower=1, owner="StateMonitor", meaning="steps per record")

    @property
    def per_step(self) -> bool:
        return bool(self.variables)

    @property
    def chunk_steps(self) -> int:
        return self.every if self.variables else 1

    def prepare(self, run):
        for name in self.variables:
            if name not in run.state_names:
                raise ValueError(
                    f"record: unknown variable {name!r}; {run.model_name} has state variables "
                    f"{run.state_names}"
                )
        idx = np.arange(run.n)
        if isinstance(self.neurons, slice):
            idx = idx[self.neurons]
        elif self.neurons is not None:
            idx = np.asarray(self.neurons)
            if idx.size and (idx.min() < 0 or idx.max() >= run.n):
                raise ValueError(
                    f"record_neurons must lie in [0, {run.n - 1}], got min {idx.min()}, max {idx.max()}"
                )
        return StateMonitor(self.variables, idx, self.every)

    def _n_records(self, run) -> int:
        return _every_step_count(run.n_steps, self.every) if self.variables else 0

    def init(self, run, dtype):
        if not self.per_step:
            return None
        n_rec = self.neurons.shape[0]
        return (
            {k: jnp.zeros((self._n_records(run), n_rec), dtype) for k in self.variables},
            jnp.zeros((self._n_records(run),), dtype),
        )

    def step(self, carry, run, data):
        def write(carry):
            traces, times = carry
            j = data.k // self.every
            traces = {
                k: jax.lax.dynamic_update_index_in_dim(traces[k], data.y[k][self.neurons], j, 0)
                for k in self.variables
            }
            return traces, times.at[j].set(data.t)

        return jax.lax.cond(data.k % self.every == 0, write, lambda c: c, carry)

    def spikes(self, carry, run, times, counts):
        return carry

    def sample_times(self, run, t_start):
        if not self.per_step:
            return None
        return t_start + jnp.arange(self._n_records(run), dtype=t_start.dtype) * (self.every * run.dt)

    def record_samples(self, carry, run, mask, samples):
        if not self.per_step:
            return carry
        traces, times = carry
        traces = {k: jnp.where(mask[:, None], samples[k][:, self.neurons], traces[k]) for k in self.variables}
        return traces, times

    def result(self, carry, run, t_start):
        if carry is None:
            dtype = t_start.dtype
            return dict(times=jnp.zeros((0,), dtype), traces={}, recorded_neurons=self.neurons)
        traces, times = carry
        if run.mode == "exact":
            times = self.sample_times(run, t_start)
        return dict(times=times, traces=traces, recorded_neurons=self.neurons)

    def merge(self, parts):
        first = parts[0]
        return dict(
            times=jnp.concatenate([p.times for p in parts]),
            traces={k: jnp.concatenate([p.traces[k] for p in parts]) for k in first.traces},
            recorded_neurons=first.recorded_neurons,
        )


class RateMonitor(AbstractMonitor):
    """Spike counts per population in bins of k steps (Brian2's `PopulationRateMonitor`).

    Counts every spike, also those a full `SpikeMonitor` drops; memory 4·bins·groups bytes.
    The groups are the model's `populations` (a `Network`'s), else one group "all".
    Clock mode only; k must divide the number of steps (whole bins).
    Result: `rate_counts` (bins, groups), read as Hz with `result.population_rate(name)`.
    """

    every: int = eqx.field(static=True)

    def __check_init__(self):
        check_int("every", self.every, lower=1, owner="RateMonitor", meaning="steps per bin")

    @property
    def per_step(self) -> bool:
        return True

    @property
    def chunk_steps(self) -> int:
        return self.every

    def prepare(self, run):
        if run.mode != "clock" or not run.spiking:
            raise ValueError("rate_every / RateMonitor needs a spiking model in mode='clock'")
        if run.n_steps % self.every:
            raise ValueError(
                f"rate_every={self.every} steps must divide the run's {run.n_steps} steps (whole rate bins)"
            )
        return self

    def init(self, run, dtype):
        return jnp.zeros((_every_step_count(run.n_steps, self.every), len(run.groups)), jnp.int32)

    def step(self, carry, run, data):
        counts = jnp.stack([jnp.sum(data.spiked[a:b], dtype=jnp.int32) for _, a, b in run.groups])
        return carry.at[data.k // self.every].add(counts)

    def spikes(self, carry, run, times, counts):
        return carry

    def sample_times(self, run, t_start):
        return None

    def record_samples(self, carry, run, mask, samples):
        return carry

    def result(self, carry, run, t_start):
        return dict(
            rate_counts=carry,
            rate_groups=tuple((name, b - a) for name, a, b in run.groups),
            rate_bin_ms=self.every * run.dt,
        )

    def merge(self, parts):
        first = parts[0]
        return dict(
            rate_counts=jnp.concatenate([p.rate_counts for p in parts]),
            rate_groups=first.rate_groups,
            rate_bin_ms=first.rate_bin_ms,
        )


class WeightMonitor(AbstractMonitor):
    """A subset of a weight array every k steps: static weights, or plastic ones from the state.

    Arguments:
        weights: a function of the model returning a weight array, e.g.
            `lambda net: net.projections[0].connectivity.weight` (a scalar shared weight is
            broadcast). Static weights are parameters of the model, so their records repeat.
        synapses: flat indices into that array (its `ravel()` order: i·K + k in a
            connectivity's (n_pre, K) layout) of the synapses to record.
        every: steps per record (the weights at the start of each k-th step).
        name: key of this monitor in `result.weights` / `result.weight_times`.
        projection: instead of `weights`, a plastic projection of a `Network` (its index in
            `network.projections` or its label, e.g. "E->E"): the weights are read from the
            run's state (`neurodyn.network.plasticity`), as they change.
    """

    weights: Callable | None = eqx.field(static=True)
    synapses: Int[Array, " synapses"]
    every: int = eqx.field(static=True, default=1)
    name: str = eqx.field(static=True, default="weights")
    projection: int | str | None = eqx.field(static=True, default=None)

    def __init__(self, weights: Callable | None = None, synapses=None, every: int = 1, name: str = "weights", *,
                 projection: int | str | None = None):
        if (weights is None) == (projection is None):
            raise ValueError("WeightMonitor: give either weights (a function of the model) or projection= "
                             "(a plastic projection's index or label), not both or neither")
        if weights is not None and not callable(weights):
            raise TypeError(f"WeightMonitor.weights must be a function of the model, got {weights!r}")
        if synapses is None:
            raise ValueError("WeightMonitor.synapses: give the flat indices of the synapses to record")
        self.weights = weights
        self.projection = projection
        self.synapses = _check_indices(synapses, "WeightMonitor.synapses")
        self.every = check_int("every", every, lower=1, owner="WeightMonitor", meaning="steps per record")
        if not isinstance(name, str):
            raise TypeError(f"WeightMonitor.name must be a string, got {name!r}")
        self.name = name

    @property
    def per_step(self) -> bool:
        return True

    @property
    def chunk_steps(self) -> int:
        return self.every

    def prepare(self, run):
        if run.mode != "clock":
            raise ValueError("WeightMonitor needs mode='clock'")
        return self

    def init(self, run, dtype):
        n_rec = _every_step_count(run.n_steps, self.every)
        return jnp.zeros((n_rec, self.synapses.shape[0]), dtype), jnp.zeros((n_rec,), dtype)

    def _read(self, data):
        if self.weights is not None:
            return self.weights(data.model)
        from .network.network import Network  # networks sit above monitors

        if not isinstance(data.model, Network):
            raise ValueError(f"WeightMonitor(projection=...) records a Network's plastic projection, "
                             f"not a {type(data.model).__name__}")
        return data.buffers[data.model.plastic_projection(self.projection)].weight

    def step(self, carry, run, data):
        def write(carry):
            values, times = carry
            w = jnp.ravel(jnp.asarray(self._read(data)))
            w = jnp.broadcast_to(w, (1,))[jnp.zeros_like(self.synapses)] if w.size == 1 else w[self.synapses]
            j = data.k // self.every
            return values.at[j].set(w.astype(values.dtype)), times.at[j].set(data.t)

        return jax.lax.cond(data.k % self.every == 0, write, lambda c: c, carry)

    def spikes(self, carry, run, times, counts):
        return carry

    def sample_times(self, run, t_start):
        return None

    def record_samples(self, carry, run, mask, samples):
        return carry

    def result(self, carry, run, t_start):
        values, times = carry
        return dict(weights={self.name: values}, weight_times={self.name: times})

    def merge(self, parts):
        return dict(
            weights={self.name: jnp.concatenate([p.weights[self.name] for p in parts])},
            weight_times={self.name: jnp.concatenate([p.weight_times[self.name] for p in parts])},
        )


def _check_indices(indices, what: str = "record_neurons") -> np.ndarray:
    idx = concrete(indices)
    if idx is None:
        raise TypeError(f"{what} must be concrete integer indices (static), not a traced array")
    if idx.ndim == 0:
        idx = idx[None]
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{what} must be a 1-D array of integer indices, got {indices!r}")
    if what != "record_neurons" and idx.size and idx.min() < 0:
        raise ValueError(f"{what} must be >= 0, got min {idx.min()}")
    return idx


def check_monitors(monitors, run: RunInfo) -> tuple[AbstractMonitor, ...]:
    """The monitors of a run, checked and prepared; at most one Spike/State/Rate monitor."""
    if isinstance(monitors, AbstractMonitor):
        monitors = (monitors,)
    monitors = tuple(monitors)
    seen, names = set(), set()
    for m in monitors:
        if not isinstance(m, AbstractMonitor):
            raise TypeError(f"monitors must be monitor objects (SpikeMonitor, StateMonitor, ...), got {m!r}")
        kind = type(m)
        if isinstance(m, WeightMonitor):
            if m.name in names:
                raise ValueError(f"two WeightMonitors are named {m.name!r}: give each a distinct name=")
            names.add(m.name)
        elif kind in seen:
            raise ValueError(f"monitors: at most one {kind.__name__} per run")
        seen.add(kind)
    return tuple(m.prepare(run) for m in monitors)


def merge_results(monitors: Sequence[AbstractMonitor], parts: Sequence[SimulationResult]) -> SimulationResult:
    """One result from consecutive chunks (host side), through each monitor's `merge`."""
    first, last = parts[0], parts[-1]
    blown = [p for p in parts if not bool(jnp.isnan(p.blowup_time))]
    src = blown[0] if blown else first
    fields = dict(
        times=jnp.zeros((0,), first.times.dtype), traces={}, recorded_neurons=first.recorded_neurons,
        spike_times=jnp.zeros((0,), first.spike_times.dtype), spike_neurons=jnp.zeros((0,), jnp.int32),
        n_spikes_stored=jnp.zeros((), jnp.int32), spikes_dropped=jnp.zeros((), jnp.int32),
        n_spikes=jnp.asarray(sum(int(p.n_spikes) for p in parts), jnp.int32),
        spike_counts=sum(p.spike_counts for p in parts),
        final_state=last.final_state,
        blowup_time=src.blowup_time,
        blowup_neuron=src.blowup_neuron,
        blowup_step=src.blowup_step,
    )
    for m in monitors:
        for k, v in m.merge(parts).items():
            if k in ("weights", "weight_times") and fields.get(k):
                v = {**fields[k], **v}
            fields[k] = v
    return SimulationResult(**fields)


# --------------------------------------------------------------------------- state files


def save_state(path, state: SimState) -> None:
    """Write a `SimState` (e.g. `result.final_state`) to an .npz file (`neurodyn.io.save_state`)."""
    _io_results.save_state(path, state)


def load_state(path, like: SimState | None = None) -> SimState:
    """Read a state to continue a run: a `save_state` file, or a stream directory's last
    committed state (`neurodyn.io.load_state`)."""
    return _io_results.load_state(path, like)


def load_stream(directory) -> SimulationResult:
    """Everything a streamed run (or several resumed runs) committed to `directory`, as one
    result (`neurodyn.io.load_stream`)."""
    return _io_stream.load_stream(directory)


# --------------------------------------------------------------------------- results


def collect_results(monitors: Sequence[AbstractMonitor], carries: Sequence[PyTree], run: RunInfo,
                    t_start: Float[Array, ""], **core) -> SimulationResult:
    """A `SimulationResult` from the loop's own fields (`core`) and each monitor's."""
    dtype = t_start.dtype
    fields = dict(
        times=jnp.zeros((0,), dtype), traces={}, recorded_neurons=jnp.zeros((0,), jnp.int32),
        spike_times=jnp.zeros((0,), dtype), spike_neurons=jnp.zeros((0,), jnp.int32),
        n_spikes_stored=jnp.zeros((), jnp.int32), spikes_dropped=jnp.zeros((), jnp.int32),
    )
    fields.update(core)
    for m, c in zip(monitors, carries):
        for k, v in m.result(c, run, t_start).items():
            if k in ("weights", "weight_times") and fields.get(k):
                v = {**fields[k], **v}
            fields[k] = v
    return SimulationResult(**fields)
