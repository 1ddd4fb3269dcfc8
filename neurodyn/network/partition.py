"""A network split by target neurons: the part of a `Network` one process simulates.

NEST's scheme (Morrison et al. 2005, "Advancing the boundaries of high-connectivity network
simulation with distributed computing", Neural Comput. 17:1776; Kunkel et al. 2014): every
process owns a contiguous block of neurons, steps only those, and holds only the synapses
*onto* them, indexed by their source. Spikes are exchanged between the processes once per
min-delay interval: a spike of step s needs at least d_min steps to reach any synapse, so
the spikes of d_min steps can be sent together and still be written into the delay rings
before any of them is due.

- `block_bounds(n, size, rank)`: the block of rank `rank` among `size`, [⌊rank·n/size⌋,
  ⌊(rank+1)·n/size⌋) (NEST distributes round-robin; a contiguous block keeps a population's
  neurons together and the local tables dense): the same number of neurons per process.
- `balanced_blocks(cost, size)`: every rank's block, with about the same total cost, e.g.
  the same number of synapses when the cost is each neuron's (expected) in-degree. A process
  stores, and delivers into, the synapses onto its block, so that is what its memory and
  most of its step time follow; in the Potjans–Diesmann microcircuit the in-degree differs
  by population (≈ 2 430 in L6I to 5 890 in L4I at full scale), and equal neuron blocks
  hold 168.0 M and 130.9 M of its 298.9 M synapses.
- `restrict_targets(conn, start, stop)`: the synapses of a table onto [start, stop). Each
  row keeps its entries in their order, so a neuron receives its inputs in the same order
  as in the whole table: the float sums, and so the spikes, are bit for bit the same.
- `partition(network, rank, size, dt=)`: a `NetworkPartition`, the model one process
  simulates (`neurodyn.distributed.simulate_distributed` runs it).

What a partition supports: one neuron model for all populations (parameters scalar or one
per neuron), any receptors, `DCCurrent` drives, projections with per-synapse delays (one ring
per variable, as `Network` keeps it) or one fixed delay, every delay >= 1 step. Random inputs
(`PoissonGroup`, `PoissonInput`, `PoissonDrive`, noise), plasticity and short-term plasticity
are refused: their draws and states are per network, not yet per block.

Memory: a process holds its block's state, n_pre × K_local table entries per projection
(K_local ≈ K·(block / n) + a few σ of padding) and rings of (max delay × block) floats.
"""

from __future__ import annotations

from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool

from .._checks import check_int
from ..neurons.base import AbstractSpikingNeuron, State
from .connectivity import Connectivity, _aligned_full
from .delivery import deliver, deliver_delayed
from .drives import DCCurrent
from .network import Network, PoissonDrive

__all__ = ["NetworkPartition", "balanced_blocks", "block_bounds", "partition", "restrict_targets"]

AXIS = "processes"  # the mesh axis the spikes are gathered over


def block_bounds(n: int, size: int, rank: int) -> tuple[int, int]:
    """(start, stop) of the contiguous block of neurons that `rank` of `size` owns."""
    n = check_int("n", n, lower=1)
    size = check_int("size", size, lower=1)
    rank = check_int("rank", rank, lower=0)
    if rank >= size:
        raise ValueError(f"rank must be in [0, size - 1] = [0, {size - 1}], got {rank}")
    if size > n:
        raise ValueError(f"size={size} processes for n={n} neurons: every process needs at least one neuron")
    return rank * n // size, (rank + 1) * n // size


