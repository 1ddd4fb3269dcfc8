"""Sparse connectivity: who connects to whom, stored as a static-shape table.

A projection from `n_pre` to `n_post` neurons is stored as a fixed-width *out-degree
table* (the ELL layout, one row per presynaptic neuron):

    post_idx[i, k]   index of the k-th target of presynaptic neuron i, or n_post (padding)
    weight[i, k]     its weight, or one scalar weight shared by every synapse
    delay[i, k]      its delay in whole steps (optional; uint8 below 256 steps)

Rows are padded to the largest out-degree K with the one sentinel `n_post` (any other
index outside [0, n_post) is refused). This is the layout event-driven delivery
wants: when neuron i spikes, its row is added to the targets (cost O(K) per spike, never
O(n_pre·n_post) per step). `Connectivity.in_degree_table()` gives the transposed layout
(`pre_idx[j, k]`, one row per postsynaptic neuron) for gather-based delivery.

Connection rules (NEST 3 `conn_spec` rule and Brian2 `Synapses.connect` equivalents):

| builder | NEST | Brian2 | synapses |
|---|---|---|---|
| `fixed_probability(p)` | `pairwise_bernoulli` | `connect(p=p)` | each pair with prob. p, no duplicates |
| `fixed_out_degree(k)` | `fixed_outdegree` | `connect(j='k for k in sample(N_post, size=k)')` | exactly k per pre |
| `fixed_in_degree(k)` | `fixed_indegree` | `connect(i='k for k in sample(N_pre, size=k)')`-style | exactly k per post |
| `fixed_total_number(n)` | `fixed_total_number` | (none) | exactly n, pairs uniform |
| `one_to_one(n)` | `one_to_one` | `connect(j='i')` | i → i |
| `from_lists(pre, post)` | `Connect(pre, post, "one_to_one")` on id lists | `connect(i=pre, j=post)` | as given |

Every builder runs on the device with `jax.random` from an explicit key, so 10⁸ synapses
take seconds; only the table width K (and the largest delay) is brought to the host.

Policy on self and duplicate connections (the same for every builder):
- A *self connection* (autapse) is a synapse i → i. It is only meaningful when the pre-
  and postsynaptic populations are the same population; `allow_self=False` forbids it and
  then requires n_pre == n_post. Default `allow_self=True`, as in Brian2's
  `Synapses.connect(p=...)` and NEST's `allow_autapses=True`, so benchmarks match them.
- A *duplicate* (multapse) is a second synapse for the same (pre, post) pair.
  `fixed_probability` and `one_to_one` never make duplicates.
  `fixed_in_degree` / `fixed_out_degree` draw without replacement unless
  `allow_duplicates=True`; `fixed_total_number` draws with replacement unless
  `allow_duplicates=False` (NEST's `allow_multapses` and its defaults). `from_lists`
  keeps the lists as given; with `allow_duplicates=False` it raises on a repeated pair
  rather than merging.
Nothing is ever silently dropped or merged.

Weights and delays. A builder's `weight` is one number (stored once, shared) or a
distribution drawn per synapse (`neurodyn.network.Normal` with NEST's redraw or clipped
bounds, `Uniform`, or any `f(key, shape, dtype)`; see `neurodyn.network.distributions`).
Negative weights are allowed here (current-based inhibition); a `Network` refuses them on
conductance receptors. `delay` (ms) with `dt` (the simulation step, ms) gives per-synapse
delays: one number, an array (`from_lists`: one per synapse; `Connectivity.with_delay`:
the table layout) or a distribution. Delays are rounded to the nearest whole step,
halves up (NEST's `Time::delay_ms_to_steps`); NaN, inf and negative delays, and
distributions that can draw them (a `Normal` without `low >= 0`), are refused. A delay
distribution is drawn with `fold_in(key, 2)` and a weight one with `fold_in(key, 1)`, so
the synapses drawn from `key` are the same with or without them. Without `delay` the
projection's one delay applies (`Projection(delay=...)`), at no per-synapse cost.

Memory (`estimate_memory`): per table entry 4 bytes of index, 4 of weight if drawn per
synapse (0 if shared), and 1 of delay (uint8, D < 256 steps; 2 or 4 beyond), times the
padding factor n_pre·K / n_synapses.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Integer, PRNGKeyArray

from .._checks import check_int, concrete
from .distributions import Normal, Uniform, _chunk_size, _from_chunks


class Connectivity(eqx.Module):
    """Synapses from `n_pre` to `n_post` neurons as a padded out-degree table.

    Attributes:
        post_idx: (n_pre, K) int32 target indices in [0, n_post); the value `n_post` marks
            padding (the only one: anything else outside [0, n_post) is refused).
        weight: (n_pre, K) per-synapse weights (0 on padding), or a scalar shared by all.
        delay: (n_pre, K) per-synapse delays in whole steps of `dt`, or None (the
            projection's one delay applies). Stored in the smallest dtype that holds
            `max_delay` (uint8 below 256, else int16, else int32).
        n_pre, n_post: population sizes (static).
        dt: the step (ms) the delays were rounded to (static; None without delays).
        max_delay: D, the largest delay in steps (static; 0 without delays). Delivery
            keeps a ring buffer of D rows × n_post.
    """

    post_idx: Int[Array, "pre k"]
    weight: Float[Array, "pre k"] | Float[Array, ""]
    delay: Integer[Array, "pre k"] | None
    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)
    dt: float | None = eqx.field(static=True)
    max_delay: int = eqx.field(static=True)

    def __init__(
        self,
        post_idx: Int[ArrayLike, "pre k"],
        weight: Float[ArrayLike, "*pre_k"],
        n_pre: int,
        n_post: int,
        delay: Integer[ArrayLike, "pre k"] | None = None,
        *,
        dt: float | None = None,
        max_delay: int | None = None,
    ):
        n_pre = check_int("n_pre", n_pre, lower=1)
        n_post = check_int("n_post", n_post, lower=1)
        post_idx = jnp.asarray(post_idx)
        if not jnp.issubdtype(post_idx.dtype, jnp.integer) or post_idx.ndim != 2:
            raise ValueError(
                f"post_idx must be a 2-D integer table (n_pre, K), got {post_idx.dtype} shape {post_idx.shape}"
            )
        if post_idx.shape[0] != n_pre:
            raise ValueError(
                f"post_idx has {post_idx.shape[0]} rows but n_pre={n_pre}: it needs exactly one row per "
                f"presynaptic neuron (the spikes of missing rows would be dropped)"
            )
        idx = concrete(post_idx)
        if idx is not None and idx.size and (idx.min() < 0 or idx.max() > n_post):
            bad = idx[(idx < 0) | (idx > n_post)]
            raise ValueError(
                f"post_idx must hold target indices in [0, {n_post - 1}] or the padding value "
                f"n_post={n_post}, got {bad[:3].tolist()}{' ...' if bad.size > 3 else ''} "
                f"({bad.size} out of range)"
            )
        if post_idx.dtype != jnp.int32:
            post_idx = post_idx.astype(jnp.int32)
        self.post_idx = post_idx
        self.weight = _check_weight(weight, post_idx.shape, "weight")
        self.n_pre, self.n_post = n_pre, n_post
        if delay is None:
            if dt is not None or max_delay not in (None, 0):
                raise ValueError("dt and max_delay describe per-synapse delays: give them with delay, or neither")
            self.delay, self.dt, self.max_delay = None, None, 0
            return
        self.dt = _check_dt(dt)
        delay = jnp.asarray(delay)
        if not jnp.issubdtype(delay.dtype, jnp.integer) or delay.shape != post_idx.shape:
            raise ValueError(
                f"delay must be an integer table of steps with the shape of post_idx {tuple(post_idx.shape)}, "
                f"got {delay.dtype} shape {delay.shape}"
            )
        d = concrete(delay)
        if d is not None:
            if idx is not None:
                d = np.where(idx < n_post, d, 0)
            if d.size and d.min() < 0:
                raise ValueError(f"delay must be >= 0 steps, got min {d.min()}")
            largest = int(d.max()) if d.size else 0
            if max_delay is None:
                max_delay = largest
            elif largest > max_delay:
                raise ValueError(f"delay holds {largest} steps but max_delay={max_delay}")
        self.max_delay = check_int("max_delay", max_delay, lower=0, meaning="steps")
        self.delay = delay.astype(delay_dtype(self.max_delay))

    @property
    def max_out_degree(self) -> int:
        """K, the width of the table."""
        return self.post_idx.shape[-1]

    @property
    def mask(self) -> Bool[Array, "pre k"]:
        """True where the table holds a synapse (not padding)."""
        return self.post_idx < self.n_post

    @property
    def n_synapses(self) -> Int[Array, ""]:
        return jnp.sum(self.mask)

    def out_degree(self) -> Int[Array, " pre"]:
        """Number of targets of each presynaptic neuron."""
        return jnp.sum(self.mask, axis=-1)

    def in_degree(self) -> Int[Array, " post"]:
        """Number of sources of each postsynaptic neuron."""
        return jnp.zeros((self.n_post + 1,), jnp.int32).at[self.post_idx].add(1)[: self.n_post]

    def weights_full(self) -> Float[Array, "pre k"]:
        """Per-synapse weights (the scalar broadcast to the table), 0 on padding."""
        w = jnp.broadcast_to(self.weight, self.post_idx.shape)
        return jnp.where(self.mask, w, 0)

    def delays_ms(self) -> Float[Array, "pre k"] | None:
        """Per-synapse delays in ms (steps × dt; 0 on padding), or None without delays."""
        if self.delay is None:
            return None
        return jnp.where(self.mask, self.delay.astype(jnp.float32) * self.dt, 0.0)

    def to_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, weight) NumPy arrays of all synapses, sorted by pre (host side).

        Per-synapse delays in the same order: `np.asarray(conn.delays_ms())[conn.mask]`.
        """
        mask = np.asarray(self.mask)
        pre = np.broadcast_to(np.arange(self.n_pre)[:, None], mask.shape)[mask]
        post = np.asarray(self.post_idx)[mask]
        weight = np.asarray(self.weights_full())[mask]
        return pre, post, weight

    def to_dense(self) -> Float[Array, "pre post"]:
        """Dense (n_pre, n_post) weight matrix, duplicates summed (for small tests)."""
        rows = jnp.broadcast_to(jnp.arange(self.n_pre)[:, None], self.post_idx.shape)
        dense = jnp.zeros((self.n_pre, self.n_post + 1), self.weights_full().dtype)
        return dense.at[rows, self.post_idx].add(self.weights_full())[:, : self.n_post]

    def in_degree_table(self) -> tuple[Int[Array, "post k"], Float[Array, "post k"]]:
        """The transposed layout: (pre_idx[post, K_in], weight[post, K_in]); pad = n_pre.

        (Weights only: per-synapse delays are not carried over.)
        """
        mask = self.mask
        rows = jnp.broadcast_to(jnp.arange(self.n_pre)[:, None], mask.shape)
        pre = jnp.where(mask, rows, self.n_pre).ravel()
        post = jnp.where(mask, self.post_idx, self.n_post).ravel()
        table, weight = _ell_from_pairs(post, pre, self.weights_full().ravel(), self.n_post, self.n_pre)
        return table, weight

    def with_weight(self, weight: Float[ArrayLike, ...]) -> Connectivity:
        """The same synapses (and delays) with a new weight (a scalar or a (n_pre, K) table)."""
        weight = _check_weight(weight, self.post_idx.shape, "weight")
        return Connectivity(
            self.post_idx, weight, self.n_pre, self.n_post, self.delay, dt=self.dt, max_delay=self.max_delay
        )

    def with_delay(
        self, delay, dt: float, *, key: PRNGKeyArray | None = None
    ) -> Connectivity:
        """The same synapses with per-synapse delays (ms), rounded to whole steps of `dt`.

        `delay`: one number, a (n_pre, K) array in the table's layout (padding entries are
        ignored), or a distribution / callable `f(key, shape, dtype)` drawn with `key`.
        Rounding is to the nearest step, halves up (NEST's `ld_round`).
        """
        steps, max_delay = _delay_steps(key, delay, dt, self.post_idx.shape, self.mask, "delay")
        return Connectivity(self.post_idx, self.weight, self.n_pre, self.n_post, steps, dt=dt, max_delay=max_delay)

    def padded(self, k: int, max_delay: int | None = None) -> Connectivity:
        """The same synapses in a table of width k >= K (e.g. to stack several networks
        drawn with different seeds into one batch for `jax.vmap`); `max_delay` raises the
        ring-buffer depth D in the same way (stacked tables need equal static fields)."""
        k = check_int("k", k, lower=self.max_out_degree, owner="padded", meaning="the table width")
        extra = k - self.max_out_degree
        post_idx = jnp.pad(self.post_idx, ((0, 0), (0, extra)), constant_values=self.n_post)
        weight = self.weight if jnp.ndim(self.weight) == 0 else jnp.pad(self.weight, ((0, 0), (0, extra)))
        if self.delay is None:
            if max_delay not in (None, 0):
                raise ValueError("padded: max_delay needs per-synapse delays (this table has none)")
            return Connectivity(post_idx, weight, self.n_pre, self.n_post)
        max_delay = self.max_delay if max_delay is None else max_delay
        max_delay = check_int("max_delay", max_delay, lower=self.max_delay, owner="padded", meaning="steps")
        delay = jnp.pad(self.delay, ((0, 0), (0, extra)))
        return Connectivity(post_idx, weight, self.n_pre, self.n_post, delay, dt=self.dt, max_delay=max_delay)


def delay_dtype(max_delay: int):
    """The smallest dtype holding delays of up to `max_delay` steps: uint8, int16 or int32."""
    if max_delay < 256:
        return jnp.uint8
    if max_delay < 2**15:
        return jnp.int16
    if max_delay < 2**31:
        return jnp.int32
    raise ValueError(f"max_delay={max_delay} steps does not fit in int32")


# --------------------------------------------------------------------------- checks


def _check_self(allow_self: bool, n_pre: int, n_post: int) -> None:
    if not allow_self and n_pre != n_post:
        raise ValueError(
            f"allow_self=False only makes sense when pre and post are the same population "
            f"(n_pre == n_post), got n_pre={n_pre}, n_post={n_post}"
        )


def _check_dt(dt) -> float:
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be the simulation step in ms (a finite number > 0) when delays are given, got {dt!r}")
    return float(dt)


def _is_sampler(x) -> bool:
    return callable(x) and not isinstance(x, (jax.Array, np.ndarray))


def _weights(key, weight, shape, mask, name: str = "weight"):
    """A builder's weight: one number (kept scalar), or drawn per synapse from a sampler."""
    if not _is_sampler(weight):
        return _check_weight(weight, (), name)
    if key is None:
        raise ValueError(f"{name} is a distribution: a key is needed to draw it")
    if isinstance(weight, (Normal, Uniform)):  # chunked, one compilation for every table
        w = _from_chunks(weight.chunks(key, math.prod(shape)), tuple(shape), jnp.float32)
        return jnp.where(mask, w, 0.0)
    w = _draw(weight, key, tuple(shape), jnp.result_type(float))
    if w.shape != tuple(shape) or not jnp.issubdtype(w.dtype, jnp.floating):
        raise ValueError(f"{name}: the distribution returned {w.dtype} shape {w.shape}, expected floats of shape {tuple(shape)}")
    w, finite = _mask_and_check(w, mask)
    if not bool(finite):
        raise ValueError(f"{name}: the distribution drew NaN or inf")
    return w


def _draw(sampler, key, shape, dtype):
    """sampler(key, shape, dtype) compiled (eagerly, a normal draw is a dozen passes over
    the table); cached per sampler, which must then be hashable (Normal and Uniform are)."""
    try:
        hash(sampler)
    except TypeError:
        return jax.jit(lambda k: sampler(k, shape, dtype))(key)
    return _draw_jit(sampler, key, shape, dtype)


@functools.partial(jax.jit, static_argnums=(0, 2, 3))
def _draw_jit(sampler, key, shape, dtype):
    return sampler(key, shape, dtype)


@jax.jit
def _mask_and_check(w, mask):
    return jnp.where(mask, w, 0), jnp.all(jnp.isfinite(w) | ~mask)


def _check_delay_sampler(delay, name: str) -> None:
    """Refuse a distribution that can draw negative delays (before drawing it)."""
    if isinstance(delay, Normal) and delay.mean < 0:
        raise ValueError(f"{name}: a delay distribution needs mean >= 0 ms, got Normal(mean={delay.mean})")
    if isinstance(delay, (Normal, Uniform)) and delay.support[0] < 0:
        raise ValueError(
            f"{name}: {delay} can draw negative delays; bound it below with low >= 0 "
            f"(NEST's PD14 rule: Normal(mean, 0.5 * mean, low=0.5 * dt), so that the rounded "
            f"delay is at least one step)"
        )


def _delay_steps(key, delay, dt, shape, mask, name: str):
    """Per-synapse delays (ms: number, array of `shape`, or sampler) as whole steps of dt.

    Returns (steps, max_delay): an integer table in the smallest dtype, 0 on padding, and
    its largest value (read back to the host once: it sizes the ring buffer).
    """
    dt = _check_dt(dt)
    if isinstance(delay, (Normal, Uniform)):  # supported >= 0 (checked): round chunk by chunk
        _check_delay_sampler(delay, name)
        if key is None:
            raise ValueError(f"{name} is a distribution: a key is needed to draw it")
        steps = [_round_chunk(c, jnp.float32(dt)) for c in delay.chunks(key, math.prod(shape))]
        steps = jnp.where(mask, _from_chunks(steps, tuple(shape), jnp.int32), 0)
        largest = int(jnp.max(steps))
        return steps.astype(delay_dtype(largest)), largest
    if _is_sampler(delay):
        _check_delay_sampler(delay, name)
        if key is None:
            raise ValueError(f"{name} is a distribution: a key is needed to draw it")
        d = _draw(delay, key, tuple(shape), jnp.float32)
        if d.shape != tuple(shape) or not jnp.issubdtype(d.dtype, jnp.floating):
            raise ValueError(f"{name}: the distribution returned {d.dtype} shape {d.shape}, expected floats of shape {tuple(shape)}")
    else:
        d = jnp.asarray(delay, jnp.float32)
        if d.ndim and d.shape != tuple(shape):
            raise ValueError(f"{name} must be one number or have shape {tuple(shape)} (one delay per synapse), got shape {d.shape}")
    steps, bad, largest = _round_delays(d, jnp.float32(dt), mask)
    if bool(bad):
        lo = float(jnp.min(jnp.where(mask, d, jnp.inf)))
        raise ValueError(f"{name} must hold finite delays >= 0 ms, got NaN, inf or negative values (min {lo:.4g})")
    largest = int(largest)
    return steps.astype(delay_dtype(largest)), largest


@jax.jit
def _round_chunk(d, dt):
    return jnp.floor(d / dt + 0.5).astype(jnp.int32)  # NEST's ld_round, as below


@jax.jit
def _round_delays(d, dt, mask):
    # To the nearest step, halves up: NEST's Time::delay_ms_to_steps (ld_round = floor(x + ½)).
    steps = jnp.floor(d / dt + 0.5)
    bad = jnp.any(mask & ~(jnp.isfinite(d) & (d >= 0)))
    steps = jnp.where(mask & jnp.isfinite(steps), steps, 0.0)
    largest = jnp.max(steps) if steps.size else jnp.zeros((), steps.dtype)
    return steps.astype(jnp.int32), bad, largest


def _check_weight(weight, shape, name: str):
    w = jnp.asarray(weight, dtype=jnp.result_type(float))
    if w.ndim != 0 and w.shape != tuple(shape):
        raise ValueError(f"{name} must be a scalar or have shape {tuple(shape)}, got shape {w.shape}")
    if not isinstance(w, jax.core.Tracer) and not np.isfinite(np.asarray(w)).all():  # NumPy: no compilation
        raise ValueError(f"{name} contains NaN or inf")
    return w


def check_nonnegative_weights(conn: Connectivity, what: str) -> None:
    """Raise ValueError if any (concrete) weight of `conn` is negative."""
    w = conn.weight
    if isinstance(w, jax.core.Tracer):
        return
    w = np.asarray(conn.weights_full())
    if (w < 0).any():
        raise ValueError(
            f"{what}: weights must be >= 0 (a conductance cannot be negative; make a synapse "
            f"inhibitory through its reversal potential), got min weight {w.min():.4g}"
        )


# --------------------------------------------------------------------------- builders


def _ell_from_pairs(rows, cols, weight, n_rows: int, pad: int):
    """Pack (row, col, weight) triples into a padded (n_rows, K) table (on device).

    Entries with row >= n_rows are ignored (they are padding of the input). K is the
    largest row count (at least 1), read back to the host once.
    """
    rows = jnp.asarray(rows, jnp.int32)
    cols = jnp.asarray(cols, jnp.int32)
    per_synapse = jnp.ndim(weight) > 0
    weight = jnp.asarray(weight)
    rows, cols, weight, slot, counts = _sort_pairs(rows, cols, weight, n_rows, per_synapse)
    k = max(1, int(jnp.max(counts)))
    return _scatter_pairs(rows, cols, weight, slot, n_rows, pad, k, per_synapse)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _sort_pairs(rows, cols, weight, n_rows, per_synapse):
    if per_synapse:
        rows, cols, weight = jax.lax.sort((rows, cols, weight), num_keys=1)
    else:
        rows, cols = jax.lax.sort((rows, cols), num_keys=1)
    counts = jnp.zeros((n_rows + 1,), jnp.int32).at[rows].add(1, mode="drop")[:n_rows]
    starts = jnp.cumsum(counts) - counts
    slot = jnp.arange(rows.shape[0], dtype=jnp.int32) - starts[jnp.minimum(rows, n_rows - 1)]
    return rows, cols, weight, slot, counts


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _scatter_pairs(rows, cols, weight, slot, n_rows, pad, k, per_synapse):
    r = jnp.where(rows < n_rows, rows, n_rows)  # out of range -> dropped
    table = jnp.full((n_rows, k), pad, jnp.int32).at[r, slot].set(cols, mode="drop")
    if per_synapse:
        weight = jnp.zeros((n_rows, k), weight.dtype).at[r, slot].set(weight, mode="drop")
    return table, weight


def _finish(key, post_idx, n_pre: int, n_post: int, weight, delay, dt) -> Connectivity:
    """The table with its weights (one number, or drawn with fold_in(key, 1)) and delays
    (None, or rounded to steps of dt, drawn with fold_in(key, 2)). The structure uses
    `key` itself, so adding a weight or delay distribution keeps the same synapses.

    `Normal` and `Uniform` draws run in fixed-size chunks (compiled once for every table)
    written into host buffers, so building many projections compiles nothing new."""
    post_np = np.asarray(post_idx)
    mask = post_np < n_post
    shape = post_np.shape
    w_key = None if key is None else jax.random.fold_in(key, 1)
    if isinstance(weight, (Normal, Uniform)) and key is not None:
        w = np.zeros(shape, np.float32)
        _fill(w, weight.chunks(w_key, w.size))
        w[~mask] = 0.0
        w = jnp.asarray(w)
    else:
        w = _weights(w_key, weight, shape, jnp.asarray(mask))
    if delay is None:
        return Connectivity(jnp.asarray(post_np), w, n_pre, n_post)
    d_key = None if key is None else jax.random.fold_in(key, 2)
    if isinstance(delay, (Normal, Uniform)) and key is not None:
        _check_delay_sampler(delay, "delay")
        steps = np.zeros(shape, np.int32)
        dt32 = jnp.float32(_check_dt(dt))
        _fill(steps, (_round_chunk(c, dt32) for c in delay.chunks(d_key, steps.size)))
        steps[~mask] = 0
        max_delay = int(steps.max()) if steps.size else 0
        steps = jnp.asarray(steps.astype(delay_dtype(max_delay)))
    else:
        steps, max_delay = _delay_steps(d_key, delay, dt, shape, jnp.asarray(mask), "delay")
    return Connectivity(jnp.asarray(post_np), w, n_pre, n_post, steps, dt=dt, max_delay=max_delay)


def _fill(buffer: np.ndarray, chunks) -> None:
    """Copy device chunks one after the other into a host buffer (the last one cut)."""
    flat = buffer.reshape(-1)
    pos = 0
    for c in chunks:
        c = np.asarray(c)
        m = min(c.size, flat.size - pos)
        flat[pos : pos + m] = c[:m]
        pos += m


def _check_specs(weight, delay, dt) -> None:
    """Early checks of a builder's weight/delay arguments (before any work)."""
    if not _is_sampler(weight):
        _check_weight(weight, (), "weight")
    if delay is None:
        if dt is not None:
            raise ValueError("dt is the step that per-synapse delays are rounded to: give it together with delay")
        return
    _check_dt(dt)
    if _is_sampler(delay):
        _check_delay_sampler(delay, "delay")
    elif np.ndim(delay) == 0:
        d = float(delay)
        if not (math.isfinite(d) and d >= 0):
            raise ValueError(f"delay must be a finite number of ms >= 0, got {delay!r}")


def _empty(n_pre: int, n_post: int, weight, delay, dt) -> Connectivity:
    return _finish(jax.random.key(0), jnp.full((n_pre, 1), n_post, jnp.int32), n_pre, n_post, weight, delay, dt)


def fixed_probability(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    p: float,
    weight=1.0,
    *,
    allow_self: bool = True,
    delay=None,
    dt: float | None = None,
) -> Connectivity:
    """Each (pre, post) pair is connected independently with probability `p`.

    NEST `pairwise_bernoulli`, Brian2 `Synapses.connect(p=...)`. Sampled row by row as a
    Bernoulli process: the gaps between successive targets are
    geometric, G = 1 + ⌊ln U / ln(1 − p)⌋ with U ~ U(0, 1] (Devroye 1986, "Non-Uniform
    Random Variate Generation", ch. X.2; the method of Batagelj & Brandes 2005 for G(n, p)),
    so the cost is O(synapses), not O(n_pre·n_post). The in-degree is Binomial(n_pre, p)
    (mean n_pre·p, variance n_pre·p(1 − p)); there are no duplicates (one trial per pair,
    so there is no multapse flag). The table width is
    n_post·p + 8σ + 8; a row that would need more is redrawn with a wider table (never
    truncated).

    Arguments:
        key: PRNG key.
        n_pre, n_post: population sizes.
        p: connection probability in [0, 1].
        weight: one weight shared by all synapses, or a distribution drawn per synapse
            (see the module docstring).
        allow_self: allow i → i (see module docstring); False needs n_pre == n_post.
        delay, dt: per-synapse delays (ms) and the step they are rounded to (see the
            module docstring); None: the projection's one delay.
    """
    n_pre = check_int("n_pre", n_pre, lower=1)
    n_post = check_int("n_post", n_post, lower=1)
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"p must be a probability in [0, 1], got p={p}")
    _check_self(allow_self, n_pre, n_post)
    _check_specs(weight, delay, dt)
    n_cand = n_post if allow_self else n_post - 1
    if p == 0.0 or n_cand == 0:
        return _empty(n_pre, n_post, weight, delay, dt)
    mean, sd = n_cand * p, math.sqrt(n_cand * p * (1 - p))
    k = min(n_cand, int(math.ceil(mean + 8 * sd + 8)))
    if k * (n_cand + 1) >= 2**31:
        raise ValueError(f"n_post={n_post} with p={p} is too large for 32-bit indices")
    while True:
        post_idx, full = _bernoulli_rows(key, n_pre, n_cand, jnp.float32(p), k)
        if k >= n_cand or not bool(full):
            break
        k = min(n_cand, 2 * k)  # astronomically rare: redraw wider, never truncate
    if not allow_self:
        rows = jnp.arange(n_pre, dtype=jnp.int32)[:, None]
        post_idx = jnp.where(post_idx < n_cand, post_idx + (post_idx >= rows), n_post)
    else:
        post_idx = jnp.where(post_idx < n_cand, post_idx, n_post)
    # Targets are sorted, so padding is at the end of each row: trim to the widest row.
    width = max(1, int(jnp.max(jnp.sum(post_idx < n_post, axis=1))))
    return _finish(key, post_idx[:, :width], n_pre, n_post, weight, delay, dt)


