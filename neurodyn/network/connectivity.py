"""Sparse connectivity: who connects to whom, stored as a static-shape table.

A projection from `n_pre` to `n_post` neurons is stored as a fixed-width *out-degree
table* (the ELL layout, one row per presynaptic neuron):

    post_idx[i, k]   index of the k-th target of presynaptic neuron i, or n_post (padding)
    weight[i, k]     its weight, or one scalar weight shared by every synapse

Rows are padded to the largest out-degree K. This is the layout event-driven delivery
wants: when neuron i spikes, its row is added to the targets (cost O(K) per spike, never
O(n_pre·n_post) per step). `Connectivity.in_degree_table()` gives the transposed layout
(`pre_idx[j, k]`, one row per postsynaptic neuron) for gather-based delivery.

Every builder runs on the device with `jax.random` from an explicit key, so 10⁷ synapses
take seconds; only the table width K is brought to the host (a static shape).

Policy on self and duplicate connections (the same for every builder):
- A *self connection* (autapse) is a synapse i → i. It is only meaningful when the pre-
  and postsynaptic populations are the same population; `allow_self=False` forbids it and
  then requires n_pre == n_post. Default `allow_self=True`, as in Brian2's
  `Synapses.connect(p=...)` and NEST's `allow_autapses=True`, so benchmarks match them.
- A *duplicate* (multapse) is a second synapse for the same (pre, post) pair.
  `fixed_probability` never makes duplicates (one Bernoulli trial per pair).
  `fixed_in_degree` / `fixed_out_degree` draw without replacement unless
  `allow_duplicates=True` (NEST's `allow_multapses`). `from_lists` keeps the lists as
  given; with `allow_duplicates=False` it raises on a repeated pair rather than merging.
Nothing is ever silently dropped or merged.
"""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray


class Connectivity(eqx.Module):
    """Synapses from `n_pre` to `n_post` neurons as a padded out-degree table.

    Attributes:
        post_idx: (n_pre, K) target indices; entries equal to `n_post` are padding.
        weight: (n_pre, K) per-synapse weights, or a scalar shared by all synapses.
        n_pre, n_post: population sizes (static).
    """

    post_idx: Int[Array, "pre k"]
    weight: Float[Array, "pre k"] | Float[Array, ""]
    n_pre: int = eqx.field(static=True)
    n_post: int = eqx.field(static=True)

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

    def to_lists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(pre, post, weight) NumPy arrays of all synapses, sorted by pre (host side)."""
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
        """The transposed layout: (pre_idx[post, K_in], weight[post, K_in]); pad = n_pre."""
        mask = self.mask
        rows = jnp.broadcast_to(jnp.arange(self.n_pre)[:, None], mask.shape)
        pre = jnp.where(mask, rows, self.n_pre).ravel()
        post = jnp.where(mask, self.post_idx, self.n_post).ravel()
        table, weight = _ell_from_pairs(post, pre, self.weights_full().ravel(), self.n_post, self.n_pre)
        return table, weight

    def with_weight(self, weight: Float[ArrayLike, "..."]) -> "Connectivity":
        """The same synapses with a new weight (a scalar or a (n_pre, K) table)."""
        weight = _check_weight(weight, self.post_idx.shape, "weight")
        return Connectivity(self.post_idx, weight, self.n_pre, self.n_post)

    def padded(self, k: int) -> "Connectivity":
        """The same synapses in a table of width k >= K (e.g. to stack several networks
        drawn with different seeds into one batch for `jax.vmap`)."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < self.max_out_degree:
            raise ValueError(f"padded: k must be an integer >= the table width {self.max_out_degree}, got {k!r}")
        extra = int(k) - self.max_out_degree
        post_idx = jnp.pad(self.post_idx, ((0, 0), (0, extra)), constant_values=self.n_post)
        weight = self.weight if jnp.ndim(self.weight) == 0 else jnp.pad(self.weight, ((0, 0), (0, extra)))
        return Connectivity(post_idx, weight, self.n_pre, self.n_post)



# --------------------------------------------------------------------------- checks


def _check_size(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_self(allow_self: bool, n_pre: int, n_post: int) -> None:
    if not allow_self and n_pre != n_post:
        raise ValueError(
            f"allow_self=False only makes sense when pre and post are the same population "
            f"(n_pre == n_post), got n_pre={n_pre}, n_post={n_post}"
        )


def _check_weight(weight, shape, name: str):
    w = jnp.asarray(weight, dtype=jnp.result_type(float))
    if w.ndim != 0 and w.shape != tuple(shape):
        raise ValueError(f"{name} must be a scalar or have shape {tuple(shape)}, got shape {w.shape}")
    if not isinstance(w, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(w))):
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


