"""Long runs in chunks: a progress bar, and streaming records to disk.

`simulate(..., progress=True)` or `simulate(..., stream_to=directory)` runs the clock loop
in chunks, each continuing from the previous chunk's `final_state` (time, state,
refractory ends, delay buffers and the global step that keys the random numbers, with
every chunk's times computed from the same origin), so the result is identical, bit for
bit, to one uninterrupted call. The monitors merge the chunks' results (`merge`).

With `stream_to`, each finished chunk is committed to disk as a crash-safe stream
(`neurodyn.io.stream`: the chunk and its resume state in one atomic write, then a manifest
with checksums) and the host holds one chunk at a time, so memory does not grow with the
simulated time.
"""

from __future__ import annotations

import math

from tqdm.auto import tqdm

from ._clock import ClockConfig, run_clock
from ._state import SimState, SimulationResult
from .io.stream import open_stream
from .monitors import AbstractMonitor, RunInfo, merge_results


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
    writer = None
    if stream_to is not None:
        writer = open_stream(stream_to, model, inp, solver, key, monitors, config.dt, state, per_chunk, grid)
    parts, done = [], 0
    with tqdm(total=n_steps, unit="step", desc=f"simulate {type(model).__name__}",
              disable=not show_progress) as bar:
        while done < n_steps:
            if writer is None:
                steps = min(per_chunk, n_steps - done)
                part = run_clock(model, inp, state, monitors, solver, key, t_origin, config,
                                 RunInfo(**{**vars(run), "n_steps": steps}))
                parts.append(part)
            else:
                # on the stream's chunk grid; each chunk's spike buffer sized for the chunk,
                # so memory does not grow with the simulated time
                steps = writer.next_steps(n_steps - done)
                part = run_clock(model, inp, state, writer.chunk_monitors(monitors, steps, n_steps), solver,
                                 key, t_origin, config, RunInfo(**{**vars(run), "n_steps": steps}))
                writer.commit(part)  # the chunk and its resume state, then the manifest
            state = part.final_state
            done += steps
            bar.update(steps)
    return writer.summary() if writer is not None else merge_results(monitors, parts)