@functools.partial(jax.jit, static_argnums=(1, 2, 4))
def _bernoulli_rows(key, n_pre, n_cand, p, k):
    u = 1.0 - jax.random.uniform(key, (n_pre, k))  # (0, 1]
    log_q = jnp.log1p(-p)
    g = jnp.floor(jnp.log(u) / jnp.where(p < 1.0, log_q, -1.0)) + 1.0
    g = jnp.where(p < 1.0, g, 1.0)  # p = 1: every candidate, gaps of 1
    gaps = jnp.clip(g, 1.0, n_cand + 1.0).astype(jnp.int32)
    pos = jnp.cumsum(gaps, axis=1) - 1
    # A row is "full" if its K-th target still lies inside: it might have had more.
    full = jnp.any(pos[:, -1] < n_cand)
    return pos, full


def _distinct_rows(key, n_rows: int, n_cand: int, k: int) -> Int[Array, "rows k"]:
    """k distinct integers in [0, n_cand) per row, uniformly over k-subsets, sorted.

    Draw with replacement, then redraw the repeats until none are left: each redraw is
    uniform on the values not yet taken, which is sequential sampling without
    replacement. Expected redraws per row ≈ k²/(2 n_cand), so this is fast for k ≪ n.
    """

    def dups(c):
        c = jnp.sort(c, axis=1)
        rep = jnp.concatenate([jnp.zeros((n_rows, 1), bool), c[:, 1:] == c[:, :-1]], axis=1)
        return c, rep

    def cond(state):
        _, rep, _ = state
        return jnp.any(rep)

    def body(state):
        c, rep, key = state
        key, sub = jax.random.split(key)
        c = jnp.where(rep, jax.random.randint(sub, c.shape, 0, n_cand, jnp.int32), c)
        c, rep = dups(c)
        return c, rep, key

    key, sub = jax.random.split(key)
    c, rep = dups(jax.random.randint(sub, (n_rows, k), 0, n_cand, jnp.int32))
    c, _, _ = jax.lax.while_loop(cond, body, (c, rep, key))
    return c


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _fixed_degree_rows(key, n_rows, n_cols, k, allow_self, allow_duplicates):
    n_cand = n_cols if allow_self else n_cols - 1
    if allow_duplicates:
        c = jnp.sort(jax.random.randint(key, (n_rows, k), 0, n_cand, jnp.int32), axis=1)
    else:
        c = _distinct_rows(key, n_rows, n_cand, k)
    if not allow_self:
        c = c + (c >= jnp.arange(n_rows, dtype=jnp.int32)[:, None])
    return c