def fixed_probability(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    p: float,
    weight: Float[ArrayLike, ""] = 1.0,
    *,
    allow_self: bool = True,
) -> Connectivity:
    """Each (pre, post) pair is connected independently with probability `p`.

    Sampled row by row as a Bernoulli process: the gaps between successive targets are
    geometric, G = 1 + ⌊ln U / ln(1 − p)⌋ with U ~ U(0, 1] (Devroye 1986, "Non-Uniform
    Random Variate Generation", ch. X.2; the method of Batagelj & Brandes 2005 for G(n, p)),
    so the cost is O(synapses), not O(n_pre·n_post). The in-degree is Binomial(n_pre, p)
    (mean n_pre·p, variance n_pre·p(1 − p)); there are no duplicates. The table width is
    n_post·p + 8σ + 8; a row that would need more is redrawn with a wider table (never
    truncated).

    Arguments:
        key: PRNG key.
        n_pre, n_post: population sizes.
        p: connection probability in [0, 1].
        weight: synaptic weight shared by all synapses.
        allow_self: allow i → i (see module docstring); False needs n_pre == n_post.
    """
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
    p = float(p)
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"p must be a probability in [0, 1], got p={p}")
    _check_self(allow_self, n_pre, n_post)
    weight = _check_weight(weight, (), "weight")
    n_cand = n_post if allow_self else n_post - 1
    if p == 0.0 or n_cand == 0:
        return Connectivity(jnp.full((n_pre, 1), n_post, jnp.int32), weight, n_pre, n_post)
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
    return Connectivity(post_idx[:, :width], weight, n_pre, n_post)


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
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {k!r}")
    if not allow_duplicates and k > n_cand:
        raise ValueError(
            f"{what}={k} exceeds the {n_cand} distinct candidates (allow_duplicates=False)"
        )
    if allow_duplicates and k > 0 and n_cand < 1:
        raise ValueError(f"{what}={k} but there are no candidates to connect to")
    return int(k)


def _fixed_degree_args(n_pre, n_post, k, weight, allow_self, allow_duplicates, side: str):
    """Checked (n_pre, n_post, k, weight) of a fixed in/out-degree builder, and the empty
    table when k = 0 (else None)."""
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
    _check_self(allow_self, n_pre, n_post)
    n_cand = (n_post if side == "out" else n_pre) - (not allow_self)
    k = _check_degree(k, n_cand, allow_duplicates, f"k ({side}-degree)")
    weight = _check_weight(weight, (), "weight")
    empty = Connectivity(jnp.full((n_pre, 1), n_post, jnp.int32), weight, n_pre, n_post) if k == 0 else None
    return n_pre, n_post, k, weight, empty


def fixed_out_degree(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    k: int,
    weight: Float[ArrayLike, ""] = 1.0,
    *,
    allow_self: bool = True,
    allow_duplicates: bool = False,
) -> Connectivity:
    """Every presynaptic neuron connects to exactly `k` postsynaptic neurons.

    Targets are uniform over k-subsets of the candidates (without replacement unless
    `allow_duplicates`); the in-degree is then Binomial(n_pre, k/n_post) in the
    with-replacement case and hypergeometric-like otherwise (mean n_pre·k/n_post).
    """
    n_pre, n_post, k, weight, empty = _fixed_degree_args(
        n_pre, n_post, k, weight, allow_self, allow_duplicates, "out"
    )
    if empty is not None:
        return empty
    post_idx = _fixed_degree_rows(key, n_pre, n_post, k, allow_self, allow_duplicates)
    return Connectivity(post_idx, weight, n_pre, n_post)


def fixed_in_degree(
    key: PRNGKeyArray,
    n_pre: int,
    n_post: int,
    k: int,
    weight: Float[ArrayLike, ""] = 1.0,
    *,
    allow_self: bool = True,
    allow_duplicates: bool = False,
) -> Connectivity:
    """Every postsynaptic neuron receives exactly `k` synapses (sources drawn uniformly).

    Drawn as an in-degree table on the device, then transposed to the out-degree layout;
    the out-degree varies (mean n_post·k/n_pre) and sets the table width.
    """
    n_pre, n_post, k, weight, empty = _fixed_degree_args(
        n_pre, n_post, k, weight, allow_self, allow_duplicates, "in"
    )
    if empty is not None:
        return empty
    pre_idx = _fixed_degree_rows(key, n_post, n_pre, k, allow_self, allow_duplicates)
    post = jnp.broadcast_to(jnp.arange(n_post, dtype=jnp.int32)[:, None], pre_idx.shape)
    post_idx, _ = _ell_from_pairs(pre_idx.ravel(), post.ravel(), weight, n_pre, n_post)
    return Connectivity(post_idx, weight, n_pre, n_post)


def from_lists(
    pre: Int[ArrayLike, " synapses"],
    post: Int[ArrayLike, " synapses"],
    weight: Float[ArrayLike, "*synapses"] = 1.0,
    *,
    n_pre: int,
    n_post: int,
    allow_self: bool = True,
    allow_duplicates: bool = True,
    allow_negative: bool = True,
) -> Connectivity:
    """Explicit synapses: pre[s] → post[s] with weight[s] (or one scalar weight).

    Checked on the host: indices must lie in [0, n_pre) and [0, n_post); with
    `allow_self=False` no pre[s] == post[s]; with `allow_duplicates=False` no repeated
    (pre, post) pair; with `allow_negative=False` no weight < 0. Duplicates that are
    allowed are kept as separate synapses (their effects add).
    """
    n_pre = _check_size("n_pre", n_pre)
    n_post = _check_size("n_post", n_post)
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
        return Connectivity(jnp.full((n_pre, 1), n_post, jnp.int32), jnp.asarray(w_np if not w_np.ndim else 0.0), n_pre, n_post)
    w = jnp.asarray(w_np, dtype=jnp.result_type(float))
    post_idx, w_table = _ell_from_pairs(pre_np, post_np, w, n_pre, n_post)
    return Connectivity(post_idx, w_table, n_pre, n_post)
