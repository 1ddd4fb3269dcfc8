"""Arrays to and from .npz bytes with a checksum; `SimState` packing; pytree fingerprints."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._atomic import DamagedFileError, sha256

_CHECKSUM = "__sha256"
_COMMENT_LEN = 64  # hex sha256 of the file before it, in the zip comment


def _content_hash(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes() if a.dtype != object else repr(a.tolist()).encode())
    return h.hexdigest()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz file (in memory) holding `arrays`, a checksum of their contents, and the sha256
    of the whole file in the zip comment (so that any altered byte is detected)."""
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays, **{_CHECKSUM: np.array(_content_hash(arrays))})
    data = buf.getvalue()
    # the end-of-central-directory record is the last 22 bytes; its last 2 give the comment length
    body = data[:-2] + _COMMENT_LEN.to_bytes(2, "little")
    return body + sha256(body).encode()


def read_npz(path: Path, data: bytes | None = None) -> dict[str, np.ndarray]:
    """Every array of an .npz written by `npz_bytes`, checksums verified.

    Raises `DamagedFileError` naming `path` if the file is truncated, altered or unreadable.
    """
    if data is None:
        data = Path(path).read_bytes()
    body, digest = data[:-_COMMENT_LEN], data[-_COMMENT_LEN:]
    if len(data) < 22 + _COMMENT_LEN or sha256(body).encode() != digest:
        raise DamagedFileError(f"{path} is damaged (truncated or altered: its sha256 does not match)")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zipfile.LargeZipFile) as e:
        raise DamagedFileError(f"{path} is damaged (unreadable): {type(e).__name__}: {e}") from None
    stored = arrays.pop(_CHECKSUM, None)
    if stored is None or str(stored) != _content_hash(arrays):
        raise DamagedFileError(f"{path} is damaged: its contents do not match their checksum")
    return arrays


# --------------------------------------------------------------------------- SimState


def state_arrays(state, prefix: str = "state/") -> dict[str, np.ndarray]:
    """A `SimState` as named arrays (None leaves, e.g. absent buffers, are recorded too)."""
    leaves = jax.tree.leaves(state, is_leaf=lambda x: x is None)
    out = {f"{prefix}leaf_{i}": np.asarray(x) for i, x in enumerate(leaves) if x is not None}
    out[f"{prefix}n_leaves"] = np.asarray(len(leaves))
    out[f"{prefix}none_at"] = np.array([i for i, x in enumerate(leaves) if x is None], np.int64)
    out[f"{prefix}names"] = np.array(sorted(state.y))
    layout = _layout(state.buffers)
    if layout is not _UNKNOWN:
        out[f"{prefix}buffers_layout"] = np.array(json.dumps(layout))
    return out


_UNKNOWN = object()


def _layout(tree):
    """The nesting of a buffers pytree made of tuples, dicts, None and arrays, as JSON-able
    lists/dicts (an array is 0), so a loaded state can be rebuilt without `like` (networks
    with short-term plasticity keep a dict per projection). `_UNKNOWN` for other containers."""
    if tree is None:
        return None
    if isinstance(tree, (tuple, list)):
        parts = [_layout(t) for t in tree]
        return _UNKNOWN if any(p is _UNKNOWN for p in parts) else {"tuple": parts}
    if isinstance(tree, dict):
        if not all(isinstance(k, str) for k in tree):
            return _UNKNOWN
        parts = {k: _layout(v) for k, v in tree.items()}
        return _UNKNOWN if any(p is _UNKNOWN for p in parts.values()) else {"dict": parts}
    return 0 if isinstance(tree, (jax.Array, np.ndarray, np.generic, int, float)) else _UNKNOWN


def _placeholder(layout):
    """A pytree with the nesting `_layout` described (0.0 at each array)."""
    if layout is None:
        return None
    if layout == 0:
        return 0.0
    if "tuple" in layout:
        return tuple(_placeholder(p) for p in layout["tuple"])
    return {k: _placeholder(v) for k, v in layout["dict"].items()}


def state_from_arrays(arrays: dict[str, np.ndarray], path, prefix: str = "state/", like=None):
    """The `SimState` packed by `state_arrays` (its pytree rebuilt from the variable names)."""
    from .._state import SimState

    try:
        n_leaves = int(arrays[f"{prefix}n_leaves"])
        none_at = set(arrays[f"{prefix}none_at"].tolist())
        names = [str(x) for x in arrays[f"{prefix}names"]]
        leaves = [None if i in none_at else jnp.asarray(arrays[f"{prefix}leaf_{i}"]) for i in range(n_leaves)]
    except KeyError as e:
        raise DamagedFileError(f"{path} holds no complete simulation state (missing {e})") from None
    if like is None:
        # SimState leaves in order: t, y (sorted keys), refractory_until, step, buffers...
        n_buffers = n_leaves - 3 - len(names)
        layout = arrays.get(f"{prefix}buffers_layout")
        buffers = tuple(0.0 for _ in range(n_buffers)) if layout is None else _placeholder(json.loads(str(layout)))
        like = SimState(
            t=jnp.zeros(()), y={k: jnp.zeros((1,)) for k in names}, refractory_until=jnp.zeros((1,)),
            step=0, buffers=buffers,
        )
    treedef = jax.tree.structure(like, is_leaf=lambda x: x is None)
    if treedef.num_leaves != n_leaves:
        raise ValueError(f"{path} holds {n_leaves} state arrays but the given state has {treedef.num_leaves}")
    return jax.tree.unflatten(treedef, leaves)


# --------------------------------------------------------------------------- fingerprints


def fingerprint(tree) -> str:
    """sha256 of a pytree: its structure (incl. static fields, e.g. delays) and every leaf's
    dtype, shape and bytes. Equal for equal models in any process."""
    leaves, treedef = jax.tree.flatten(tree, is_leaf=lambda x: x is None)
    h = hashlib.sha256(re.sub(r" at 0x[0-9a-fA-F]+", "", str(treedef)).encode())
    for x in leaves:
        if x is None:
            h.update(b"None|")
        elif isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            h.update(np.asarray(jax.random.key_data(x)).tobytes())
        elif isinstance(x, (jax.Array, np.ndarray, np.generic)):
            a = np.ascontiguousarray(np.asarray(x))
            h.update(f"{a.dtype.str}|{a.shape}|".encode())
            h.update(a.tobytes())
        else:
            h.update(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(x)).encode() + b"|")
    return h.hexdigest()


def state_fingerprint(state) -> str:
    return sha256(b"".join(np.ascontiguousarray(np.asarray(x)).tobytes()
                           for x in jax.tree.leaves(state)))
