"""One network split across processes with `jax.distributed`, as NEST splits it over MPI.

Each process owns a contiguous block of neurons and the synapses onto them
(`neurodyn.network.partition`), steps its block with the one clock loop of `simulate`,
and every min-delay interval (d_min steps, the shortest delay of the network) sends the
spikes of its block to every other process, bit-packed (one bit per neuron and step), in
one `all_gather` over a global mesh of one device per process; each process then writes
the spikes of the whole network into its delay rings, step by step. A spike of step s
reaches a synapse of delay d ≥ d_min at step s + d, after the exchange that carried it,
so every spike arrives at exactly the step it would in one process, and the sums onto
each neuron are added in the same order: the synaptic input is the same, bit for bit, and
so were the spikes in the tests (two processes on the Potjans–Diesmann microcircuit at
scale 0.02 and on a network with per-synapse delays; tests/test_distributed.py). Long runs
can still part: the membrane update compiled for several processes may differ from the
one-process program by an ulp (scale 0.3: v at ~7 % of the neurons after 5 ms, i_syn
identical), and a threshold crossing closer than that flips (scale 0.3: after 73.6 ms).

NEST's scheme (Morrison et al. 2005, Neural Comput. 17:1776–1801; Kunkel et al. 2014,
Front. Neuroinform. 8:78): neurons are distributed over processes, synapses are stored on
the process of their target, and spikes are communicated in MPI_Allgather rounds every
min_delay. The Potjans–Diesmann microcircuit at dt = 0.1 ms has d_min = 1 step (delays
are drawn down to one step), so it exchanges every step, as NEST does for it.

Launching. One process per host (or per core), each started with the same program and its
own `process_id`; the coordinator is process 0's host and any free port:

    import jax
    jax.distributed.initialize(coordinator_address="host0:12345", num_processes=2, process_id=RANK)
    from neurodyn.distributed import simulate_distributed
    from neurodyn.network.partition import partition
    from neurodyn.models import potjans_diesmann
    from neurodyn.models.potjans_diesmann import process_blocks

    blocks = process_blocks(1.0, 2)           # the same number of synapses per process
    built = potjans_diesmann(1.0, key=jax.random.key(1), targets=blocks[RANK])  # draws only these
    part, y0 = partition(built.network, RANK, 2, dt=built.dt, initial_state=built.initial_state,
                         blocks=blocks)
    del built                                 # the partition holds the block's tables
    result = simulate_distributed(part, 1000.0, initial_state=y0, solver=built.solver)
    times, neurons = all_spikes(result, part)   # every process: the whole network's spikes

`jax.distributed.initialize` also reads the standard cluster environments (SLURM, Open
MPI's mpirun, Kubernetes), where it needs no arguments: `srun -N 2 python run.py`. On one
host, start one process per core and pin each (`taskset -c RANK python run.py RANK`) with
`XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"`. CPU
collectives between processes go through Gloo over TCP (`jax_cpu_collectives_implementation`,
"gloo" by default in jax 0.10), so the hosts need only a network path to each other.

Each process draws and holds its block's state and the synapses onto it: with
synapse-balanced blocks (`neurodyn.network.partition.balanced_blocks`) 1/size of them each;
at full scale the microcircuit's 3·10⁸ synapses (2.9 GB in one process) are ≈ 1.45 GB per
process with two (149.4 M synapses each; equal neuron blocks: 168.0 M and 130.9 M).
"""

from __future__ import annotations

import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree

from ._simulate import simulate
from ._state import SimulationResult
from .network.exact import AbstractForwardingSolver, ExactIntegration, WithJumps
from .network.partition import AXIS, NetworkPartition, pad_columns

__all__ = ["all_spikes", "global_spikes", "merge_spikes", "process_mesh", "simulate_distributed"]


class _BlockSolver(AbstractForwardingSolver):
    """A solver that steps the block's own `Network` (`NetworkPartition.local`): solvers that
    read the model from `args` (`ExactIntegration`, `WithJumps`) see the network they know."""

    solver: diffrax.AbstractSolver

    def init(self, terms, t0, t1, y0, args):
        return self.solver.init(terms, t0, t1, y0, (args[0].local, *args[1:]))

    def step(self, terms, t0, t1, y0: PyTree, args, solver_state, made_jump):
        return self.solver.step(terms, t0, t1, y0, (args[0].local, *args[1:]), solver_state, made_jump)

    def func(self, terms, t0, y0, args):
        return self.solver.func(terms, t0, y0, (args[0].local, *args[1:]))


def process_mesh() -> Mesh:
    """A 1-D mesh with one device (the first) of every process, axis "processes"."""
    first: dict[int, jax.Device] = {}
    for d in jax.devices():
        first.setdefault(d.process_index, d)
    return Mesh(np.array([first[p] for p in sorted(first)]), (AXIS,))


def _agree(part: NetworkPartition) -> NetworkPartition:
    """Make every process's tables the same width and ring depth (the largest of any
    process: a block drawn alone knows only its own) and use the network-wide d_min."""
    n = len(part.tables)
    local = np.array([t.max_out_degree for t in part.tables] + [t.max_delay for t in part.tables]
                     + [-part.min_delay], np.int64)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        local = np.asarray(multihost_utils.process_allgather(local)).max(axis=0)
    widths, depths, d_min = local[:n], local[n:2 * n], int(-local[-1])
    tables = tuple(pad_columns(t, int(w), int(d)) for t, w, d in zip(part.tables, widths, depths))
    return NetworkPartition(part.local, tables, part.pre_starts, part.variables, part.post_spans, part.fixed_delays,
                            part.blocks, part.rank, d_min, part.dt)


