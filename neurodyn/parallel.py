"""Spreading a simulation over devices with `jax.sharding`.

Three ways, all giving the same spikes as one device. `shard_batch` and `shard_population`
are plain GSPMD: arrays are placed with a `NamedSharding` and the one compiled `simulate`
loop is partitioned by XLA. `vmap_sharded` is explicit (`jax.shard_map`): each device runs
the vmapped program on its own share of a batch.

- `shard_batch`: a batch of independent runs (a leading batch axis, as `jax.vmap` adds)
  split across devices; no communication between devices during the run.
- `vmap_sharded(fn)`: `jax.vmap(fn)` run as one program per device on its share of the
  batch (`jax.shard_map`). Use this for networks: XLA's automatic partitioner cannot split
  the C++ spike-delivery kernel (a custom call) and gathers the whole batch onto every
  device at every step, which made `shard_batch` + `jit(vmap(...))` of COBA 5.5× slower
  than one device (benchmarks/coba_batch.py); `vmap_sharded` keeps each device on its own
  networks.
- `shard_population`: one population split along its neuron axis (parameters with one value
  per neuron and the initial state); each device integrates its neurons. Spike compaction
  and (for networks) delivery gather across devices.

On a multi-core CPU, one device per core (XLA_FLAGS=--xla_force_host_platform_device_count=
<cores>, set before JAX starts) lets `vmap_sharded` run a batch on every core: XLA:CPU runs
one network's step, a few thousand neurons, on one core.

Multi-host: call `jax.distributed.initialize()` on every host first; `jax.devices()` then
lists every host's devices and the same functions build a global mesh. One network too big
for one machine is split across processes by `neurodyn.distributed.simulate_distributed`
(NEST's scheme: a block of neurons and the synapses onto it per process, spikes exchanged
every min-delay interval).
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


def vmap_sharded(fn, devices=None, axis_name: str = "batch", batch_size: int | None = None):
    """`jax.vmap(fn)` with the batch split across devices, each running `vmap(fn)` on its share.

    Every positional argument is mapped over its leading axis (`jax.vmap`'s default
    `in_axes=0`; close over shared data), and so is every output. The members of a batch
    are independent, so the devices never communicate and the result equals `jax.vmap(fn)`
    on one device (tested on 4 host devices, networks included). The batch size must be a
    multiple of the number of devices. Wrap the result in `jax.jit` as usual.

    `batch_size`: each device runs its share `batch_size` members at a time
    (`jax.lax.map(..., batch_size=)`) instead of all at once; same results. On a CPU a
    vmapped network's state arrays outgrow the core's cache as the batch grows, and the
    elementwise update gets slower per member (COBA 4000 neurons: 1.07 ns per neuron-step
    alone, 1.95 in a batch of 16); a few at a time keeps them in cache
    (benchmarks/coba_batch.py).

    Example (8 COBA networks on a 2-core CPU started with
    XLA_FLAGS=--xla_force_host_platform_device_count=2):

        >>> run = lambda net, y0: simulate_network(net, 1000.0, 0.1, initial_state=y0).spike_counts
        >>> counts = jax.jit(vmap_sharded(run))(nets, y0s)   # 4 networks per core
    """
    mesh = device_mesh(axis_name, devices)
    spec = PartitionSpec(axis_name)
    # check_vma=False: the loop carries of `simulate` start as constants (device-invariant)
    # and become per-device values; there are no collectives for the check to protect.
    if batch_size is not None and not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"vmap_sharded: batch_size must be an integer >= 1 or None, got {batch_size!r}")
    if batch_size is None:
        per_device = jax.vmap(fn)
    else:
        per_device = lambda *args: jax.lax.map(lambda a: fn(*a), args, batch_size=batch_size)
    mapped = jax.shard_map(per_device, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)

    def run(*args):
        sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(args)}
        if len(sizes) != 1 or None in sizes:
            raise ValueError(
                f"vmap_sharded: every argument leaf needs the same leading batch axis, got sizes {sorted(sizes, key=str)}"
            )
        (size,) = sizes
        if size % mesh.size:
            raise ValueError(f"vmap_sharded: the batch of {size} does not split over {mesh.size} devices")
        return mapped(*args)

    return run
