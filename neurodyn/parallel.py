"""Spreading a simulation over devices with `jax.sharding`.

Two layouts, both plain GSPMD: arrays are placed with a `NamedSharding` and the one
compiled `simulate` loop is partitioned by XLA, so the code path is the same as on one
device and the spikes are the same.

- `shard_batch`: a batch of independent runs (a leading batch axis, as `jax.vmap` adds)
  split across devices; no communication between devices during the run.
- `shard_population`: one population split along its neuron axis (parameters with one value
  per neuron and the initial state); each device integrates its neurons. Spike compaction
  and (for networks) delivery gather across devices.

Multi-host: call `jax.distributed.initialize()` on every host first; `jax.devices()` then
lists every host's devices and the same functions build a global mesh.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def device_mesh(axis_name: str, devices=None) -> Mesh:
    """A 1-D mesh over `devices` (default all of them) with one named axis."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.array(devices), (axis_name,))


def _place(tree, size: int, mesh: Mesh, axis_name: str):
    split = NamedSharding(mesh, PartitionSpec(axis_name))
    whole = NamedSharding(mesh, PartitionSpec())

    def put(x):
        if not isinstance(x, (jax.Array, np.ndarray)) or x.ndim == 0:
            return jax.device_put(x, whole) if isinstance(x, (jax.Array, np.ndarray)) else x
        return jax.device_put(x, split if x.shape[0] == size else whole)

    return jax.tree.map(put, tree)


def shard_batch(tree, devices=None, axis_name: str = "batch"):
    """Place every array of `tree` with a leading batch axis split across devices.

    Arrays whose leading axis is not the batch size (shared data such as a connectivity
    table used by every member) are replicated. The batch size must be a multiple of the
    number of devices.
    """
    mesh = device_mesh(axis_name, devices)
    sizes = {x.shape[0] for x in jax.tree.leaves(tree) if hasattr(x, "ndim") and x.ndim > 0}
    if not sizes:
        raise ValueError("shard_batch: no array with a batch axis in the tree")
    size = max(sizes)
    if size % mesh.size:
        raise ValueError(f"shard_batch: the batch of {size} does not split over {mesh.size} devices")
    return _place(tree, size, mesh, axis_name)


def shard_population(tree, n_neurons: int, devices=None, axis_name: str = "neurons"):
    """Place the per-neuron arrays of `tree` (a model, a state dict, ...) split across devices.

    Arrays whose leading axis is `n_neurons` are split; the rest (scalars, tables of other
    sizes) are replicated. `n_neurons` must be a multiple of the number of devices.
    """
    mesh = device_mesh(axis_name, devices)
    if n_neurons % mesh.size:
        raise ValueError(f"shard_population: {n_neurons} neurons do not split over {mesh.size} devices")
    return _place(tree, n_neurons, mesh, axis_name)
