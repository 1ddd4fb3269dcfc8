"""Long runs: chunks with a progress bar, streaming records to disk, saving and resuming.

`simulate(..., progress=True)` or `simulate(..., stream_to=directory)` runs the clock loop
in chunks, each continuing from the previous chunk's `final_state` (time, state,
refractory ends, delay buffers and the global step that keys the random numbers), so
the result is identical to one uninterrupted call.

With `stream_to`, each finished chunk is written to `directory/chunk_NNNNN.npz` (its
stored spikes, traces, record times and rate counts) and the state to continue from to
`directory/state.npz`; the host then holds one chunk at a time, so memory does not grow
with the simulated time. A run that was stopped (or that ends) can be continued with
`simulate(..., initial_state=load_state(directory), stream_to=directory)`: chunk files
are numbered on, and `load_stream(directory)` reads everything back as one
`SimulationResult`.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .simulate import SimState, SimulationResult, _run_clock

_STATE_FILE = "state.npz"


# --------------------------------------------------------------------------- state files


def save_state(path, state: SimState) -> None:
    """Write a `SimState` (e.g. `result.final_state`) to an .npz file (or a directory's state.npz)."""
    path = _state_path(path)
    leaves, treedef = jax.tree.flatten(state, is_leaf=lambda x: x is None)
    arrays = {f"leaf_{i}": np.asarray(x) for i, x in enumerate(leaves) if x is not None}
    none_at = np.array([i for i, x in enumerate(leaves) if x is None], dtype=np.int64)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, __n_leaves=len(leaves), __none_at=none_at, __names=np.array(sorted(state.y)), **arrays)
    tmp.replace(path)  # atomic: a run killed while saving leaves the previous state


def load_state(path, like: SimState | None = None) -> SimState:
    """Read a state written by `save_state` (or by a streamed run) to continue a run.

    The state's pytree structure is rebuilt from its variable names and buffers; pass
    `like` (any state of the same model) if the model's buffers are unusual.
    """
    path = _state_path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved state at {path}")
    with np.load(path) as f:
        n_leaves = int(f["__n_leaves"])
        none_at = set(f["__none_at"].tolist())
        names = [str(x) for x in f["__names"]]
        leaves = [None if i in none_at else jnp.asarray(f[f"leaf_{i}"]) for i in range(n_leaves)]
    if like is None:
        # SimState leaves in order: t, y (sorted keys), refractory_until, step, buffers...
        n_buffers = n_leaves - 3 - len(names)
        like = SimState(
            t=0.0, y={k: 0.0 for k in names}, refractory_until=0.0, step=0,
            buffers=tuple(0.0 for _ in range(n_buffers)),
        )
    treedef = jax.tree.structure(like, is_leaf=lambda x: x is None)
    if treedef.num_leaves != n_leaves:
        raise ValueError(f"{path} holds {n_leaves} arrays but the given state has {treedef.num_leaves}")
    return jax.tree.unflatten(treedef, leaves)


def _state_path(path) -> Path:
    path = Path(path)
    return path / _STATE_FILE if path.is_dir() or not path.suffix else path


# --------------------------------------------------------------------------- chunked runs