def _check_degree(k, n_cand: int, allow_duplicates: bool, what: str) -> int:
    k = check_int(what, k, lower=0)
    if not allow_duplicates and k > n_cand:
        raise ValueError(
            f"{what}={k} exceeds the {n_cand} distinct candidates (allow_duplicates=False)"
        )
    if allow_duplicates and k > 0 and n_cand < 1:
        raise ValueError(f"{what}={k} but there are no candidates to connect to")
    return int(k)


def _fixed_degree_args(n_pre, n_post, k, weight, allow_self, allow_duplicates, side: str, delay, dt):
    """Checked (n_pre, n_post, k) of a fixed in/out-degree builder, and the empty table
    when k = 0 (else None)."""
    n_pre = check_int("n_pre", n_pre, lower=1)
    n_post = check_int("n_post", n_post, lower=1)
    _check_self(allow_self, n_pre, n_post)
    n_cand = (n_post if side == "out" else n_pre) - (not allow_self)
    k = _check_degree(k, n_cand, allow_duplicates, f"k ({side}-degree)")
    _check_specs(weight, delay, dt)
    empty = _empty(n_pre, n_post, weight, delay, dt) if k == 0 else None
    return n_pre, n_post, k, empty


def fixed_out_degree(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    k: int,
    weight=1.0,
    *,
    allow_self: bool = True,
    allow_duplicates: bool = False,
    delay=None,
    dt: float | None = None,
) -> Connectivity:
    """Every presynaptic neuron connects to exactly `k` postsynaptic neurons.

    NEST `fixed_outdegree` (`allow_multapses` = `allow_duplicates`). Targets are uniform
    over k-subsets of the candidates (without replacement unless `allow_duplicates`); the
    in-degree is then Binomial(n_pre, k/n_post) in the with-replacement case and
    hypergeometric-like otherwise (mean n_pre·k/n_post). `weight`, `delay`, `dt`: as in
    `fixed_probability`.
    """
    n_pre, n_post, k, empty = _fixed_degree_args(
        n_pre, n_post, k, weight, allow_self, allow_duplicates, "out", delay, dt
    )
    if empty is not None:
        return empty
    post_idx = _fixed_degree_rows(key, n_pre, n_post, k, allow_self, allow_duplicates)
    return _finish(key, post_idx, n_pre, n_post, weight, delay, dt)


