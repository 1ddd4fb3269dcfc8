"""Simulation results to Neurodata Without Borders (NWB 2) files and back (optional extra `nwb`).

    neurodyn.io.to_nwb(result, "run.nwb", model=net, input=drive, dt=0.1)
    data = neurodyn.io.read_nwb("run.nwb")            # spikes, traces, rates, metadata
    neurodyn.io.stream_to_nwb("stream_dir", "run.nwb")  # a streamed run, chunk by chunk

What goes where (times in seconds, as NWB requires; neurodyn's are in ms):
- spikes: the `units` table, one row per neuron, with columns `spike_times`,
  `population` (a network's population name, else "all") and `neuron_id` (the index in
  the simulation);
- recorded traces: one `TimeSeries` per variable in `acquisition` (rows: record times at a
  fixed `rate`; columns: the recorded neurons, listed in its description), with its unit
  (`v` in mV; others from `units=` or "a.u.");
- the population rate monitor: `TimeSeries` `population_rate_<group>` with the spike
  counts per bin as data and `conversion` = 1/(group size · bin width), so data·conversion
  is the rate in Hz and the counts round-trip exactly;
- stimuli: the input's description in `stimulus_notes`;
- metadata: a JSON document in `scratch/neurodyn` (neurodyn version, dt, the model's
  parameters (arrays larger than 64 values as shape, dtype and sha256), the input, counts,
  the stream's producer record for `stream_to_nwb`).

A simulation has no subject: pass `subject=pynwb.file.Subject(...)` to describe the animal
the model stands for (NWB Inspector's DANDI checks ask for species, sex and age).
Files are written to a temporary name and renamed, so a failed write leaves no partial file.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np

from ..neurons.base import AbstractNeuron
from ._arrays import fingerprint
from ._atomic import temp_name

DEFAULT_UNITS = {"v": "mV"}
_INLINE = 64  # arrays up to this many values are written into the metadata in full


def _pynwb():
    try:
        import pynwb
    except ImportError:
        raise ImportError("NWB export needs pynwb: pip install 'neurodyn[nwb]'") from None
    return pynwb


def describe(tree) -> object:
    """A JSON-able description of a model/input pytree: fields by name, small arrays in full,
    large ones as shape, dtype and sha256."""
    import dataclasses

    import equinox as eqx
    import jax

    if isinstance(tree, eqx.Module):
        out = {"type": type(tree).__name__}
        for f in dataclasses.fields(tree):
            out[f.name] = describe(getattr(tree, f.name))
        return out
    if isinstance(tree, (list, tuple)):
        return [describe(x) for x in tree]
    if isinstance(tree, dict):
        return {str(k): describe(v) for k, v in tree.items()}
    if isinstance(tree, (jax.Array, np.ndarray, np.generic)):
        if jax.dtypes.issubdtype(tree.dtype, jax.dtypes.prng_key):
            tree = jax.random.key_data(tree)
        a = np.asarray(tree)
        if a.size <= _INLINE:
            return a.tolist()
        return {"shape": list(a.shape), "dtype": str(a.dtype), "sha256": fingerprint(a)}
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    return repr(tree)


def _populations(result, model, n: int) -> list[tuple[str, int, int]]:
    pops = model.populations if model is not None else None
    if pops:
        return [(str(name), int(a), int(b)) for name, a, b in pops]
    if result is not None and result.rate_groups and sum(g[1] for g in result.rate_groups) == n:
        out, start = [], 0
        for name, size in result.rate_groups:
            out.append((name, start, start + size))
            start += size
        return out
    return [("all", 0, n)]


def _new_file(description: str, metadata: dict, subject, stimulus: str | None, session_start_time):
    pynwb = _pynwb()
    return pynwb.NWBFile(
        session_description=description,
        identifier=str(uuid.uuid4()),
        session_start_time=session_start_time or datetime.datetime.now(datetime.UTC),
        experiment_description=f"in-silico simulation with neurodyn {metadata['neurodyn_version']}",
        experimenter=None,
        institution=None,
        keywords=["simulation", "neurodyn", "spiking network"],
        stimulus_notes=stimulus,
        subject=subject,
        source_script=f"neurodyn {metadata['neurodyn_version']}",
        source_script_file_name="neurodyn",
    )


def _units_table(spike_times_s, ends, pops, n: int):
    """The Units table: one row per neuron; `spike_times_s` flattened in neuron order."""
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    times = VectorData(name="spike_times", description="spike times of each neuron (s)", data=spike_times_s)
    index = VectorIndex(name="spike_times_index", data=np.asarray(ends, np.int64), target=times)
    population = np.empty(n, object)
    for name, a, b in pops:
        population[a:b] = name
    return Units(
        name="units", description="simulated neurons: one row per neuron, all its spikes",
        id=np.arange(n),
        columns=[times, index,
                 VectorData(name="population", description="population the neuron belongs to",
                            data=population.tolist()),
                 VectorData(name="neuron_id", description="index of the neuron in the simulation",
                            data=np.arange(n))],
        resolution=None,
    )


def _trace_series(name: str, data, rate_hz: float, start_s: float, recorded, units: dict):
    pynwb = _pynwb()
    return pynwb.TimeSeries(
        name=name, data=data, unit=units.get(name, DEFAULT_UNITS.get(name, "a.u.")),
        rate=float(rate_hz), starting_time=float(start_s),
        description=f"simulated state variable {name!r}; columns are neurons "
                    f"{json.dumps(np.asarray(recorded).tolist())}",
    )


def _rate_series(name: str, size: int, data, bin_ms: float, start_s: float):
    pynwb = _pynwb()
    return pynwb.TimeSeries(
        name=f"population_rate_{name}", data=data, unit="Hz",
        conversion=1.0 / (size * bin_ms / 1000.0), rate=1000.0 / bin_ms, starting_time=float(start_s),
        description=f"spike count of population {name!r} ({size} neurons) per {bin_ms:g} ms bin; "
                    f"data times conversion is the population rate in Hz per neuron",
    )


def _write(nwbfile, path: Path) -> Path:
    pynwb = _pynwb()
    tmp = temp_name(path).with_suffix(".nwb")  # pynwb wants the suffix; still a hidden temp name
    try:
        with pynwb.NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _metadata(**fields) -> dict:
    from .. import __version__

    return {"format": "neurodyn-nwb-1", "neurodyn_version": __version__, **fields}


def to_nwb(result, path, *, model=None, input=None, dt: float | None = None, units: dict | None = None,
           description: str = "neurodyn simulation", subject=None, session_start_time=None) -> Path:
    """Write a `SimulationResult` to the NWB file `path` (see the module docstring).

    Arguments:
        result: what `simulate` returned.
        path: the .nwb file to write (replaced atomically).
        model, input: the model (or network) and input of the run: their parameters go into
            the metadata, a network's population names into the units table.
        dt: the step (ms), recorded in the metadata and used for the trace rate.
        units: units of recorded variables other than v (mV), e.g. {"ge": "nS"}.
        description: the session description.
        subject: a `pynwb.file.Subject` for the animal the model stands for (optional).
        session_start_time: a timezone-aware datetime (default now).
    """
    from .._state import SimulationResult

    if not isinstance(result, SimulationResult):
        raise TypeError(f"result must be a SimulationResult, got {type(result).__name__}")
    if model is not None and not isinstance(model, AbstractNeuron):
        raise TypeError(f"model must be the run's neuron model or Network (or None), got {type(model).__name__}")
    times, neurons = result.spikes()
    n = int(np.shape(result.spike_counts)[-1])
    pops = _populations(result, model, n)
    meta = _metadata(
        dt_ms=dt, model=describe(model), input=describe(input), n_neurons=n,
        n_spikes=int(result.n_spikes), spikes_dropped=int(result.spikes_dropped),
        final_time_ms=float(result.final_state.t), populations=pops,
        recorded_neurons=np.asarray(result.recorded_neurons).tolist(),
        rate_groups=[list(g) for g in result.rate_groups], rate_bin_ms=result.rate_bin_ms,
    )
    nwbfile = _new_file(description, meta, subject, None if input is None else repr(input), session_start_time)
    order = np.argsort(neurons, kind="stable")  # spikes() is time-sorted: per neuron in time order
    nwbfile.units = _units_table(times[order].astype(np.float64) / 1000.0,
                                 np.cumsum(np.bincount(neurons, minlength=n)), pops, n)
    record_times = np.asarray(result.times)
    if record_times.size:
        step = (record_times[1] - record_times[0]) if record_times.size > 1 else (dt or 1.0)
        for name, trace in result.traces.items():
            nwbfile.add_acquisition(_trace_series(name, np.asarray(trace), 1000.0 / step, record_times[0] / 1000.0,
                                                  result.recorded_neurons, units or {}))
    if result.rate_counts is not None:
        counts = np.asarray(result.rate_counts)
        start_s = (float(result.final_state.t) - counts.shape[0] * result.rate_bin_ms) / 1000.0
        for j, (name, size) in enumerate(result.rate_groups):
            nwbfile.add_acquisition(_rate_series(name, size, counts[:, j], result.rate_bin_ms, start_s))
    nwbfile.add_scratch([json.dumps(meta)], name="neurodyn", description="neurodyn metadata (JSON)")
    return _write(nwbfile, Path(path))


def stream_to_nwb(stream_dir, path, *, units: dict | None = None, description: str = "neurodyn simulation",
                  subject=None, session_start_time=None, spikes_in_memory: int = 10_000_000) -> Path:
    """Convert a stream (`simulate(..., stream_to=stream_dir)`) to the NWB file `path`.

    Chunks are read one at a time: traces and rates are appended chunk by chunk; spikes are
    grouped by neuron with an external sort through a temporary file on disk (passes over
    the chunks, each collecting the spikes of as many neurons as hold `spikes_in_memory`),
    so memory stays bounded however long the run was.
    """
    from hdmf.data_utils import DataChunkIterator

    from .stream import iter_chunks, stream_metadata

    d = Path(stream_dir)
    info = stream_metadata(d)
    if not info["chunks"]:
        raise FileNotFoundError(f"the stream in {d} has no committed chunk")
    producer = info["producer"]
    n = int(producer["n_neurons"])
    first = next(iter_chunks(d))
    groups = [(g.rsplit(":", 1)[0], int(g.rsplit(":", 1)[1])) for g in first["rate_groups"].tolist()]
    # pass 1: spikes per neuron (stored ones), trace layout
    stored = np.zeros(n, np.int64)
    n_records = 0
    for c in iter_chunks(d):
        stored += np.bincount(c["spike_neurons"], minlength=n)
        n_records += c["times"].shape[0]
    ends = np.cumsum(stored)
    pops = _populations(None, None, n) if not groups or sum(g[1] for g in groups) != n else None
    if pops is None:
        pops, start = [], 0
        for name, size in groups:
            pops.append((name, start, start + size))
            start += size
    chunks = info["chunks"]
    meta = _metadata(
        dt_ms=producer["dt"], producer=producer, n_neurons=n,
        n_spikes=int(sum(c["n_spikes"] for c in chunks)), spikes_dropped=int(sum(c["n_spikes"] - c["n_stored"] for c in chunks)),
        final_time_ms=float(chunks[-1]["t_end"]), populations=pops,
        recorded_neurons=first["recorded_neurons"].tolist(), rate_groups=[list(g) for g in groups],
        rate_bin_ms=float(first["rate_bin_ms"]),
    )
    nwbfile = _new_file(description, meta, subject, None, session_start_time)
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix=".neurodyn-nwb-", dir=path.parent) as scratch:
        # pass 2..: external sort of the spikes by neuron into a file-backed array
        flat = np.lib.format.open_memmap(Path(scratch) / "spikes.npy", mode="w+", dtype=np.float64,
                                         shape=(max(int(ends[-1]), 1),))
        starts = ends - stored
        lo = 0
        while lo < n:
            hi = lo + 1
            while hi < n and ends[hi] - starts[lo] <= spikes_in_memory:
                hi += 1
            fill = starts[lo:hi].copy()
            for c in iter_chunks(d):
                mine = (c["spike_neurons"] >= lo) & (c["spike_neurons"] < hi)
                i, t = c["spike_neurons"][mine], c["spike_times"][mine].astype(np.float64) / 1000.0
                order = np.argsort(i, kind="stable")  # chunk spikes are in time order
                i, t = i[order], t[order]
                first_of = np.searchsorted(i, np.arange(lo, hi))
                pos = fill[i - lo] + (np.arange(i.size) - first_of[i - lo])
                flat[pos] = t
                fill += np.bincount(i - lo, minlength=hi - lo)
            lo = hi
        flat.flush()
        nwbfile.units = _units_table(flat[: int(ends[-1])], ends, pops, n)
        if n_records:
            record_every_ms = producer["record_every"] * producer["dt"]
            t0 = float(first["times"][0]) / 1000.0
            for name in [k[len("trace_"):] for k in first if k.startswith("trace_")]:
                rows = _rows(d, f"trace_{name}")
                data = DataChunkIterator(data=rows, iter_axis=0, buffer_size=4096,
                                         maxshape=(None, first[f"trace_{name}"].shape[1]),
                                         dtype=first[f"trace_{name}"].dtype)
                nwbfile.add_acquisition(_trace_series(name, data, 1000.0 / record_every_ms, t0,
                                                      first["recorded_neurons"], units or {}))
        if "rate_counts" in first:
            bin_ms = float(first["rate_bin_ms"])
            start_s = float(chunks[0]["t_start"]) / 1000.0
            for j, (name, size) in enumerate(groups):
                rows = _rows(d, "rate_counts", j)
                data = DataChunkIterator(data=rows, iter_axis=0, buffer_size=65536, maxshape=(None,),
                                         dtype=first["rate_counts"].dtype)
                nwbfile.add_acquisition(_rate_series(name, size, data, bin_ms, start_s))
        nwbfile.add_scratch([json.dumps(meta)], name="neurodyn", description="neurodyn metadata (JSON)")
        out = _write(nwbfile, path)
    return out


def _rows(d: Path, key: str, column: int | None = None):
    """The rows of one array of every chunk, read one chunk at a time."""
    from .stream import iter_chunks

    for c in iter_chunks(d):
        yield from (c[key] if column is None else c[key][:, column])


def read_nwb(path) -> dict:
    """Read an NWB file written by `to_nwb` or `stream_to_nwb`.

    Returns a dict: `spike_times` (ms) and `spike_neurons` (time-sorted), `spike_counts`,
    `populations` [(name, start, stop)], `times` (ms) and `traces` {name: (records,
    recorded)}, `trace_units`, `recorded_neurons`, `rate_counts` (bins, groups) and
    `rate_groups`, `rate_bin_ms`, and `metadata` (the neurodyn JSON document).
    """
    pynwb = _pynwb()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NWB file at {path}")
    try:
        io = pynwb.NWBHDF5IO(str(path), "r")
        nwbfile = io.read()
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:  # h5py/hdmf, damaged file
        from ._atomic import DamagedFileError

        raise DamagedFileError(f"{path} is not a readable NWB file: {type(e).__name__}: {e}") from None
    try:
        meta = json.loads(_text(nwbfile.scratch["neurodyn"].data))
        units = nwbfile.units
        flat = np.asarray(units["spike_times"].target.data[:]) * 1000.0
        ends = np.asarray(units["spike_times"].data[:])
        ids = np.asarray(units["neuron_id"].data[:])
        counts = np.diff(np.concatenate([[0], ends]))
        neurons = np.repeat(ids, counts).astype(np.int32)
        order = np.lexsort((neurons, flat))
        traces, trace_units, times = {}, {}, np.zeros(0)
        rate_names = [f"population_rate_{g[0]}" for g in meta["rate_groups"]]
        for name, ts in nwbfile.acquisition.items():
            if name in rate_names:
                continue
            traces[name] = np.asarray(ts.data[:])
            trace_units[name] = ts.unit
            times = (ts.starting_time + np.arange(traces[name].shape[0]) / ts.rate) * 1000.0
        rate_counts = None
        if rate_names:
            rate_counts = np.stack([np.asarray(nwbfile.acquisition[r].data[:]) for r in rate_names], axis=1)
        spike_counts = np.zeros(meta["n_neurons"], np.int64)
        spike_counts[ids] = counts
        return {
            "spike_times": flat[order].astype(np.float32), "spike_neurons": neurons[order],
            "spike_counts": spike_counts,
            "populations": [tuple(p) for p in meta["populations"]],
            "times": times, "traces": traces, "trace_units": trace_units,
            "recorded_neurons": np.asarray(meta["recorded_neurons"], np.int32),
            "rate_counts": rate_counts, "rate_groups": [tuple(g) for g in meta["rate_groups"]],
            "rate_bin_ms": meta["rate_bin_ms"], "metadata": meta,
        }
    finally:
        io.close()


def _text(x) -> str:
    if not isinstance(x, (str, bytes)):
        x = x[()] if np.shape(x) == () else x[0]
    return x.decode() if isinstance(x, bytes) else str(x)
