"""Results to disk and back: crash-safe streams, .npz save/load, NWB.

- `save(result, path)` / `load(path)`: everything in a `SimulationResult` in one .npz file;
  `save_state` / `load_state`: the state to continue a run (also from a stream directory).
- Streams (`simulate(..., stream_to=directory)`): `load_stream`, `stream_metadata`,
  `iter_chunks`; see `neurodyn.io.stream` for the format and its crash guarantees.
- NWB (optional extra `neurodyn[nwb]`): `to_nwb`, `read_nwb`, `stream_to_nwb`.

Every file is written atomically (temporary name, fsync, rename) with a checksum; a damaged
file raises `DamagedFileError` naming it.
"""

from ._atomic import DamagedFileError
from .nwb import read_nwb, stream_to_nwb, to_nwb
from .results import load, load_state, save, save_state
from .stream import StreamMismatchError, iter_chunks, load_stream, stream_metadata

__all__ = [
    "DamagedFileError",
    "StreamMismatchError",
    "iter_chunks",
    "load",
    "load_state",
    "load_stream",
    "read_nwb",
    "save",
    "save_state",
    "stream_metadata",
    "stream_to_nwb",
    "to_nwb",
]