def fixed_in_degree(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    k: int,
    weight=1.0,
    *,
    allow_self: bool = True,
    allow_duplicates: bool = False,
    delay=None,
    dt: float | None = None,
) -> Connectivity:
    """Every postsynaptic neuron receives exactly `k` synapses (sources drawn uniformly).

    NEST `fixed_indegree`, Brian2-style `connect(j='k for k in sample(...)')`. Drawn as an
    in-degree table on the device, then transposed to the out-degree layout; the
    out-degree varies (mean n_post·k/n_pre) and sets the table width. `weight`, `delay`,
    `dt`: as in `fixed_probability`.
    """
    n_pre, n_post, k, empty = _fixed_degree_args(
        n_pre, n_post, k, weight, allow_self, allow_duplicates, "in", delay, dt
    )
    if empty is not None:
        return empty
    pre_idx = _fixed_degree_rows(key, n_post, n_pre, k, allow_self, allow_duplicates)
    post = jnp.broadcast_to(jnp.arange(n_post, dtype=jnp.int32)[:, None], pre_idx.shape)
    post_idx, _ = _ell_from_pairs(pre_idx.ravel(), post.ravel(), 1.0, n_pre, n_post)
    return _finish(key, post_idx, n_pre, n_post, weight, delay, dt)


def fixed_total_number(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    n: int,
    weight=1.0,
    *,
    allow_self: bool = True,
    allow_duplicates: bool = True,
    delay=None,
    dt: float | None = None,
) -> Connectivity:
    """Exactly `n` synapses, drawn uniformly over the (pre, post) pairs.

    NEST `fixed_total_number` (`N` = n, `allow_autapses` = allow_self, `allow_multapses` =
    allow_duplicates; the Potjans & Diesmann 2014 microcircuit is built with it, autapses
    and multapses allowed).

    With duplicates allowed the n synapses are independent uniform pairs. They are drawn
    without a sort: the out-degrees (c_1 … c_{n_pre}) ~ Multinomial(n; 1/n_pre, …), drawn
    as the histogram of n uniform presynaptic indices, then each row gets c_i targets uniform over
    the candidates (given the counts, the targets of iid pairs are iid uniform). The table
    width is K = max c_i: with mean out-degree μ = n/n_pre the padding is
    (K − μ)/μ ≈ 4/√μ (about 8 % for μ ≈ 2 200, the largest PD14 projections).
    Without duplicates the synapses are a uniform n-subset of the pairs (distinct pair
    ids drawn with redraws, or a permutation when n is over a quarter of the pairs);
    this needs n_pre·n_post < 2³¹.

    Arguments:
        key: PRNG key.
        n_pre, n_post: population sizes.
        n: number of synapses, >= 0; at most n_pre·n_post (n_pre·(n_post − 1) without
            self connections) when duplicates are not allowed.
        weight, delay, dt: as in `fixed_probability`.
        allow_self: allow i → i (False needs n_pre == n_post).
        allow_duplicates: allow several synapses for one pair (NEST's default: True).
    """
    n_pre = check_int("n_pre", n_pre, lower=1)
    n_post = check_int("n_post", n_post, lower=1)
    _check_self(allow_self, n_pre, n_post)
    n_cand = n_post - (not allow_self)
    pairs = n_pre * n_cand
    n = check_int("n (total number of synapses)", n, lower=0)
    if not allow_duplicates and n > pairs:
        raise ValueError(
            f"n={n} exceeds the {pairs} distinct (pre, post) pairs (n_pre={n_pre} × "
            f"{n_cand} candidates{'' if allow_self else ', no self connections'}) with "
            f"allow_duplicates=False: allowed range is 0 <= n <= {pairs}"
        )
    if n > 0 and n_cand == 0:
        raise ValueError(f"n={n} but there are no (pre, post) pairs to connect (n_post=1 without self connections)")
    _check_specs(weight, delay, dt)
    if n == 0:
        return _empty(n_pre, n_post, weight, delay, dt)
    if allow_duplicates:
        counts = _multinomial_counts(key, n, n_pre)
        k = max(1, int(counts.max()))
        post_idx = _rows_with_counts(jax.random.fold_in(key, 3), counts, n_post, k, allow_self)
        return _finish(key, post_idx, n_pre, n_post, weight, delay, dt)
    if pairs >= 2**31:
        raise ValueError(
            f"fixed_total_number without duplicates needs n_pre·n_post < 2³¹ (32-bit pair ids), "
            f"got {pairs}; use allow_duplicates=True (NEST's default)"
        )
    ids = _distinct_ids(key, n, pairs)
    pre, post = ids // n_cand, ids % n_cand
    if not allow_self:
        post = post + (post >= pre)
    post_idx, _ = _ell_from_pairs(pre, post, 1.0, n_pre, n_post)
    return _finish(key, post_idx, n_pre, n_post, weight, delay, dt)