def balanced_blocks(cost, size: int) -> tuple[tuple[int, int], ...]:
    """Contiguous blocks of neurons, one per process, with about the same total `cost` each.

    Arguments:
        cost: (n,) finite, non-negative cost per neuron with a positive sum, e.g. each
            neuron's expected in-degree (synapses per process) or ones (neurons per process).
        size: number of processes, 1 <= size <= n.

    Returns:
        ((start, stop), …) for ranks 0 … size − 1, tiling [0, n). Boundary r is the prefix
        whose cumulative cost is nearest r·total/size (the lower one on a tie), moved only
        where a block would otherwise be empty; so each block's cost is within max(cost) of
        total/size whenever the blocks can hold at least one neuron each without moving.
    """
    size = check_int("size", size, lower=1)
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError(f"cost must be a 1-D array with one value per neuron, got shape {c.shape}")
    if not np.all(np.isfinite(c)) or (c < 0).any() or c.sum() <= 0:
        raise ValueError("cost must hold finite values >= 0 with a positive sum (one per neuron)")
    n = c.size
    if size > n:
        raise ValueError(f"size={size} processes for n={n} neurons: every process needs at least one neuron")
    prefix = np.concatenate([[0.0], np.cumsum(c)])
    ideal = prefix[-1] * np.arange(1, size) / size
    right = np.clip(np.searchsorted(prefix, ideal, side="left"), 1, n)
    left = right - 1
    bounds = np.where(ideal - prefix[left] <= prefix[right] - ideal, left, right)
    edges = [0]
    for r, b in enumerate(bounds, start=1):  # at least one neuron per block, on both sides
        edges.append(int(min(max(b, edges[-1] + 1), n - (size - r))))
    edges.append(n)
    return tuple(zip(edges[:-1], edges[1:]))


def _check_blocks(blocks, n: int, size: int) -> tuple[tuple[int, int], ...]:
    ok = isinstance(blocks, (tuple, list)) and len(blocks) == size and all(
        isinstance(b, (tuple, list)) and len(b) == 2 and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool)
                                                             for x in b) for b in blocks)
    edges = [int(b[0]) for b in blocks] + [int(blocks[-1][1])] if ok else []
    if not ok or edges[0] != 0 or edges[-1] != n or any(int(b[1]) != e for b, e in zip(blocks, edges[1:])) or any(
            b <= a for a, b in zip(edges[:-1], edges[1:])):
        raise ValueError(
            f"blocks must be {size} (start, stop) pairs, one per rank, tiling [0, {n}) in order with at least one "
            f"neuron each (e.g. balanced_blocks(cost, size)), got {blocks!r}"
        )
    return tuple((int(a), int(b)) for a, b in blocks)


