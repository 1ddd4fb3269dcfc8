"""Long runs in chunks: a progress bar, and streaming records to disk.

`simulate(..., progress=True)` or `simulate(..., stream_to=directory)` runs the clock loop
in chunks, each continuing from the previous chunk's `final_state` (time, state,
refractory ends, delay buffers and the global step that keys the random numbers, with
every chunk's times computed from the same origin), so the result is identical, bit for
bit, to one uninterrupted call. The monitors merge the chunks' results (`merge`).

With `stream_to`, each finished chunk's records go to disk (`neurodyn.monitors`: the
chunk files, `save_state`, `load_state`, `load_stream`) and the host holds one chunk at a
time, so memory does not grow with the simulated time.
"""

from __future__ import annotations

import math
from pathlib import Path

import jax.numpy as jnp
from tqdm.auto import tqdm

from ._clock import ClockConfig, run_clock
from ._state import SimState, SimulationResult
from .monitors import AbstractMonitor, RunInfo, _write_chunk, merge_results, save_state


def run_chunked(model, inp, state: SimState, monitors: tuple[AbstractMonitor, ...], solver, key,
                t_origin, config: ClockConfig, run: RunInfo, *, chunks: int, show_progress: bool,
                stream_to) -> SimulationResult:
    """Clock-mode run in chunks (see the module docstring); used by `simulate`."""
    n_steps = run.n_steps
    # Chunks are whole spike blocks (so every step runs in the same compiled block as in
    # one call: XLA may round a differently compiled step differently) and whole records
    # and rate bins.
    grid = math.lcm(config.block, *(m.chunk_steps for m in monitors))
    per_chunk = max(grid, -(-n_steps // max(chunks, 1)))
    per_chunk = -(-per_chunk // grid) * grid
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
            part = run_clock(model, inp, state, monitors, solver, key, t_origin, config,
                             RunInfo(**{**vars(run), "n_steps": steps}))
            state = part.final_state
            if directory is not None:
                _write_chunk(directory / f"chunk_{first_chunk + len(parts):05d}.npz", part)
                save_state(directory, state)
                part = _without_records(part)
            parts.append(part)
            done += steps
            bar.update(steps)
    return merge_results(monitors, parts, streamed=directory is not None)


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
        blowup_step=part.blowup_step,
        weights=part.weights,
        weight_times=part.weight_times,
    )