def simulate_distributed(
    part: NetworkPartition, t1: float, *, initial_state: dict, solver: diffrax.AbstractSolver | None = None,
    timings: dict | None = None, **kwargs,
) -> SimulationResult:
    """Run this process's `part` of a network together with the other processes' parts.

    Every process calls it with its own `part` and `initial_state` (from `partition`), the
    same `t1` (ms) and the same other arguments, after `jax.distributed.initialize` (with
    one process and no initialize, it runs alone: the same code path). The run is one
    `jit` of `neurodyn.simulate` inside `jax.shard_map` over `process_mesh()`: the spike
    exchange is a collective inside the compiled loop, never a host round trip.

    Arguments:
        part: this process's `NetworkPartition` (rank = `jax.process_index()`).
        t1: duration (ms); dt is the one the partition was built for.
        initial_state: the block's state, {variable: (n_block,) array}.
        solver: as for `simulate_network` (default Euler; `ExactIntegration()` for the
            IAF models).
        timings: a dict to fill with "compile_s" and "run_s", the wall seconds of compiling
            and of running this call (benchmarks).
        kwargs: `simulate`'s (`max_spikes`, `monitors`, `record`, `spike_block`, ...);
            not `key` (random inputs are refused by `partition`), `progress`, `surrogate`.

    Returns:
        This block's `SimulationResult` (neuron indices local to the block, padding neurons
        included; `global_spikes` / `all_spikes` give global ids).
    """
    if not isinstance(part, NetworkPartition):
        raise TypeError(f"part must be a NetworkPartition (neurodyn.network.partition.partition), got {type(part).__name__}")
    size, rank = jax.process_count(), jax.process_index()
    if len(part.blocks) != size or part.rank != rank:
        raise ValueError(
            f"part is rank {part.rank} of {len(part.blocks)} but this is process {rank} of {size}: build it with "
            f"partition(network, jax.process_index(), jax.process_count(), ...)"
        )
    for name, default in (("key", None), ("progress", False), ("surrogate", None), ("stream_to", None), ("mode", "clock")):
        value = kwargs.get(name, default)
        if not (value is default or (isinstance(value, str) and value == default)):
            raise ValueError(f"simulate_distributed: {name}= is not supported across processes (leave it at {default!r})")
    part = _agree(part)
    if part.local.delta_synapses and not isinstance(solver, (ExactIntegration, WithJumps)):
        solver = WithJumps(solver or diffrax.Euler())
    solver = _BlockSolver(solver or diffrax.Euler())
    y0 = {k: jnp.broadcast_to(jnp.asarray(initial_state[k]), (part.n_block,)) for k in part.state_names}
    arrays, static = eqx.partition((part, y0), eqx.is_array)
    mesh = process_mesh()
    split = NamedSharding(mesh, PartitionSpec(AXIS))
    stacked = jax.tree.map(lambda x: jax.make_array_from_process_local_data(split, np.asarray(x)[None]), arrays)
    shapes = {}

    def run(arrays):
        model, y = eqx.combine(jax.tree.map(lambda x: x[0], arrays), static)
        result = simulate(model, t1, model.dt, initial_state=y, solver=solver, **kwargs)
        out, shapes["static"] = eqx.partition(result, eqx.is_array)
        return jax.tree.map(lambda x: x[None], out)

    mapped = jax.shard_map(run, mesh=mesh, in_specs=PartitionSpec(AXIS), out_specs=PartitionSpec(AXIS),
                           check_vma=False)
    start = time.perf_counter()
    compiled = jax.jit(mapped).lower(stacked).compile()
    compiled_at = time.perf_counter()
    out = jax.block_until_ready(compiled(stacked))
    if timings is not None:
        timings.update(compile_s=compiled_at - start, run_s=time.perf_counter() - compiled_at)
    mine = jax.tree.map(lambda x: x.addressable_shards[0].data[0], out)
    return eqx.combine(mine, shapes["static"])


def global_spikes(result: SimulationResult, part: NetworkPartition) -> tuple[np.ndarray, np.ndarray]:
    """(spike times in ms, global neuron ids) of this block, padding neurons left out."""
    times, neurons = result.spikes()
    keep = neurons < part.stop - part.start
    return times[keep], neurons[keep].astype(np.int64) + part.start


def merge_spikes(per_block: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The blocks' (times, global ids) as one list sorted by time, then neuron."""
    times = np.concatenate([t for t, _ in per_block]) if per_block else np.zeros(0)
    neurons = np.concatenate([n for _, n in per_block]) if per_block else np.zeros(0, np.int64)
    order = np.lexsort((neurons, times))
    return times[order], neurons[order]


def all_spikes(result: SimulationResult, part: NetworkPartition) -> tuple[np.ndarray, np.ndarray]:
    """Every process's spikes (times in ms, global ids), merged, on every process."""
    if jax.process_count() == 1:
        return global_spikes(result, part)
    from jax.experimental import multihost_utils

    k = int(result.n_spikes_stored)
    sizes = np.asarray(multihost_utils.process_allgather(np.array([k])))[:, 0]
    width = max(1, int(sizes.max()))
    times, neurons = global_spikes(result, part)
    t = np.full(width, np.inf, times.dtype)  # the run's dtype: sent as it is
    n = np.full(width, -1, np.int32)
    t[: times.size], n[: neurons.size] = times, neurons
    every_t = np.asarray(multihost_utils.process_allgather(t))
    every_n = np.asarray(multihost_utils.process_allgather(n))
    return merge_spikes([(every_t[p][every_n[p] >= 0].astype(times.dtype), every_n[p][every_n[p] >= 0].astype(np.int64))
                         for p in range(len(sizes))])
