"""Crash-safe streams: a long run's chunks on disk, committed like database transactions.

`simulate(..., stream_to=directory)` writes

    directory/chunk_00000.npz, chunk_00001.npz, ...   one per finished chunk: its spikes,
                                                      traces, rate counts AND the state to
                                                      continue from, in one atomic write
    directory/manifest.json                          written last, after each chunk: what
                                                      produced the stream and the list of
                                                      committed chunks with their sha256

A chunk is committed when the manifest names it. Every file is written to a hidden temporary
name (`.chunk_00003.npz.tmp-PID`, never matched by `chunk_*.npz`), fsynced and renamed, so
a run killed at any point leaves the previous manifest and the chunks it names intact. The
crash windows and what a resumed run (`initial_state=load_state(directory)`) does:

- killed while a chunk or the manifest is being written, or between the two: the chunk is
  not in the manifest; the run resumes from the last committed chunk's state and writes the
  chunk again (the same bits: the run is deterministic), so no spike is duplicated or lost;
- the last committed chunk truncated or altered on disk (checksum mismatch): `load_state`
  warns, naming the file, and resumes from the chunk before it, which is recomputed;
- any other damaged chunk, or a damaged manifest: `load_stream` and `load_state` raise
  `DamagedFileError` naming the file.

The manifest records what produced the stream: sha256 fingerprints of the model (for a
network: parameters, connectivity, delays), of the input and of the recorded neurons, dt,
the PRNG key, the solver, the recorded variables and intervals, the chunk length and the
neurodyn version. A run that continues the stream must match all of them (the version
excepted), and must start from the state the stream ends with; otherwise it is refused
with a `StreamMismatchError` naming what differs. A resumed run cuts its chunks on the
stream's grid (`chunk_steps` from the stream's start), so an interrupted and resumed run
writes the same chunk files as an uninterrupted one.

Memory: a streamed run holds one chunk at a time; chunks are at most `STREAM_CHUNK_MS`
of simulated time and each chunk's spike buffer is sized for its own duration, so the
host and device memory do not grow with the simulated time.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ._arrays import (
    fingerprint,
    npz_bytes,
    read_npz,
    state_arrays,
    state_fingerprint,
    state_from_arrays,
)
from ._atomic import DamagedFileError, crash_point, remove_temps, sha256, write_atomic

MANIFEST = "manifest.json"
CHUNK_GLOB = "chunk_*.npz"
FORMAT = "neurodyn-stream-2"
STREAM_CHUNK_MS = 500.0  # longest chunk of a streamed run (simulated ms); sets its memory
_SPIKE_RATE_HZ = 500  # spike buffer per neuron and second, as simulate's default max_spikes

# producer fields a continuing run must match, with the words an error uses for them
_MATCHED = {
    "model_sha256": "the model (its parameters; for a network also connectivity, weights and delays)",
    "input_sha256": "the input",
    "dt": "dt (ms)",
    "key": "the PRNG key",
    "solver": "the solver",
    "dtype": "the dtype",
    "monitors_sha256": "the monitors (recorded variables and neurons, intervals, rate bins)",
}


class StreamMismatchError(ValueError):
    """A run would continue a stream that a different model, input, dt or state produced."""


def _chunk_name(i: int) -> str:
    return f"chunk_{i:05d}.npz"


# --------------------------------------------------------------------------- manifest


def _manifest_bytes(content: dict) -> bytes:
    body = {k: v for k, v in content.items() if k != "sha256"}
    body["sha256"] = sha256(json.dumps(body, sort_keys=True).encode())
    return json.dumps(body, indent=1, sort_keys=True).encode()


def read_manifest(directory) -> dict:
    """The stream's manifest (producer record and committed chunks), checksum verified."""
    path = Path(directory) / MANIFEST
    if not path.exists():
        if Path(directory).is_dir() and any(Path(directory).glob(CHUNK_GLOB)):
            raise FileNotFoundError(
                f"{directory} holds chunk files but no {MANIFEST}: written by an older neurodyn "
                f"or not a neurodyn stream"
            )
        raise FileNotFoundError(f"no stream in {directory} (missing {MANIFEST})")
    try:
        content = json.loads(path.read_bytes())
        stored = content.pop("sha256")
    except (ValueError, KeyError, AttributeError, TypeError, UnicodeDecodeError) as e:
        raise DamagedFileError(f"{path} is damaged (not a complete manifest: {e})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise DamagedFileError(f"{path} is not a {FORMAT} manifest")
    if sha256(json.dumps(content, sort_keys=True).encode()) != stored:
        raise DamagedFileError(f"{path} is damaged: its contents do not match their checksum")
    return content


def stream_metadata(directory) -> dict:
    """What produced a stream (`producer`) and its chunks (files, steps, times, spike counts)."""
    m = read_manifest(directory)
    return {"producer": m["producer"], "chunk_steps": m["chunk_steps"], "start_step": m["start_step"],
            "chunks": m["chunks"]}


def _producer(model, inp, solver, key, monitors, dt: float, state) -> dict:
    from .. import __version__

    if key is not None:
        import jax

        data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
        key = np.asarray(data).tobytes().hex()
    # a SpikeMonitor's buffer size depends on the run's length (and is re-sized per chunk):
    # it does not change what the stream holds
    kept = tuple(m for m in monitors if type(m).__name__ != "SpikeMonitor")
    return {
        "model": type(model).__name__,
        "model_sha256": fingerprint(model),
        "input_sha256": fingerprint(inp),
        "dt": float(dt),
        "key": key,
        "solver": f"{type(solver).__name__}:{fingerprint(solver)[:16]}",
        "dtype": str(np.asarray(state.refractory_until).dtype),
        "monitors": [type(m).__name__ for m in kept],
        # steps between records of the (first) StateMonitor, for readers such as stream_to_nwb
        "record_every": next((int(m.every) for m in kept if type(m).__name__ == "StateMonitor"), 0),
        "monitors_sha256": fingerprint(kept),
        "n_neurons": int(np.shape(state.refractory_until)[-1]),
        "neurodyn_version": __version__,
    }


# --------------------------------------------------------------------------- writing


class StreamWriter:
    """Commits a run's chunks to a stream directory (see the module docstring).

    `StreamWriter(directory, producer, state, chunk_steps)` opens a new stream or checks that
    `state` continues an existing one; then, per chunk, `next_steps(remaining)` gives the
    chunk's length on the stream's grid and `commit(part)` writes it.
    """

    def __init__(self, directory, producer: dict, state, chunk_steps: int):
        self.directory = d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        remove_temps(d)
        step = int(state.step)
        if (d / MANIFEST).exists():
            m = read_manifest(d)
            self.chunks = m["chunks"]
            if self.chunks:
                _check_producer(m["producer"], producer, d)
                self._resume_at(step, state)
                self.chunk_steps, self.start_step = int(m["chunk_steps"]), int(m["start_step"])
            if not self.chunks:  # nothing committed: a fresh start
                self.chunk_steps, self.start_step = int(chunk_steps), step
        else:
            if any(d.glob(CHUNK_GLOB)) or (d / "state.npz").exists():
                raise FileExistsError(
                    f"stream_to={str(d)!r} holds chunk files but no {MANIFEST} (an older neurodyn "
                    f"stream or other files): choose an empty directory"
                )
            self.chunks, self.chunk_steps, self.start_step = [], int(chunk_steps), step
        self.producer = producer
        self._write_manifest()
        for p in d.glob(CHUNK_GLOB):  # uncommitted chunks of a killed run
            if p.name not in {c["file"] for c in self.chunks}:
                p.unlink()
        self.step = step

    def _resume_at(self, step: int, state) -> None:
        d, chunks = self.directory, self.chunks
        ends = [int(c["step_end"]) for c in chunks]
        where = f"{d} holds steps {chunks[0]['step_start']}..{ends[-1]} (t = {chunks[0]['t_start']:g}..{chunks[-1]['t_end']:g} ms)"
        if step not in ends:
            raise StreamMismatchError(
                f"stream_to: {where}, but initial_state is at step {step} (t = {float(state.t):g} ms): "
                f"continue it with initial_state=neurodyn.io.load_state({str(d)!r}), or stream to "
                f"another directory"
            )
        k = ends.index(step)
        if state_fingerprint(state) != chunks[k]["state_sha256"]:
            raise StreamMismatchError(
                f"stream_to: initial_state is not the state {d / chunks[k]['file']} ended with "
                f"(same step {step}, different values): continue with "
                f"initial_state=neurodyn.io.load_state({str(d)!r})"
            )
        later = chunks[k + 1:]
        if later:
            if _verify(d, later[0]) is None:
                raise StreamMismatchError(
                    f"stream_to: {where}; initial_state (step {step}) would write steps "
                    f"{step}..{ends[-1]} a second time: continue from "
                    f"neurodyn.io.load_state({str(d)!r}) (step {ends[-1]})"
                )
            warnings.warn(
                f"{d}: dropping damaged {later[0]['file']}"
                + (f" and the {len(later) - 1} chunk(s) after it" if len(later) > 1 else "")
                + f"; they are recomputed from step {step}",
                RuntimeWarning, stacklevel=4,
            )
            del chunks[k + 1:]

    def next_steps(self, remaining: int) -> int:
        """Steps of the next chunk: up to the next line of the stream's chunk grid."""
        into = (self.step - self.start_step) % self.chunk_steps
        return min(self.chunk_steps - into, remaining)

    def chunk_monitors(self, monitors, steps: int, n_steps: int):
        """The monitors of a chunk of `steps` steps in a call of `n_steps` steps: each
        `SpikeMonitor`'s buffer sized for the chunk (`chunk_capacity`)."""
        from ..monitors import SpikeMonitor

        n, dt = int(self.producer["n_neurons"]), float(self.producer["dt"])
        return tuple(
            SpikeMonitor(chunk_capacity(m.max_spikes, steps, n_steps, n, dt)) if isinstance(m, SpikeMonitor) else m
            for m in monitors
        )

    def commit(self, part) -> None:
        """Write one finished chunk (a `SimulationResult`) with its final state, then the manifest."""
        i = len(self.chunks)
        arrays = chunk_arrays(part)
        arrays.update(state_arrays(part.final_state))
        data = npz_bytes(arrays)
        name = _chunk_name(i)
        crash_point("chunk_before_write", i)
        write_atomic(self.directory / name, data, crash="chunk", index=i)
        step_end = int(part.final_state.step)
        t_end = float(part.final_state.t)
        n_steps = step_end - self.step
        self.chunks.append({
            "file": name, "sha256": sha256(data), "bytes": len(data),
            "step_start": self.step, "step_end": step_end,
            "t_start": t_end - n_steps * self.producer["dt"], "t_end": t_end,
            "n_spikes": int(part.n_spikes), "n_stored": int(part.n_spikes_stored),
            "state_sha256": state_fingerprint(part.final_state),
        })
        self._write_manifest(crash="manifest", index=i)
        self.step = step_end
        self._add_to_totals(part)

    def _add_to_totals(self, part) -> None:
        """Counts, rates and blow-up report of the chunks so far, on the host (NumPy), so
        that nothing on the device or in JAX's caches grows with the number of chunks."""
        t = getattr(self, "_totals", None)
        if t is None:
            t = self._totals = {"n_spikes": 0, "dropped": 0, "counts": 0, "rates": [], "blowup": None}
        t["n_spikes"] += int(part.n_spikes)
        t["dropped"] += int(part.spikes_dropped)
        t["counts"] = t["counts"] + np.asarray(part.spike_counts)
        if part.rate_counts is not None:
            t["rates"].append(np.asarray(part.rate_counts))
        if t["blowup"] is None and not np.isnan(float(part.blowup_time)):
            t["blowup"] = (part.blowup_time, part.blowup_neuron)
            t["blowup_step"] = part.blowup_step
        t["last"] = part

    def summary(self):
        """The run's result without its records (spikes and traces are on disk): counts,
        rates, blow-up report and final state of the chunks this writer committed."""
        from .._state import SimulationResult

        t = self._totals
        last = t["last"]
        blow_t, blow_i = t["blowup"] or (last.blowup_time, last.blowup_neuron)
        return SimulationResult(
            times=jnp.zeros((0,), last.times.dtype),
            traces={k: jnp.zeros((0,) + v.shape[1:], v.dtype) for k, v in last.traces.items()},
            recorded_neurons=last.recorded_neurons,
            spike_times=jnp.zeros((0,), last.spike_times.dtype),
            spike_neurons=jnp.zeros((0,), jnp.int32),
            n_spikes=jnp.asarray(t["n_spikes"], jnp.int32),
            n_spikes_stored=jnp.zeros((), jnp.int32),
            spike_counts=jnp.asarray(t["counts"], last.spike_counts.dtype),
            spikes_dropped=jnp.asarray(t["dropped"], jnp.int32),
            final_state=last.final_state,
            blowup_time=blow_t,
            blowup_neuron=blow_i,
            rate_counts=None if last.rate_counts is None else jnp.asarray(np.concatenate(t["rates"])),
            rate_groups=last.rate_groups,
            rate_bin_ms=last.rate_bin_ms,
            blowup_step=t["blowup_step"] if t["blowup"] is not None else last.blowup_step,
        )

    def _write_manifest(self, crash: str | None = None, index: int | None = None) -> None:
        content = {"format": FORMAT, "producer": self.producer, "chunk_steps": self.chunk_steps,
                   "start_step": self.start_step, "chunks": self.chunks}
        write_atomic(self.directory / MANIFEST, _manifest_bytes(content), crash=crash, index=index)


def open_stream(directory, model, inp, solver, key, monitors, dt: float, state, chunk_steps: int,
                grid: int) -> StreamWriter:
    """A `StreamWriter` for `simulate`'s chunked loop; `chunk_steps` is the proposed chunk
    length, a multiple of `grid` (whole spike blocks, records and rate bins); a new stream
    caps it at `STREAM_CHUNK_MS` (on the grid); an existing one keeps its own."""
    cap = max(grid, int(STREAM_CHUNK_MS / dt) // grid * grid)
    producer = _producer(model, inp, solver, key, monitors, dt, state)
    return StreamWriter(directory, producer, state, min(int(chunk_steps), cap))


def chunk_capacity(max_spikes: int, steps: int, n_steps: int, n: int, dt: float) -> int:
    """Spike buffer of a streamed chunk of `steps` steps, in a run of `n_steps` steps.

    simulate's default `max_spikes` (room for `_SPIKE_RATE_HZ` per neuron over the whole
    run, at most 50 million) is re-sized for the chunk's own duration, so the buffer does not
    grow with the run's duration; a `max_spikes` the user chose is each chunk's buffer.
    Overflow is counted and warned about as in any run.
    """
    per_s = n * _SPIKE_RATE_HZ
    run_s = n_steps * dt / 1000.0
    # the default as simulate computes it, allowing for its rounding of (t1 - t0)
    defaults = {min(n * (math.ceil(run_s * _SPIKE_RATE_HZ) + d) + 64, 50_000_000) for d in (-1, 0, 1)}
    if max_spikes in defaults:
        return int(min(max_spikes, math.ceil(steps * dt / 1000.0 * per_s / n) * n + 64))
    return int(max_spikes)


def chunk_arrays(part) -> dict[str, np.ndarray]:
    """A chunk's records as named arrays: spikes, record times, traces, counts, rate counts."""
    k = int(part.n_spikes_stored)
    arrays = dict(
        # sliced in NumPy: a JAX slice per distinct length k would compile (and keep) one op each
        spike_times=np.asarray(part.spike_times)[:k],
        spike_neurons=np.asarray(part.spike_neurons)[:k],
        times=np.asarray(part.times),
        recorded_neurons=np.asarray(part.recorded_neurons),
        spike_counts=np.asarray(part.spike_counts),
        n_spikes=np.asarray(part.n_spikes),
        spikes_dropped=np.asarray(part.spikes_dropped),
        blowup=np.asarray([part.blowup_time, part.blowup_neuron], dtype=np.float64),
        rate_bin_ms=np.asarray(part.rate_bin_ms),
        rate_groups=np.array([f"{name}:{size}" for name, size in part.rate_groups], dtype=str),
        **{f"trace_{name}": np.asarray(v) for name, v in part.traces.items()},
    )
    if part.rate_counts is not None:
        arrays["rate_counts"] = np.asarray(part.rate_counts)
    return arrays


def _check_producer(old: dict, new: dict, d: Path) -> None:
    diff = [k for k in _MATCHED if old.get(k) != new.get(k)]
    if diff:
        what = "; ".join(
            f"{_MATCHED[k]}: stream {old.get(k)!r}, this run {new.get(k)!r}" if not k.endswith("sha256")
            else f"{_MATCHED[k]} differ{'s' if not _MATCHED[k].endswith('neurons') else ''}"
            for k in diff
        )
        raise StreamMismatchError(
            f"stream_to={str(d)!r} was written by a different run ({what}): it can only be "
            f"continued by the run that produced it; stream to another directory"
        )


# --------------------------------------------------------------------------- reading


def _verify(d: Path, entry: dict) -> str | None:
    """None if the chunk file matches its manifest entry, else what is wrong with it."""
    path = d / entry["file"]
    if not path.exists():
        return "missing"
    data = path.read_bytes()
    if len(data) != entry["bytes"]:
        return f"truncated or extended: {len(data)} bytes, the manifest says {entry['bytes']}"
    if sha256(data) != entry["sha256"]:
        return "altered: its sha256 does not match the manifest"
    return None


def _read_chunk(d: Path, entry: dict) -> dict[str, np.ndarray]:
    problem = _verify(d, entry)
    if problem is not None:
        raise DamagedFileError(
            f"{d / entry['file']} is damaged ({problem}); its steps {entry['step_start']}.."
            f"{entry['step_end']} (t = {entry['t_start']:g}..{entry['t_end']:g} ms) cannot be "
            f"read back"
        )
    return read_npz(d / entry["file"])


def resume_state(directory, like=None):
    """The state a stream ends with, to continue it (`simulate(initial_state=...)`).

    The last committed chunk is verified; if it is damaged, a warning names it and the state
    of the chunk before it is returned (the continuing run recomputes the damaged chunk).
    """
    d = Path(directory)
    chunks = read_manifest(d)["chunks"]
    if not chunks:
        raise FileNotFoundError(
            f"the stream in {d} has no committed chunk yet: run it again from its start"
        )
    for k in range(len(chunks) - 1, -1, -1):
        problem = _verify(d, chunks[k])
        if problem is None:
            break
        warnings.warn(
            f"{d / chunks[k]['file']} is damaged ({problem}); resuming from the step before it "
            f"({chunks[k]['step_start']}); the continuing run recomputes it",
            RuntimeWarning, stacklevel=3,
        )
    else:
        raise DamagedFileError(f"every chunk in {d} is damaged; run the stream again from its start")
    return state_from_arrays(read_npz(d / chunks[k]["file"]), d / chunks[k]["file"], like=like)


def iter_chunks(directory) -> Iterator[dict[str, np.ndarray]]:
    """The committed chunks of a stream one at a time, each verified (`DamagedFileError`
    names a damaged file)."""
    d = Path(directory)
    for entry in read_manifest(d)["chunks"]:
        yield _read_chunk(d, entry)


def load_stream(directory):
    """Every committed chunk of a stream, as one `SimulationResult` (final_state: the last chunk's)."""
    from .._state import SimulationResult

    d = Path(directory)
    manifest = read_manifest(d)
    if not manifest["chunks"]:
        raise FileNotFoundError(f"the stream in {d} has no committed chunk")
    chunks = list(iter_chunks(d))
    first, last = chunks[0], chunks[-1]
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
        final_state=state_from_arrays(last, d / manifest["chunks"][-1]["file"]),
        blowup_time=jnp.asarray(blow[0][0] if blow else np.nan, jnp.float32),
        blowup_neuron=jnp.asarray(int(blow[0][1]) if blow else -1, jnp.int32),
        rate_counts=jnp.asarray(np.concatenate([c["rate_counts"] for c in chunks])) if "rate_counts" in first else None,
        rate_groups=groups,
        rate_bin_ms=float(first["rate_bin_ms"]),
    )
