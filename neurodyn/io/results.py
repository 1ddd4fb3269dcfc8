"""Saving a `SimulationResult` or a `SimState` to one .npz file and reading it back.

    neurodyn.io.save(result, "run.npz");  result = neurodyn.io.load("run.npz")
    neurodyn.io.save_state("state.npz", result.final_state)   # to continue the run later

Every field of the result is stored (spikes, traces, counts, rate monitor, blow-up report,
final state: a loaded result can be continued with `initial_state=result.final_state`),
with a checksum of the contents and the neurodyn version. Files are written atomically
(temporary name, fsync, rename); a damaged file raises `DamagedFileError` naming it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from ._arrays import npz_bytes, read_npz, state_arrays, state_from_arrays
from ._atomic import DamagedFileError, write_atomic

FORMAT = "neurodyn-result-1"
STATE_FORMAT = "neurodyn-state-1"


def save(result, path) -> Path:
    """Write everything in `result` (a `SimulationResult`) to the .npz file `path`."""
    from .. import __version__
    from .._state import SimState, SimulationResult

    if not isinstance(result, SimulationResult):
        raise TypeError(f"result must be a SimulationResult, got {type(result).__name__}")
    path = Path(path)
    arrays, meta = {}, {"format": FORMAT, "neurodyn_version": __version__, "none": [], "static": {}}
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if f.metadata.get("static", False):
            meta["static"][f.name] = value
        elif value is None:
            meta["none"].append(f.name)
        elif isinstance(value, SimState):
            arrays.update(state_arrays(value, prefix=f"{f.name}/"))
        elif isinstance(value, dict):
            meta.setdefault("dicts", []).append(f.name)
            arrays.update({f"{f.name}/{k}": np.asarray(v) for k, v in value.items()})
        else:
            arrays[f.name] = np.asarray(value)
    arrays["__meta"] = np.array(json.dumps(meta))
    write_atomic(path, npz_bytes(arrays))
    return path


def load(path):
    """The `SimulationResult` written by `save` (its `final_state` continues the run)."""
    from .._state import SimulationResult

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no saved result at {path}")
    arrays = read_npz(path)
    meta = _meta(arrays, path, FORMAT)
    values = {}
    for f in dataclasses.fields(SimulationResult):
        if f.name in meta["static"]:
            values[f.name] = _tuples(meta["static"][f.name])
        elif f.name in meta["none"]:
            values[f.name] = None
        elif f.name in meta.get("dicts", []):
            prefix = f"{f.name}/"
            values[f.name] = {k[len(prefix):]: jnp.asarray(v) for k, v in arrays.items() if k.startswith(prefix)}
        elif f"{f.name}/n_leaves" in arrays:
            values[f.name] = state_from_arrays(arrays, path, prefix=f"{f.name}/")
        elif f.name in arrays:
            values[f.name] = jnp.asarray(arrays[f.name])
        elif f.default is dataclasses.MISSING:
            raise DamagedFileError(f"{path} has no field {f.name!r} of a SimulationResult")
    return SimulationResult(**values)


def save_state(path, state) -> Path:
    """Write a `SimState` (e.g. `result.final_state`) to the .npz file `path`."""
    from .. import __version__

    path = Path(path)
    arrays = state_arrays(state)
    arrays["__meta"] = np.array(json.dumps({"format": STATE_FORMAT, "neurodyn_version": __version__}))
    write_atomic(path, npz_bytes(arrays))
    return path


def load_state(path, like=None):
    """A state written by `save_state`; or, given a stream directory, the state it ends with
    (`neurodyn.io.stream.resume_state`).

    The state's pytree structure is rebuilt from its variable names and buffers; pass
    `like` (any state of the same model) if the model's buffers are unusual.
    """
    path = Path(path)
    if path.is_dir():
        from .stream import resume_state

        return resume_state(path, like=like)
    if not path.exists():
        raise FileNotFoundError(f"no saved state at {path}")
    arrays = read_npz(path)
    _meta(arrays, path, STATE_FORMAT)
    return state_from_arrays(arrays, path, like=like)


def _meta(arrays: dict, path: Path, fmt: str) -> dict:
    try:
        meta = json.loads(str(arrays.pop("__meta")))
    except (KeyError, ValueError):
        raise DamagedFileError(f"{path} is not a neurodyn file ({fmt})") from None
    if meta.get("format") != fmt:
        raise DamagedFileError(f"{path} holds {meta.get('format')!r}, not {fmt!r}")
    return meta


def _tuples(x):
    """JSON lists back to the tuples a result's static fields hold."""
    return tuple(_tuples(v) for v in x) if isinstance(x, list) else x