def restrict_targets(conn: Connectivity, start: int, stop: int, *, local: bool = False,
                     width: int | None = None) -> Connectivity:
    """The synapses of `conn` whose target lies in [start, stop), in their row order.

    Arguments:
        conn: a `Connectivity` (n_pre × K table).
        start, stop: the block of target indices, 0 <= start < stop <= conn.n_post.
        local: False keeps target indices and n_post (the table of a block inside the whole
            network: `potjans_diesmann(targets=...)` builds this); True re-indexes them to
            target − start with n_post = stop − start (what a process delivers into).
        width: pad the table to this many columns (>= the largest row); default the
            largest row (at least 1).

    Returns:
        A `Connectivity` with the same rows, the same `max_delay` (so ring depths agree
        across blocks) and only those synapses; padding is the new n_post.
    """
    start = check_int("start", start, lower=0)
    stop = check_int("stop", stop, lower=1)
    if not start < stop <= conn.n_post:
        raise ValueError(f"need 0 <= start < stop <= n_post = {conn.n_post}, got start={start}, stop={stop}")
    idx = np.asarray(conn.post_idx)
    weight = np.asarray(conn.weight) if np.ndim(conn.weight) else conn.weight
    delay = None if conn.delay is None else np.asarray(conn.delay)
    rows_per_chunk = max(1, 2**22 // max(1, idx.shape[1]))  # O(chunk) temporaries at any size
    chunks = [slice(r, r + rows_per_chunk) for r in range(0, conn.n_pre, rows_per_chunk)]
    largest = max([1] + [int(((idx[c] >= start) & (idx[c] < stop)).sum(axis=1).max(initial=0)) for c in chunks])
    if width is None:
        width = largest
    elif check_int("width", width, lower=1) < largest:
        raise ValueError(f"width={width} is narrower than the largest restricted row ({largest} synapses)")
    n_post = stop - start if local else conn.n_post
    post = np.full((conn.n_pre, width), n_post, np.int32)
    w = np.zeros((conn.n_pre, width), weight.dtype) if np.ndim(weight) else weight
    d = None if delay is None else np.zeros((conn.n_pre, width), delay.dtype)
    for c in chunks:
        part = idx[c]
        keep = (part >= start) & (part < stop)
        rows, cols = np.nonzero(keep)  # row-major: each row's entries in their order
        slot = (np.cumsum(keep, axis=1) - 1)[rows, cols]
        rows_global = rows + c.start
        post[rows_global, slot] = part[rows, cols] - (start if local else 0)
        if np.ndim(weight):
            w[rows_global, slot] = weight[c][rows, cols]
        if d is not None:
            d[rows_global, slot] = delay[c][rows, cols]
    if d is None:
        return Connectivity(post, w, conn.n_pre, n_post)
    return Connectivity(post, w, conn.n_pre, n_post, d, dt=conn.dt, max_delay=conn.max_delay)


def pad_columns(conn: Connectivity, width: int, max_delay: int | None = None) -> Connectivity:
    """`conn` with padding columns appended up to `width`, and its ring depth raised to
    `max_delay` (default its own): what every block agrees on, so that every process runs
    the same program (a block's own draw knows only its own largest delay)."""
    k = conn.max_out_degree
    max_delay = conn.max_delay if max_delay is None or conn.delay is None else max_delay
    if width == k and max_delay == conn.max_delay:
        return conn
    extra = width - k

    def pad(x, value=0):  # no copy when only the ring depth changes
        return x if extra == 0 or jnp.ndim(x) == 0 else jnp.pad(x, ((0, 0), (0, extra)), constant_values=value)

    post, weight = pad(conn.post_idx, conn.n_post), pad(conn.weight)
    delay = None if conn.delay is None else pad(conn.delay)
    return Connectivity(post, weight, conn.n_pre, conn.n_post, delay, dt=conn.dt,
                        max_delay=None if delay is None else max_delay)


@final
class NetworkPartition(AbstractSpikingNeuron):
    """One process's share of a `Network`: its block of neurons and the synapses onto them.

    `local` is a `Network` of the block (padded to `n_block` neurons, the largest block,
    so that every process runs the same program; the padding neurons receive nothing and
    their spikes are never sent), with the drives but no projections; `tables` are the
    projections' synapses onto the block (rows: every presynaptic neuron of the whole
    network). `deliver` adds what arrives at each step, keeps the block's spikes of the
    current min-delay interval, and at its last step gathers every block's spikes (one
    collective over the mesh axis "processes", bit-packed flags) and writes them into the
    rings, step by step in order, exactly as the whole network would have.

    Build it with `partition`; run it with `neurodyn.distributed.simulate_distributed`.
    """

    local: Network
    tables: tuple[Connectivity, ...]
    pre_starts: tuple[int, ...] = eqx.field(static=True)  # first global neuron of each projection's pre
    variables: tuple[str, ...] = eqx.field(static=True)  # the state variable each projection adds to
    post_spans: tuple[tuple[int, int], ...] = eqx.field(static=True)  # each projection's targets in the block
    fixed_delays: tuple[int, ...] = eqx.field(static=True)  # steps; 0 = per-synapse delays (shared ring)
    blocks: tuple[tuple[int, int], ...] = eqx.field(static=True)  # (start, stop) of every rank
    rank: int = eqx.field(static=True)
    min_delay: int = eqx.field(static=True)  # d_min, steps: the exchange interval
    dt: float = eqx.field(static=True)

    delivers: ClassVar[bool] = True
    random_events: ClassVar[bool] = False

    # ---------------------------------------------------------------- the block's neurons

    @property
    def n_block(self) -> int:
        return self.local.n

    @property
    def n_total(self) -> int:
        return self.blocks[-1][1]

    @property
    def start(self) -> int:
        return self.blocks[self.rank][0]

    @property
    def stop(self) -> int:
        return self.blocks[self.rank][1]

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.local.state_names

    @property
    def noisy_variables(self) -> tuple[str, ...]:
        return self.local.noisy_variables

    @property
    def populations(self):
        return self.local.populations

    @property
    def threshold(self):
        return self.local.threshold

    @property
    def refractory_period(self):
        return self.local.refractory_period

    @property
    def spike_variable(self) -> str:
        return self.local.spike_variable

    @property
    def resets(self) -> bool:
        return self.local.resets

    @property
    def clamped(self) -> tuple[str, ...]:
        return self.local.clamped

    def vector_field(self, t, y: State, input_current) -> State:
        return self.local.vector_field(t, y, input_current)

    def initial_state(self, n_neurons: int | None = None) -> State:
        return self.local.initial_state(n_neurons)

    def diffusion(self, t, y: State) -> State:
        return self.local.diffusion(t, y)

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.local.parameter_shapes()

    def reset(self, state: State, spiked) -> State:
        return self.local.reset(state, spiked)

    def threshold_distance(self, state: State):
        return self.local.threshold_distance(state)

    def spiked(self, before: State, after: State):
        return self.local.spiked(before, after)

    # ---------------------------------------------------------------- delivery

    def _holders(self) -> dict[str, int]:
        """{variable: first per-synapse-delay projection onto it}, which holds its ring."""
        out: dict[str, int] = {}
        for j, (var, d) in enumerate(zip(self.variables, self.fixed_delays)):
            if d == 0 and var not in out:
                out[var] = j
        return out

    def delivery_state(self, n_neurons: int, dt: float, dtype) -> tuple:
        """(the block network's state, one ring per holder or fixed-delay projection (None
        for the other members of a shared ring), the (d_min, n_block) spikes of the
        current interval)."""
        if abs(dt - self.dt) > 1e-9 * max(dt, 1.0):
            raise ValueError(f"this partition was built for dt = {self.dt} ms; the run has dt = {dt} ms")
        holders = self._holders()
        rings = []
        for j, (var, d) in enumerate(zip(self.variables, self.fixed_delays)):
            if d > 0:
                rings.append(jnp.zeros((d, self.n_block), dtype))
            elif holders[var] == j:
                rows = max(t.max_delay for t, v, e in zip(self.tables, self.variables, self.fixed_delays)
                           if v == var and e == 0)
                rings.append(jnp.zeros((rows, self.n_block), dtype))
            else:
                rings.append(None)
        pending = jnp.zeros((self.min_delay, self.n_block), jnp.bool_)
        return self.local.delivery_state(n_neurons, dt, dtype), tuple(rings), pending

    def gather_spikes(self, pending: Bool[Array, "interval block"]) -> Bool[Array, "interval neurons"]:
        """Every block's spikes of the interval, in global neuron order (one collective)."""
        packed = jnp.packbits(pending, axis=-1)  # 8 neurons per byte on the wire
        every = jax.lax.all_gather(packed, AXIS)  # (processes, interval, bytes)
        flags = jnp.unpackbits(every, axis=-1, count=self.n_block).astype(jnp.bool_)
        return jnp.concatenate([flags[p, :, : b - a] for p, (a, b) in enumerate(self.blocks)], axis=-1)

    def _arrive_fixed(self, y: State, rings: list, j: int, step) -> None:
        """Projection j's fixed-delay ring row of `step` into its targets, as `Network.deliver`
        adds it (`g.at[post].add(row)`: the same operation, so the same rounding)."""
        a, b = self.post_spans[j]
        if b > a:
            var = self.variables[j]
            y[var] = y[var].at[a:b].add(rings[j][step % rings[j].shape[0]][a:b])

    def _arrive_shared(self, y: State, rings: list, h: int, step) -> None:
        """The shared ring's row of `step` into its variable, through the same delivery call
        `Network.deliver` makes (with no spikes): the add runs in the same kernel, so no
        compiler can fuse it differently with the step before (e.g. into an FMA)."""
        var, ring = self.variables[h], rings[h]
        nobody = Connectivity(jnp.full((1, 1), self.n_block, jnp.int32), 0.0, 1, self.n_block,
                              jnp.zeros((1, 1), jnp.uint8), dt=self.dt, max_delay=1)
        y[var], rings[h] = deliver_delayed(y[var], ring, nobody, jnp.zeros((1,), jnp.bool_), step, 0, pre_start=0,
                                           ring_origin=0, arrive=True, method=self.local.delivery)

    def _step(self, y: State, rings: list, spikes: Bool[Array, " neurons"], step, arrive: bool) -> None:
        """The whole network's spikes of global `step` into the rings, projection by
        projection in `Network.deliver`'s order (with `arrive`, that step's arrivals too)."""
        holders = self._holders()
        method = self.local.delivery
        for j, (table, var, d, pre) in enumerate(zip(self.tables, self.variables, self.fixed_delays, self.pre_starts)):
            if d == 0:
                h = holders[var]
                y[var], rings[h] = deliver_delayed(y[var], rings[h], table, spikes, step, 0, pre_start=pre,
                                                   ring_origin=0, arrive=arrive and j == h, method=method)
            else:
                if arrive:
                    self._arrive_fixed(y, rings, j, step)
                slot = step % d
                row = deliver(jnp.zeros_like(rings[j][slot]), table, spikes, 0, pre_start=pre, method=method)
                rings[j] = jax.lax.dynamic_update_index_in_dim(rings[j], row, slot, 0)

    def deliver(self, y: State, buffers, spiked, step, key, dt: float):
        """What arrives now; the exchange every step (d_min = 1, then delivered as one
        process does it) or at the last step of each min-delay interval."""
        local_buffers, rings, pending = buffers
        y, local_buffers = self.local.deliver(y, local_buffers, spiked, step, key, dt)
        y, rings = dict(y), list(rings)
        k = self.min_delay
        if k == 1:
            self._step(y, rings, self.gather_spikes(spiked[None])[0], step, arrive=True)
            return y, (local_buffers, tuple(rings), pending)
        holders = self._holders()
        for j, (var, d) in enumerate(zip(self.variables, self.fixed_delays)):
            if d > 0:
                self._arrive_fixed(y, rings, j, step)
            elif holders[var] == j:
                self._arrive_shared(y, rings, j, step)
        pending = jax.lax.dynamic_update_index_in_dim(pending, spiked, step % k, 0)

        def exchange(operand):
            y, rings = dict(operand[0]), list(operand[1])
            spikes = self.gather_spikes(pending)
            for i in range(k):  # the interval's steps in order: each ring entry adds in the same order
                self._step(y, rings, spikes[i], step - (k - 1) + i, arrive=False)
            return y, tuple(rings)

        y, rings = jax.lax.cond((step + 1) % k == 0, exchange, lambda o: (dict(o[0]), tuple(o[1])), (y, tuple(rings)))
        return y, (local_buffers, tuple(rings), pending)

    def land_jumps(self, y: State) -> State:
        return self.local.land_jumps(y)


def _refuse(network: Network) -> None:
    what = []
    if network.mixed:
        what.append("one neuron model per population (give one model with per-neuron parameters)")
    if network.sources or network.poisson_inputs or any(isinstance(d, PoissonDrive) for d in network.drives):
        what.append("random inputs (PoissonGroup, PoissonInput, PoissonDrive)")
    if network.noisy_variables:
        what.append(f"noise on {network.noisy_variables}")
    for p in network.projections:
        if p.plasticity is not None or p.short_term is not None:
            what.append(f"plasticity on {p.pre}->{p.post}")
    if what:
        raise ValueError(f"partition: not supported across processes yet: {'; '.join(what)}")


def _min_delay(proj, dt: float) -> int:
    c = proj.connectivity
    if not proj.per_synapse_delays:
        return proj.delay_steps(dt)
    idx, d = np.asarray(c.post_idx), np.asarray(c.delay)
    valid = idx < c.n_post
    return int(d[valid].min()) if valid.any() else proj.delay_steps(dt) or 1


def _row_chunks(conn: Connectivity) -> list[slice]:
    rows = max(1, 2**22 // max(1, conn.max_out_degree))  # O(chunk) temporaries at any size
    return [slice(r, r + rows) for r in range(0, conn.n_pre, rows)]


def _inside(conn: Connectivity, t0: int, t1: int) -> bool:
    """Whether every synapse of `conn` targets [t0, t1) (a table drawn for that block alone)."""
    idx = np.asarray(conn.post_idx)
    return t1 > t0 and all(bool((((part >= t0) & (part < t1)) | (part == conn.n_post)).all())
                           for part in (idx[c] for c in _row_chunks(conn)))


def _restricted_width(conn: Connectivity, t0: int, t1: int, inside: bool) -> int:
    """The largest number of synapses of a row onto [t0, t1) (at least 1)."""
    if inside:
        return conn.max_out_degree
    if t1 <= t0:
        return 1
    idx = np.asarray(conn.post_idx)
    return max([1] + [int(((idx[c] >= t0) & (idx[c] < t1)).sum(axis=1).max(initial=0)) for c in _row_chunks(conn)])


def _block_table(conn: Connectivity, t0: int, t1: int, offset: int, n_block: int, width: int, max_delay: int,
                 inside: bool) -> Connectivity:
    """`conn`'s synapses onto its targets [t0, t1) as a table of the block: target t becomes
    block neuron t − t0 + offset, padding n_block, `width` columns, ring depth `max_delay`.
    A table drawn for the block alone (`inside`) keeps its weight and delay arrays when the
    width agrees: only the targets are written anew."""
    if t1 <= t0:  # no target in this block: padding only
        weight = conn.weight if jnp.ndim(conn.weight) == 0 else np.zeros((conn.n_pre, width), np.float32)
        delay = None if conn.delay is None else np.zeros((conn.n_pre, width), np.uint8)
        return Connectivity(np.full((conn.n_pre, width), n_block, np.int32), weight, conn.n_pre, n_block, delay,
                            dt=conn.dt, max_delay=None if delay is None else max_delay)
    if not inside:
        conn = restrict_targets(conn, t0, t1, width=width)
    idx = np.asarray(conn.post_idx)
    k = idx.shape[1]
    post = _aligned_full((conn.n_pre, width), np.int32, n_block)  # device_put shares an aligned buffer
    for c in _row_chunks(conn):
        part = idx[c]
        post[c, :k] = np.where(part < conn.n_post, part - t0 + offset, n_block)

    def pad(x):  # weights and delays: the same arrays when the width agrees
        if k == width or jnp.ndim(x) == 0:
            return x
        out = _aligned_full((conn.n_pre, width), x.dtype, 0)
        out[:, :k] = np.asarray(x)
        return jax.device_put(out)

    return Connectivity(jax.device_put(post), pad(conn.weight), conn.n_pre, n_block,
                        None if conn.delay is None else pad(conn.delay), dt=conn.dt,
                        max_delay=None if conn.delay is None else max_delay)


def partition(network: Network, rank: int, size: int, *, dt: float, initial_state: State | None = None,
              blocks=None) -> tuple[NetworkPartition, State]:
    """Rank `rank`'s share of `network` among `size` processes, and its initial state.

    Arguments:
        network: the whole network, or one whose tables already hold only the synapses onto
            this rank's block (`restrict_targets(local=False)`; e.g. `potjans_diesmann(...,
            targets=block_bounds(n, size, rank))`, which never holds the rest).
        rank, size: this process and the number of processes (0 <= rank < size <= n).
        dt: the step (ms) the run uses (delays in steps).
        initial_state: {variable: (n,) array} of the whole network (default: at rest).
        blocks: every rank's (start, stop), tiling [0, n) in rank order (e.g.
            `balanced_blocks(in_degrees, size)`: about the same number of synapses per
            process; `neurodyn.models.potjans_diesmann.process_blocks`); default
            `block_bounds(n, size, r)`: the same number of neurons. Every process must pass
            the same blocks, and a network drawn for one block (`targets=`) must be
            partitioned with that block: synapses onto the rest of a block are not there.

    Returns:
        (NetworkPartition, {variable: (n_block,) array}): the block's state, padded to the
        largest block with copies of its last neuron.

    Raises ValueError for what a partition cannot run (module docstring) and for a delay
    of 0 steps (its spike would be needed in the step it was emitted: no exchange can
    keep up; NEST's min_delay is at least one step too).
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    _refuse(network)
    size = check_int("size", size, lower=1)
    rank = check_int("rank", rank, lower=0)
    if rank >= size:
        raise ValueError(f"rank must be in [0, size - 1] = [0, {size - 1}], got {rank}")
    if blocks is None:
        blocks = tuple(block_bounds(network.n, size, r) for r in range(size))
    else:
        blocks = _check_blocks(blocks, network.n, size)
    start, stop = blocks[rank]
    n_local = stop - start
    n_block = max(b - a for a, b in blocks)

    def piece(x):  # a per-neuron array: this block, padded with its last neuron
        x = jnp.asarray(x)[start:stop]
        return jnp.concatenate([x, jnp.broadcast_to(x[-1:], (n_block - n_local, *x.shape[1:]))])

    def per_neuron(tree):  # parameters with one value per neuron: this block's values
        return jax.tree.map(lambda x: piece(x) if eqx.is_array(x) and jnp.shape(x) == (network.n,) else x, tree)

    neuron, synapses = per_neuron(network.neuron), per_neuron(network.synapses)
    drives = []
    for drv in network.drives:  # every drive stays its own term, as the whole network adds them
        sl = network.population(drv.target)
        amp = jnp.broadcast_to(jnp.asarray(drv.amplitude), (sl.stop - sl.start,))
        full = jnp.zeros((network.n,), amp.dtype).at[sl].set(amp)
        drives.append(DCCurrent("block", piece(full).at[n_local:].set(0)))
    local = Network(neuron, synapses, {"block": n_block}, drives=drives, delivery=network.delivery)
    pre_starts, variables, spans, fixed, d_min, targets = [], [], [], [], [], []
    for proj in network.projections:
        post = network.population(proj.post)
        lo, hi = max(start, post.start), min(stop, post.stop)
        d = _min_delay(proj, dt)
        if d < 1:
            raise ValueError(
                f"partition: projection {proj.pre}->{proj.post} has a delay of 0 steps; across processes every "
                f"delay must be at least one step dt = {dt} ms (NEST's min_delay)"
            )
        d_min.append(d)
        targets.append((lo - post.start, hi - post.start, lo - start))  # post's [t0, t1) -> block neuron t - t0 + offset
        spans.append((lo - start, hi - start) if hi > lo else (0, 0))
        pre_starts.append(network.population(proj.pre).start)
        variables.append(network._spike_target(proj.receptor))
        fixed.append(0 if proj.per_synapse_delays else proj.delay_steps(dt))
    # every process's tables get the same width and ring depth (one program for all): agreed
    # here, before the block's tables are written, so that each is written once
    alone = [_inside(p.connectivity, t0, t1) for p, (t0, t1, _) in zip(network.projections, targets)]
    widths = [_restricted_width(p.connectivity, t0, t1, a) for p, (t0, t1, _), a in zip(network.projections, targets, alone)]
    depths = [p.connectivity.max_delay for p in network.projections]
    agreed = np.array(widths + depths + [-min(d_min, default=1)], np.int64)
    if size > 1 and jax.process_count() == size:
        from jax.experimental import multihost_utils

        agreed = np.asarray(multihost_utils.process_allgather(agreed)).max(axis=0)
    n_proj = len(widths)
    tables = [_block_table(p.connectivity, t0, t1, offset, n_block, int(w), int(depth), a)
              for p, (t0, t1, offset), w, depth, a in zip(network.projections, targets, agreed[:n_proj],
                                                          agreed[n_proj:2 * n_proj], alone)]
    y = network.initial_state() if initial_state is None else {**network.initial_state(), **initial_state}
    y = {k: piece(jnp.broadcast_to(jnp.asarray(v), (network.n,))) for k, v in y.items()}
    part = NetworkPartition(local, tuple(tables), tuple(pre_starts), tuple(variables), tuple(spans), tuple(fixed), blocks,
                            rank, int(-agreed[-1]), float(dt))
    return part, y