# --------------------------------------------------------------------------- several target blocks

BLOCK_CHUNK = 2**21  # synapses per unit of work (rows of one piece): ≈ 60 B of temporaries each, per thread
TILES = 64  # the draw's target tiles: its streams are keyed by them, never by a process's block


def tile_bounds(n_post: int, tiles: int = TILES) -> np.ndarray:
    """The edges ⌊g·n_post / tiles⌋ (g = 0 … tiles) of the equal target tiles that
    `fixed_total_number_blocks` keys its draws by ((tiles + 1,) int64; a tile may be empty
    when tiles > n_post)."""
    return np.arange(tiles + 1, dtype=np.int64) * n_post // tiles


def check_target_range(targets, n: int, bound: str) -> tuple[int, int]:
    """`targets` = (start, stop) of integers with 0 <= start < stop <= n, as ints ((0, n) for
    None); else a ValueError naming `targets` and the range (`bound` spells n in it)."""
    if targets is None:
        return 0, n
    ok = isinstance(targets, tuple) and len(targets) == 2 and all(
        isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in targets)
    if not ok or not 0 <= targets[0] < targets[1] <= n:
        raise ValueError(f"targets must be None or (start, stop) with 0 <= start < stop <= {bound}, got {targets!r}")
    return int(targets[0]), int(targets[1])


