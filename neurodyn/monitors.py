"""Long runs: chunks with a progress bar, streaming records to disk, saving and resuming.

`simulate(..., progress=True)` or `simulate(..., stream_to=directory)` runs the clock loop
in chunks, each continuing from the previous chunk's `final_state` (time, state,
refractory ends, delay buffers and the global step that keys the random numbers), so
the result is identical to one uninterrupted call.

With `stream_to`, each finished chunk is committed to `directory` as a crash-safe stream
(`neurodyn.io.stream`: one file per chunk holding its spikes, traces, rate counts and the
state to continue from, then a manifest with checksums); the host holds one chunk at a time,
so memory does not grow with the simulated time. A run that was stopped, or killed, is
continued with `simulate(..., initial_state=load_state(directory), stream_to=directory)`,
and `load_stream(directory)` reads everything back as one `SimulationResult`.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np

from .simulate import SimState, SimulationResult, _run_clock

# --------------------------------------------------------------------------- state files


def save_state(path, state: SimState) -> None:
    """Write a `SimState` (e.g. `result.final_state`) to an .npz file (`neurodyn.io.save_state`)."""
    from .io import save_state as _save

    _save(path, state)


def load_state(path, like: SimState | None = None) -> SimState:
    """Read a state to continue a run: a `save_state` file, or a stream directory's last
    committed state (`neurodyn.io.load_state`)."""
    from .io import load_state as _load

    return _load(path, like)


# --------------------------------------------------------------------------- chunked runs


def run_chunked(model, inp, state, rec_idx, solver, key, config, *, chunks: int,
                show_progress: bool, stream_to) -> SimulationResult:
    """Clock-mode run in chunks (see the module docstring); used by `simulate`."""
    from tqdm.auto import tqdm

    n_steps = config.n_steps
    grid = int(np.lcm(config.record_every, max(config.rate_every, 1)))
    per_chunk = max(grid, -(-n_steps // max(chunks, 1)))
    per_chunk = -(-per_chunk // grid) * grid  # records and rate bins stay on one grid
    writer = None
    if stream_to is not None:
        from .io.stream import open_stream

        writer = open_stream(stream_to, model, inp, solver, key, config, rec_idx, state, per_chunk)
    parts, done = [], 0
    with tqdm(total=n_steps, unit="step", desc=f"simulate {type(model).__name__}",
              disable=not show_progress) as bar:
        while done < n_steps:
            steps = min(per_chunk, n_steps - done) if writer is None else writer.next_steps(n_steps - done)
            # a stream sizes each chunk's spike buffer for the chunk: memory independent of duration
            cfg = _with_steps(config, steps) if writer is None else writer.chunk_config(config, steps, n_steps)
            part = _run_clock(model, inp, state, rec_idx, solver, key, cfg)
            state = part.final_state
            if writer is not None:
                writer.commit(part)  # the chunk and its resume state, then the manifest; totals kept
            else:
                parts.append(part)
            done += steps
            bar.update(steps)
    return writer.summary() if writer is not None else merge(parts, config.max_spikes)


def _with_steps(config, n_steps: int):
    return dataclasses.replace(config, n_steps=n_steps)


def merge(parts: list[SimulationResult], max_spikes: int) -> SimulationResult:
    """One result from consecutive chunks (host side), with a spike buffer of max_spikes.

    Spikes that do not fit count as dropped.
    """
    first = parts[0]
    times = jnp.concatenate([p.spike_times[: int(p.n_spikes_stored)] for p in parts])
    neurons = jnp.concatenate([p.spike_neurons[: int(p.n_spikes_stored)] for p in parts])
    stored = min(int(times.shape[0]), max_spikes)
    pad = max_spikes - stored
    n_spikes = sum(int(p.n_spikes) for p in parts)
    n_dropped = n_spikes - stored
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
    """Everything a streamed run (or several resumed runs) committed to `directory`, as one
    result (`neurodyn.io.load_stream`)."""
    from .io import load_stream as _load

    return _load(directory)