def run_chunked(model, inp, state, rec_idx, solver, key, config, *, chunks: int,
                show_progress: bool, stream_to) -> SimulationResult:
    """Clock-mode run in chunks (see the module docstring); used by `simulate`."""
    from tqdm.auto import tqdm

    n_steps = config.n_steps
    grid = int(np.lcm(config.record_every, max(config.rate_every, 1)))
    per_chunk = max(grid, -(-n_steps // max(chunks, 1)))
    per_chunk = -(-per_chunk // grid) * grid  # records and rate bins stay on one grid
    directory = None
    if stream_to is not None:
        directory = Path(stream_to)
        directory.mkdir(parents=True, exist_ok=True)
        first_chunk = len(sorted(directory.glob("chunk_*.npz")))
    parts, done = [], 0
    with tqdm(total=n_steps, unit="step", desc=f"simulate {type(model).__name__}",
              disable=not show_progress) as bar:
        while done < n_steps:
            steps = min(per_chunk, n_steps - done)
            part = _run_clock(model, inp, state, rec_idx, solver, key, _with_steps(config, steps))
            state = part.final_state
            if directory is not None:
                _write_chunk(directory / f"chunk_{first_chunk + len(parts):05d}.npz", part)
                save_state(directory, state)
                part = _without_records(part)
            parts.append(part)
            done += steps
            bar.update(steps)
    return merge(parts, 0 if directory is not None else config.max_spikes)


def _with_steps(config, n_steps: int):
    import dataclasses

    return dataclasses.replace(config, n_steps=n_steps)


def _write_chunk(path: Path, part: SimulationResult) -> None:
    k = int(part.n_spikes_stored)
    arrays = dict(
        spike_times=np.asarray(part.spike_times[:k]),
        spike_neurons=np.asarray(part.spike_neurons[:k]),
        times=np.asarray(part.times),
        recorded_neurons=np.asarray(part.recorded_neurons),
        spike_counts=np.asarray(part.spike_counts),
        n_spikes=np.asarray(part.n_spikes),
        blowup=np.asarray([part.blowup_time, part.blowup_neuron], dtype=np.float64),
        rate_bin_ms=np.asarray(part.rate_bin_ms),
        rate_groups=np.array([f"{name}:{size}" for name, size in part.rate_groups]),
        **{f"trace_{name}": np.asarray(v) for name, v in part.traces.items()},
    )
    if part.rate_counts is not None:
        arrays["rate_counts"] = np.asarray(part.rate_counts)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _without_records(part: SimulationResult) -> SimulationResult:
    """The chunk minus what was written to disk (spikes and traces), counts kept."""
    empty_t = jnp.zeros((0,), part.times.dtype)
    return SimulationResult(
        times=empty_t,
        traces={k: jnp.zeros((0,) + v.shape[1:], v.dtype) for k, v in part.traces.items()},
        recorded_neurons=part.recorded_neurons,
        spike_times=jnp.zeros((0,), part.spike_times.dtype),
        spike_neurons=jnp.zeros((0,), jnp.int32),
        n_spikes=part.n_spikes,
        n_spikes_stored=jnp.zeros((), jnp.int32),
        spike_counts=part.spike_counts,
        spikes_dropped=part.spikes_dropped,
        final_state=part.final_state,
        blowup_time=part.blowup_time,
        blowup_neuron=part.blowup_neuron,
        rate_counts=part.rate_counts,
        rate_groups=part.rate_groups,
        rate_bin_ms=part.rate_bin_ms,
    )


def merge(parts: list[SimulationResult], max_spikes: int) -> SimulationResult:
    """One result from consecutive chunks (host side), with a spike buffer of max_spikes.

    Spikes that do not fit count as dropped, except for streamed chunks (max_spikes = 0,
    records on disk), where only the chunks' own drops count.
    """
    first = parts[0]
    times = jnp.concatenate([p.spike_times[: int(p.n_spikes_stored)] for p in parts])
    neurons = jnp.concatenate([p.spike_neurons[: int(p.n_spikes_stored)] for p in parts])
    stored = min(int(times.shape[0]), max_spikes)
    pad = max_spikes - stored
    n_spikes = sum(int(p.n_spikes) for p in parts)
    n_dropped = sum(int(p.spikes_dropped) for p in parts) if max_spikes == 0 else n_spikes - stored
    blown = [p for p in parts if not bool(jnp.isnan(p.blowup_time))]
    return SimulationResult(
        times=jnp.concatenate([p.times for p in parts]),
        traces={k: jnp.concatenate([p.traces[k] for p in parts]) for k in first.traces},
        recorded_neurons=first.recorded_neurons,
        spike_times=jnp.concatenate([times[:stored], jnp.full((pad,), jnp.inf, times.dtype)]),
        spike_neurons=jnp.concatenate([neurons[:stored], jnp.full((pad,), -1, jnp.int32)]),
        n_spikes=jnp.asarray(n_spikes, jnp.int32),
        n_spikes_stored=jnp.asarray(stored, jnp.int32),
        spike_counts=sum(p.spike_counts for p in parts),
        spikes_dropped=jnp.asarray(n_dropped, jnp.int32),
        final_state=parts[-1].final_state,
        blowup_time=blown[0].blowup_time if blown else first.blowup_time,
        blowup_neuron=blown[0].blowup_neuron if blown else first.blowup_neuron,
        rate_counts=None if first.rate_counts is None else jnp.concatenate([p.rate_counts for p in parts]),
        rate_groups=first.rate_groups,
        rate_bin_ms=first.rate_bin_ms,
    )


# --------------------------------------------------------------------------- reading back


def load_stream(directory) -> SimulationResult:
    """Everything a streamed run (or several resumed runs) wrote to `directory`, as one result."""
    directory = Path(directory)
    files = sorted(directory.glob("chunk_*.npz"))
    if not files:
        raise FileNotFoundError(f"no chunk_*.npz files in {directory}")
    chunks = [dict(np.load(f)) for f in files]
    first = chunks[0]
    names = [k[len("trace_"):] for k in first if k.startswith("trace_")]
    spike_t = np.concatenate([c["spike_times"] for c in chunks])
    spike_i = np.concatenate([c["spike_neurons"] for c in chunks]).astype(np.int32)
    n_spikes = int(sum(int(c["n_spikes"]) for c in chunks))
    blow = [c["blowup"] for c in chunks if not np.isnan(c["blowup"][0])]
    groups = tuple((g.rsplit(":", 1)[0], int(g.rsplit(":", 1)[1])) for g in first["rate_groups"].tolist())
    return SimulationResult(
        times=jnp.asarray(np.concatenate([c["times"] for c in chunks])),
        traces={k: jnp.asarray(np.concatenate([c[f"trace_{k}"] for c in chunks])) for k in names},
        recorded_neurons=jnp.asarray(first["recorded_neurons"]),
        spike_times=jnp.asarray(spike_t),
        spike_neurons=jnp.asarray(spike_i),
        n_spikes=jnp.asarray(n_spikes, jnp.int32),
        n_spikes_stored=jnp.asarray(spike_t.shape[0], jnp.int32),
        spike_counts=jnp.asarray(sum(c["spike_counts"] for c in chunks)),
        spikes_dropped=jnp.asarray(n_spikes - spike_t.shape[0], jnp.int32),
        final_state=load_state(directory),
        blowup_time=jnp.asarray(blow[0][0] if blow else np.nan, jnp.float32),
        blowup_neuron=jnp.asarray(int(blow[0][1]) if blow else -1, jnp.int32),
        rate_counts=jnp.asarray(np.concatenate([c["rate_counts"] for c in chunks])) if "rate_counts" in first else None,
        rate_groups=groups,
        rate_bin_ms=float(first["rate_bin_ms"]),
    )