def fixed_total_number_blocks(
    key: PRNGKeyArray,
    n_pre: int,
    blocks: Sequence[tuple[int, int, int]],
    n_post: int,
    weights: Sequence[Normal | float],
    *,
    delay: Normal | float | None = None,
    dt: float | None = None,
    targets: tuple[int, int] | None = None,
    tiles: int = TILES,
    sort_targets: bool = False,
) -> Connectivity:
    """NEST `fixed_total_number` from one source population onto several target blocks, as one table.

    Block b is the `(n, first, size)` triple: `n` synapses with the pairs drawn uniformly
    (autapses and multapses allowed, NEST's defaults) from the `n_pre` sources onto targets
    `first … first + size − 1` of an `n_post`-neuron population (a `Projection` onto "all").
    This is how a model such as the Potjans & Diesmann (2014) microcircuit keeps one table
    per source population: the padding is set by the sum of the blocks' out-degrees, ≈ 4/√μ
    for a total mean out-degree μ, instead of each block's own.

    The draw is split by target so that one process can draw only the synapses onto its own
    neurons (`targets`) and still get exactly its part of the whole table. The targets
    [0, n_post) are cut into `tiles` equal tiles (`tile_bounds`); a *piece* is block b ∩
    tile g. Then, for n_b iid uniform pairs over n_pre × block b:
    1. the piece counts m_bg ~ Multinomial(n_b; |piece| / size_b) (from stream (0, b),
       a few numbers, drawn by every caller);
    2. each piece's out-degrees c_i ~ Multinomial(m_bg; 1/n_pre, …) (stream (3, b, g));
    3. each piece's targets iid uniform over the piece, weights and delays per synapse
       (streams (1, b, g, u) and (2, b, g, u), u a unit of rows of about `BLOCK_CHUNK`
       synapses).
    Given the counts, pairs of iid uniform draws are iid uniform within each piece, so this
    is exactly the law of n_b iid uniform pairs (NEST draws the same way across virtual
    processes: a multinomial split of N over the processes' targets, then each draws its
    share; `FixedTotalNumberBuilder`, NEST 3 `conn_builder.cpp`). Unlike NEST's, the split
    is over a fixed tile grid, not over the processes: the network depends on `key` and
    `tiles` only, so any number of processes (or one) builds the same network.

    Each row holds its synapses tile by tile, block by block within a tile, in draw order,
    padded to the largest row (the target `n_post`). With `targets=(start, stop)` only the
    pieces that meet [start, stop) are drawn (the ≤ 2 tiles cut by start or stop whole,
    then their synapses outside dropped), and the result is *bit for bit* the whole table
    restricted to those targets (`neurodyn.network.partition.restrict_targets(whole, start,
    stop)`: each row's synapses onto the block in the same order, the same weights and
    delays), except `max_delay`, which is the block's own largest delay.

    The random numbers come from NumPy's PCG64 seeded with `key`'s data
    (`numpy.random.SeedSequence`, one child stream per spawn key above), on every core
    (NumPy releases the GIL in these loops): the same `key` gives the same table on every
    backend, thread count and process count. Targets are exactly uniform (NumPy's bounded
    integers: Lemire's method with rejection); weights and delays are `Normal` draws (bounds
    "redraw" by rejection, as NEST's `redraw`; "clip" clipped), or one number.

    Arguments:
        key: PRNG key.
        n_pre: number of presynaptic neurons (rows).
        blocks: one `(n synapses >= 0, first target >= 0, size >= 1)` per block, each
            inside [0, n_post).
        n_post: number of postsynaptic neurons (the padding value of the table).
        weights: per block a `Normal` or a finite number (pA, nS, … as the receptor wants).
        delay: a `Normal` (bounded at >= 0) or a number of ms per synapse, with `dt`; None
            for the projection's one delay.
        dt: the step (ms) the delays are rounded to (nearest, halves up: NEST's
            `Time::delay_ms_to_steps`).
        targets: (start, stop), 0 <= start < stop <= n_post: draw only the synapses onto
            these targets (one process's block); None: all.
        tiles: the number of target tiles (>= 1) the draw is keyed by; part of the
            network's definition (default `TILES` = 64: cut tiles cost at most 2/64 of the
            synapses in extra draws per block of targets).
        sort_targets: sort each row's targets in ascending order (the blocks must then be
            disjoint and given in ascending target order, so that every block's synapses
            stay in the block's entries). The targets of a (row, block) pair are iid
            uniform and its weights and delays iid and drawn independently of them, so
            sorting the targets in place is the same law; it is another realisation than
            the unsorted table's. The sort runs within each (row, tile piece) of the draw,
            before `targets` cuts a piece, so a block drawn alone is still the whole
            table's restriction bit for bit. Sorted rows let the compiled delayed delivery split a
            step's synapses over several threads (`deliver_delayed(threads=...)`) and make
            its ring writes ascend within each row. Costs ≈ 10 ns per synapse (NumPy's row
            sort, on every core).

    Returns:
        A `Connectivity` (int32 targets, float32 weights, delays in the smallest dtype).
    """
    n_pre = check_int("n_pre", n_pre, lower=1)
    n_post = check_int("n_post", n_post, lower=1)
    checked = []
    for i, b in enumerate(blocks):
        if len(b) != 3:
            raise ValueError(f"blocks[{i}] must be (n synapses, first target, size), got {b!r}")
        n, first, size = (check_int(f"blocks[{i}][{j}]", v, lower=lo) for j, (v, lo) in enumerate(zip(b, (0, 0, 1))))
        if first + size > n_post:
            raise ValueError(f"blocks[{i}] targets {first}…{first + size - 1}, outside [0, {n_post - 1}] (n_post={n_post})")
        checked.append((n, first, size))
    if not checked:
        raise ValueError("blocks must hold at least one (n, first, size) triple")
    blocks = checked
    if not isinstance(sort_targets, (bool, np.bool_)):
        raise TypeError(f"sort_targets must be True or False, got {sort_targets!r}")
    if sort_targets and any(a[1] + a[2] > b[1] for a, b in zip(blocks, blocks[1:])):
        raise ValueError(
            "sort_targets=True needs disjoint blocks in ascending target order (first + size <= the next "
            f"block's first), got blocks {[(f, f + z) for _, f, z in blocks]} as [first, stop) target ranges"
        )
    if len(weights) != len(blocks):
        raise ValueError(f"weights needs one entry per block ({len(blocks)}), got {len(weights)}")
    for i, w in enumerate(weights):
        if not isinstance(w, Normal):
            _check_weight(w, (), f"weights[{i}]")
    if delay is not None and not isinstance(delay, Normal):
        _check_specs(1.0, delay, dt)
    elif delay is not None:
        _check_dt(dt)
        _check_delay_sampler(delay, "delay")
    elif dt is not None:
        raise ValueError("dt is the step that per-synapse delays are rounded to: give it together with delay")
    tiles = check_int("tiles", tiles, lower=1)
    start, stop = check_target_range(targets, n_post, f"n_post = {n_post}")

    entropy = [int(w) for w in np.asarray(_key_data(key)).ravel()]

    def rng(*spawn_key):
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=spawn_key)))

    # 1. the pieces (tile g, block b, lo, hi, m_bg) in row order; every caller draws all m_bg
    edges = tile_bounds(n_post, tiles)
    pieces = []
    for b, (n, first, size) in enumerate(blocks):
        lo, hi = np.maximum(edges[:-1], first), np.minimum(edges[1:], first + size)
        (gs,) = np.nonzero(hi > lo)
        m = rng(0, b).multinomial(n, (hi - lo)[gs] / size) if n else np.zeros(gs.size, np.int64)
        pieces += [(int(g), b, int(lo[g]), int(hi[g]), int(mg)) for g, mg in zip(gs, m)]
    pieces.sort()
    mine = [p for p in pieces if p[4] and p[3] > start and p[2] < stop]
    uniform_rows = np.full(n_pre, 1.0 / n_pre)

    def units(p):  # (piece, u, r0, r1): rows of about BLOCK_CHUNK synapses, set by m_bg alone
        rows = max(1, BLOCK_CHUNK * n_pre // mine[p][4])
        return [(p, u, r0, min(n_pre, r0 + rows)) for u, r0 in enumerate(range(0, n_pre, rows))]

    def draw(w, what: str):
        """Unit w's draws, all of them in their order: targets (then weights) from stream
        (1, b, g, u), or delays from (2, b, g, u)."""
        p, u, r0, r1 = w
        g, b, lo, hi, _ = mine[p]
        m = int(drawn[p][r0:r1].sum())
        if what == "delays":
            return _normal_np(rng(2, b, g, u), delay, m)
        gen = rng(1, b, g, u)
        t = gen.integers(lo, hi, m, dtype=np.int32)
        if sort_targets:  # each row's segment ascending; weights and delays keep their entries
            row = np.repeat(np.arange(r1 - r0, dtype=np.int64), drawn[p][r0:r1]) * (hi - lo)
            t = (np.sort(row + (t - lo)) - row + lo).astype(np.int32)
        return t if what == "targets" else (t, _normal_np(gen, weights[b], m))

    def inside(w):  # a cut piece: which of unit w's synapses lie in [start, stop), and per row
        p, _, r0, r1 = w
        t = draw(w, "targets")
        keep = (t >= start) & (t < stop)
        rows = np.repeat(np.arange(r1 - r0), drawn[p][r0:r1])
        return keep, np.bincount(rows[keep], minlength=r1 - r0)

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        # 2. out-degrees per piece (`drawn`), and those onto [start, stop) (`held`: the same
        # for a piece inside, from its targets for a piece cut by start or stop)
        drawn = list(pool.map(lambda piece: rng(3, piece[1], piece[0]).multinomial(piece[4], uniform_rows), mine))
        work = [w for p in range(len(mine)) for w in units(p)]
        cut = [w for w in work if mine[w[0]][2] < start or mine[w[0]][3] > stop]
        held = list(drawn)
        keep = {}
        for w, (k_w, c_w) in zip(cut, pool.map(inside, cut)):
            p, _, r0, r1 = w
            if held[p] is drawn[p]:
                held[p] = drawn[p].copy()
            held[p][r0:r1] = c_w
            keep[w] = k_w
        total = np.sum(held, axis=0) if held else np.zeros(n_pre, np.int64)
        k = max(1, int(total.max()))
        # where each piece's synapses of row i start in the row (tile by tile, block by block)
        first_col = np.cumsum([np.zeros(n_pre, np.int64)] + held[:-1], axis=0) if held else []
        post = _aligned_full((n_pre, k), np.int32, n_post)
        weight = _aligned_full((n_pre, k), np.float32, 0)

        def slots(w):
            """Flat table positions of unit w's kept synapses, in draw order."""
            p, _, r0, r1 = w
            c = held[p][r0:r1]
            start_in_draw = np.cumsum(c) - c
            base = np.arange(r0, r1, dtype=np.int64) * k + first_col[p][r0:r1] - start_in_draw
            return np.repeat(base, c) + np.arange(int(c.sum()), dtype=np.int64)

        def fill(w):
            t, x = draw(w, "weights")
            if w in keep:
                t, x = t[keep[w]], x[keep[w]]
            at = slots(w)
            post.reshape(-1)[at] = t
            weight.reshape(-1)[at] = x

        def delays(w, table):
            d = draw(w, "delays")
            if w in keep:
                d = d[keep[w]]
            steps = np.floor(d / np.float32(dt) + np.float32(0.5)).astype(np.int32)  # as _round_chunk
            largest = int(steps.max()) if steps.size else 0
            if largest <= np.iinfo(table.dtype).max:
                table.reshape(-1)[slots(w)] = steps
            return largest

        list(pool.map(fill, work))
        # device_put of 64-byte aligned buffers: on a CPU the arrays share them (no copy)
        if delay is None:
            return Connectivity(jax.device_put(post), jax.device_put(weight), n_pre, n_post)
        steps = _aligned_full((n_pre, k), np.uint8, 0)
        max_delay = max([0, *pool.map(lambda w: delays(w, steps), work)])
        if steps.dtype != delay_dtype(max_delay):  # past 255 steps: the same draws, into a wider table
            steps = _aligned_full((n_pre, k), delay_dtype(max_delay), 0)
            list(pool.map(lambda w: delays(w, steps), work))
    return Connectivity(jax.device_put(post), jax.device_put(weight), n_pre, n_post, jax.device_put(steps), dt=dt,
                        max_delay=max_delay)


def _aligned_full(shape: tuple[int, ...], dtype, value) -> np.ndarray:
    """A NumPy array filled with `value` on a 64-byte boundary, which XLA's CPU client
    takes without copying (`jax.device_put`); NumPy's own allocations are 16-byte aligned."""
    size = math.prod(shape) * np.dtype(dtype).itemsize
    raw = np.empty(size + 64, np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start : start + size].view(dtype).reshape(shape)
    out.fill(value)
    return out


def _key_data(key):
    """The raw words of a PRNG key (new-style typed key or legacy uint32 key)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    return key


def _standard_normal_np(rng: np.random.Generator, n: int | np.integer) -> np.ndarray:
    """n float32 standard normals by Box–Muller on float32 uniforms: √(−2 ln(1 − u₁))·(cos, sin)(2π u₂).
    Twice as fast here as NumPy's float32 ziggurat (≈ 4 against ≈ 9 ns per draw); the tail
    ends at √(−2 ln 2⁻²⁴) ≈ 5.8 SD, as `jax.random.normal`'s (≈ 5.3 SD) does."""
    m = (n + 1) // 2
    u = rng.random(2 * m, dtype=np.float32)
    r = np.sqrt(np.float32(-2.0) * np.log1p(-u[:m]))
    theta = np.float32(2.0 * np.pi) * u[m:]
    return np.concatenate([r * np.cos(theta), r * np.sin(theta)])[:n]


def _normal_np(rng: np.random.Generator, dist: Normal | float, n: int | np.integer) -> np.ndarray:
    """n float32 draws of `dist` (a `Normal`, or one number) from a NumPy generator: NEST's
    `redraw` by rejection while at least a quarter of the mass lies inside the bounds,
    else the inverse-CDF draw of `Normal` itself (on the device, keyed from `rng`)."""
    if not isinstance(dist, Normal):
        return np.full(n, dist, np.float32)
    lo, hi = dist.low, dist.high
    mean, std = np.float32(dist.mean), np.float32(dist.std)
    x = mean + std * _standard_normal_np(rng, n)
    if dist.bounds == "clip" or dist.std == 0:
        return np.clip(x, np.float32(lo), np.float32(hi))
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return x
    root2 = dist.std * math.sqrt(2.0)
    inside = 0.5 * (math.erfc(-(hi - dist.mean) / root2) - math.erfc(-(lo - dist.mean) / root2))
    if inside < 0.25:
        return np.asarray(dist(jax.random.key(int(rng.integers(2**63))), (int(n),)), np.float32)
    bad = np.flatnonzero((x < lo) | (x > hi))
    while bad.size:
        y = mean + std * _standard_normal_np(rng, bad.size)
        x[bad] = y
        bad = bad[(y < lo) | (y > hi)]
    return x


def _uniform_index(key, shape, n):
    """Integers uniform on [0, n) from one 32-bit word each: Lemire's multiply-shift with
    rejection (Lemire 2019, "Fast random integer generation in an interval", ACM TOMACS
    29:3). Returns (index, rejected); a rejected entry (probability (2³² mod n) / 2³² <
    n / 2³²) must be redrawn for exact uniformity. `jax.random.randint` spends two words
    per value; at 3·10⁸ synapses the words are most of the build time. `n` may be traced.
    """
    x = jax.random.bits(key, shape, jnp.uint32)
    nn = jnp.asarray(n, jnp.uint32)
    x_hi, x_lo = x >> 16, x & 0xFFFF
    n_hi, n_lo = nn >> 16, nn & 0xFFFF
    ll, lh, hl = x_lo * n_lo, x_lo * n_hi, x_hi * n_lo
    mid = (ll >> 16) + (lh & 0xFFFF) + (hl & 0xFFFF)
    hi = x_hi * n_hi + (lh >> 16) + (hl >> 16) + (mid >> 16)  # ⌊x·n / 2³²⌋
    # 2³² mod n, in uint32: (2³² − n) mod n
    rejected = x * nn < (jnp.uint32(0) - nn) % nn  # the low word of x·n, mod 2³²
    return hi.astype(jnp.int32), rejected


_REDRAWS = 64  # rejected entries redrawn per pass inside a chunk


@functools.partial(jax.jit, static_argnums=(3,))
def _index_chunk(key, i, n, size: int):
    """One chunk of exactly uniform integers in [0, n): `_uniform_index`, then rejected
    entries (a handful per 10⁶ at n ≈ 2·10⁴) located `_REDRAWS` at a time and redrawn
    until none is left: each entry is its first accepted draw. `n` is traced, so one
    compilation serves every table."""
    key = jax.random.fold_in(key, i)
    idx, rej = _uniform_index(key, (size,), n)

    def body(state):
        j, idx, rej = state
        (pos,) = jnp.nonzero(rej, size=_REDRAWS, fill_value=size)
        new, bad = _uniform_index(jax.random.fold_in(key, j), (_REDRAWS,), n)
        return j + 1, idx.at[pos].set(new, mode="drop"), rej.at[pos].set(bad, mode="drop")

    _, idx, _ = jax.lax.while_loop(lambda s: jnp.any(s[2]), body, (jnp.int32(1), idx, rej))
    return idx


def _uniform_table(key, shape, n: int) -> np.ndarray:
    """A host int32 table of exactly uniform integers in [0, n), drawn in chunks."""
    out = np.empty(shape, np.int32)
    size = _chunk_size(out.size)
    _fill(out, (_index_chunk(key, i, n, size) for i in range(-(-out.size // size))))
    return out


def _multinomial_counts(key, n: int, n_rows: int) -> np.ndarray:
    """Multinomial(n; 1/n_rows, …) row counts: the histogram of n exactly uniform row
    indices, drawn in chunks (O(n) work, O(chunk) memory)."""
    size = _chunk_size(n)
    total = np.zeros(n_rows, np.int64)
    for i in range(-(-n // size)):
        m = min(size, n - i * size)
        total += np.bincount(np.asarray(_index_chunk(key, i, n_rows, size))[:m], minlength=n_rows)
    return total


def _rows_with_counts(key, counts, n_post: int, k: int, allow_self: bool) -> np.ndarray:
    """(n_rows, k) targets: row i holds counts[i] uniform candidates, then padding n_post."""
    n_rows = counts.shape[0]
    post = _uniform_table(key, (n_rows, k), n_post - (not allow_self))
    if not allow_self:
        post += post >= np.arange(n_rows, dtype=np.int32)[:, None]
    post[np.arange(k)[None, :] >= np.asarray(counts)[:, None]] = n_post
    return post


@functools.partial(jax.jit, static_argnums=(1, 2))
def _distinct_ids(key, n: int, total: int) -> Int[Array, " n"]:
    """n distinct integers in [0, total), uniform over n-subsets, sorted."""
    if 4 * n >= total:
        return jnp.sort(jax.random.permutation(key, total)[:n].astype(jnp.int32))
    return _distinct_rows(key, 1, total, n)[0]


def one_to_one(
    n: int,
    weight=1.0,
    *,
    key: PRNGKeyArray | None = None,
    allow_self: bool = True,
    delay=None,
    dt: float | None = None,
) -> Connectivity:
    """Neuron i → neuron i for i < n (NEST `one_to_one`, Brian2 `connect(j='i')`).

    Pre and post have the same size n. Every synapse is i → i, so `allow_self=False`
    (meaning pre and post are one population, see the module docstring) would leave
    nothing and is refused. `key` is needed only to draw weight or delay distributions.
    """
    n = check_int("n", n, lower=1)
    if not allow_self:
        raise ValueError(
            "one_to_one with allow_self=False would connect nothing: every synapse i -> i is a "
            "self connection when pre and post are one population"
        )
    _check_specs(weight, delay, dt)
    post_idx = jnp.arange(n, dtype=jnp.int32)[:, None]
    return _finish(key, post_idx, n, n, weight, delay, dt)


def from_lists(
    pre: Int[ArrayLike, " synapses"] | Sequence[int],
    post: Int[ArrayLike, " synapses"] | Sequence[int],
    weight: Float[ArrayLike, "*synapses"] | Sequence[float] = 1.0,
    *,
    n_pre: int,
    n_post: int,
    allow_self: bool = True,
    allow_duplicates: bool = True,
    allow_negative: bool = True,
    delay: Float[ArrayLike, "*synapses"] | Sequence[float] | None = None,
    dt: float | None = None,
) -> Connectivity:
    """Explicit synapses: pre[s] → post[s] with weight[s] (or one scalar weight).

    Checked on the host: indices must lie in [0, n_pre) and [0, n_post); with
    `allow_self=False` no pre[s] == post[s]; with `allow_duplicates=False` no repeated
    (pre, post) pair; with `allow_negative=False` no weight < 0. Duplicates that are
    allowed are kept as separate synapses (their effects add). `delay` (ms): one number
    or one per synapse, rounded to the nearest step of `dt` (halves up, as NEST).
    """
    n_pre = check_int("n_pre", n_pre, lower=1)
    n_post = check_int("n_post", n_post, lower=1)
    pre_np, post_np = np.asarray(pre), np.asarray(post)
    for name, arr, n in (("pre", pre_np, n_pre), ("post", post_np, n_post)):
        if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
            raise ValueError(f"{name} must be a 1-D array of integer indices, got {arr.dtype} shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            bad = arr[(arr < 0) | (arr >= n)]
            raise ValueError(
                f"{name} indices must lie in [0, {n - 1}] (n_{name}={n}), got {bad[:3].tolist()}"
                f"{' ...' if bad.size > 3 else ''} ({bad.size} out of range)"
            )
    if pre_np.shape != post_np.shape:
        raise ValueError(f"pre and post must have the same length, got {pre_np.size} and {post_np.size}")
    w_np = np.asarray(weight, dtype=float)
    if w_np.ndim and w_np.shape != pre_np.shape:
        raise ValueError(f"weight must be a scalar or have one value per synapse ({pre_np.size}), got shape {w_np.shape}")
    if not np.all(np.isfinite(w_np)):
        raise ValueError("weight contains NaN or inf")
    if not allow_negative and (w_np < 0).any():
        raise ValueError(f"weight must be >= 0 here (allow_negative=False), got min {w_np.min():.4g}")
    if delay is not None:
        dt = _check_dt(dt)
        d_np = np.asarray(delay, dtype=float)
        if d_np.ndim and d_np.shape != pre_np.shape:
            raise ValueError(f"delay must be a scalar or have one value per synapse ({pre_np.size}), got shape {d_np.shape}")
        if not np.all(np.isfinite(d_np) & (d_np >= 0)):
            raise ValueError(f"delay must hold finite delays >= 0 ms, got min {np.nanmin(d_np) if d_np.size else 0!r} (or NaN/inf)")
        d_np = np.broadcast_to(np.floor(d_np / dt + 0.5), pre_np.shape)  # NEST's ld_round
    elif dt is not None:
        raise ValueError("dt is the step that per-synapse delays are rounded to: give it together with delay")
    if not allow_self:
        _check_self(allow_self, n_pre, n_post)
        if (pre_np == post_np).any():
            s = int(np.argmax(pre_np == post_np))
            raise ValueError(f"self connection {pre_np[s]} -> {post_np[s]} at position {s} but allow_self=False")
    if not allow_duplicates and pre_np.size:
        pair = pre_np.astype(np.int64) * n_post + post_np
        uniq, counts = np.unique(pair, return_counts=True)
        if (counts > 1).any():
            d = uniq[np.argmax(counts > 1)]
            raise ValueError(f"duplicate synapse {d // n_post} -> {d % n_post} but allow_duplicates=False")
    if pre_np.size == 0:
        empty = jnp.full((n_pre, 1), n_post, jnp.int32)
        if delay is None:
            return Connectivity(empty, jnp.asarray(w_np if not w_np.ndim else 0.0), n_pre, n_post)
        return Connectivity(empty, jnp.asarray(w_np if not w_np.ndim else 0.0), n_pre, n_post,
                            jnp.zeros((n_pre, 1), jnp.uint8), dt=dt, max_delay=0)
    w = jnp.asarray(w_np, dtype=jnp.result_type(float))
    if delay is None:
        post_idx, w_table = _ell_from_pairs(pre_np, post_np, w, n_pre, n_post)
        return Connectivity(post_idx, w_table, n_pre, n_post)
    # One sort carries each synapse's position, so weights and delays follow it.
    rows = jnp.asarray(pre_np, jnp.int32)
    rows, cols, order, slot, counts = _sort_pairs(rows, jnp.asarray(post_np, jnp.int32), jnp.arange(pre_np.size, dtype=jnp.int32), n_pre, True)
    k = max(1, int(jnp.max(counts)))
    post_idx, w_table = _scatter_pairs(rows, cols, w if w.ndim == 0 else w[order], slot, n_pre, n_post, k, w.ndim > 0)
    _, d_table = _scatter_pairs(rows, cols, jnp.asarray(d_np, jnp.int32)[order], slot, n_pre, n_post, k, True)
    max_delay = int(d_np.max())
    return Connectivity(post_idx, w_table, n_pre, n_post, d_table.astype(delay_dtype(max_delay)), dt=dt, max_delay=max_delay)


# --------------------------------------------------------------------------- memory


def expected_max_out_degree(n_synapses: int, n_pre: int) -> int:
    """The typical table width K of `fixed_total_number`: the median of the largest of
    n_pre out-degrees ~ Poisson(μ = n_synapses / n_pre) (the Binomial(n, 1/n_pre) limit):
    the smallest K with n_pre · P(X > K) <= ln 2, summed exactly in log space."""
    n_synapses, n_pre = int(n_synapses), check_int("n_pre", n_pre, lower=1)
    if n_synapses <= 0:
        return 1
    mu = n_synapses / n_pre
    # P(X > K) summed downward from far in the tail.
    hi = int(mu + 12 * math.sqrt(mu) + 30)
    tail, kk = 0.0, hi
    log_p = hi * math.log(mu) - mu - math.lgamma(hi + 1)
    while kk > 0:
        if n_pre * tail > math.log(2):
            return max(1, kk + 1)
        tail += math.exp(log_p)
        log_p += math.log(kk) - math.log(mu)  # pmf(kk - 1) from pmf(kk)
        kk -= 1
    return 1


def estimate_memory(
    n_synapses: int,
    n_pre: int,
    *,
    table_width: int | None = None,
    per_synapse_weight: bool = True,
    max_delay: int | None = None,
) -> dict:
    """Bytes a connectivity table will take, stated before building it.

    Arguments:
        n_synapses: number of synapses.
        n_pre: presynaptic population size (rows of the table).
        table_width: K, the largest out-degree; default: the expected K of
            `fixed_total_number` (`expected_max_out_degree`). For `fixed_out_degree` it is k.
        per_synapse_weight: weights drawn per synapse (4 bytes, float32) or one shared.
        max_delay: the largest delay in steps if delays are per synapse (1 byte below 256,
            2 below 2¹⁵, else 4), None if the projection has one delay.

    Returns:
        A dict: `table_width`, `padding` (table entries / synapses − 1), `bytes_per_entry`
        (index, weight, delay), `bytes_per_synapse` (entry bytes × padding factor),
        `table_bytes` (what the built `Connectivity` holds) and `build_peak_bytes` (the
        table plus the builder's temporaries: about 12 bytes per entry while the last
        distribution is drawn and its finiteness checked).
    """
    n_pre = check_int("n_pre", n_pre, lower=1)
    k = expected_max_out_degree(n_synapses, n_pre) if table_width is None else check_int("table_width", table_width, lower=1)
    entries = n_pre * k
    per_entry = {
        "index": 4,
        "weight": 4 if per_synapse_weight else 0,
        "delay": 0 if max_delay is None else jnp.dtype(delay_dtype(int(max_delay))).itemsize,
    }
    entry_bytes = sum(per_entry.values())
    table = entries * entry_bytes
    return {
        "n_synapses": int(n_synapses),
        "table_width": k,
        "padding": entries / max(1, n_synapses) - 1.0,
        "bytes_per_entry": per_entry,
        "bytes_per_synapse": entry_bytes * entries / max(1, n_synapses),
        "table_bytes": table,
        "build_peak_bytes": table + 12 * entries,
    }
