"""Event-driven spike delivery: add the out-rows of the neurons that spiked to a target.

    target[post_start + post_idx[i, k]] += s_i · weight[i, k]   for every i with s_i ≠ 0

over the valid entries k of each row of a `Connectivity` table (padding, post_idx >=
n_post, is skipped). `s` is the spike vector: bool (s_i = 1 for a spike) or float (the
surrogate-gradient code passes spikes as floats; delivery is linear in them). In matrix
form out = target + Wᵀ s, with W the (n_pre, n_post) weight matrix placed at post_start.

`deliver_delayed` does the same with per-synapse delays (`Connectivity.delay`, whole
steps) through a ring buffer of R >= max delay rows × n_post (memory O(R·n_post), never a
history of the run): at step s it first adds ring row s mod R to the target and clears it
(what arrives now), then adds each spiking row's synapse k to ring row (s + d_ik) mod R,
or straight to the target where d_ik = 0. A spike of step s therefore reaches synapse k in
the delivery of step s + d_ik exactly. Several projections onto one target may share one
ring (`ring_origin`, `arrive`; a `Network` does this for every variable): one arrival per
step and one ring's cache footprint instead of one per projection. A projection with one
delay d for all its synapses (`delay=d`) adds each spiking row to ring row (s + d) mod R
with the no-delay loop, in place, so it shares the ring and costs what `deliver` does.

`deliver_delayed_group` is the pure-JAX delivery of such a group in one scatter per step
(the spiking rows of each projection compacted into a fixed buffer of `GROUP_ROWS` rows,
repeated in a loop when more spike, so none is ever dropped): the path for a GPU, where
each XLA operation is a kernel launch; a `Network` with delivery "jax" uses it.

Two implementations with the same result:
- `ffi`: a C++ XLA FFI handler (`_kernels/delivery.cc`) that loops only over the neurons
  that spiked and adds each one's row, the way Brian2's and NEST's C++ kernels do. XLA's
  own gather/scatter cost several ns per element and cannot skip silent neurons, so on a
  CPU this is what brings a JAX network step near a C++ simulator's (COBA 4k: 11.9 µs/step
  vs 266–283 for XLA gather/scatter delivery; benchmarks/delivery_kernel.py and
  benchmarks/results/README.md). Under `jax.vmap` a batch of networks is one call that loops over the
  batch inside C++ (connectivity shared by the batch is not copied).
- `jax`: pure JAX. The spiking rows are picked 16 at a time with `lax.top_k` of the spike
  mask (measured 10× cheaper here than `jnp.nonzero(size=...)`, whose compaction scatter
  dominated the step) and scatter-added, in a `while_loop` that runs ⌈spiking / 16⌉ times.
  Used on GPU and other non-CPU backends (via `lax.platform_dependent`, so one traced
  function serves every device) and on CPUs where the kernel could not be built.

Parallel delivery (compiled kernel, per-synapse delays): a call may split the postsynaptic
targets into contiguous ranges handled by up to T threads of a persistent pool (created
once per process; workers spin up to 200 µs after a call, yielding the core, then sleep on a
futex). The range of a chunk of targets owns their ring columns and their arrival, and
takes, from every spiking row, the synapses onto it, found by binary search in a row sorted
by target (`fixed_total_number_blocks(sort_targets=True)`; the Potjans–Diesmann tables are).
The threads write disjoint cells and every cell gets its adds in the single-threaded order
(spiking rows ascending, table order within a row), so the result is the same bit for bit
for any T. A call runs single-threaded (the unchanged loop) when its spiking rows are not
all sorted (checked each call) or when it has fewer than `THREAD_MIN_EVENTS` synaptic events
per thread: a step of COBA 4k (≈ 10³ events) stays on one thread, one of the full-scale
microcircuit (≈ 10⁵ events in 8 calls) would use two. T is `deliver_delayed(threads=...)`,
`Network(delivery_threads=...)`, `potjans_diesmann(delivery_threads=...)`, else
`$NEURODYN_DELIVERY_THREADS`, else 1 (`resolve_threads`: on the 2-vCPU machine measured,
two threads were 11–18 % slower at full scale, so threads are opt-in).

The kernel is compiled on first use (`neurodyn.network._build`) with the machine's C++ compiler (`$CXX`, else g++,
c++ or clang++) against the FFI headers of the running jaxlib (`jax.ffi.include_dir()`),
so it always matches the jaxlib it is loaded into. The shared library is cached in
`$NEURODYN_CACHE_DIR` (default `$XDG_CACHE_HOME/neurodyn`, i.e. ~/.cache/neurodyn), keyed
by a hash of the source, jaxlib version, compiler and flags; a build takes a few seconds
once per machine. Without a compiler, or if the build fails, delivery falls back to the
pure-JAX path with a one-time warning saying why. `python -m neurodyn.network.delivery`
builds the kernel and prints its status.

`NEURODYN_DELIVERY=ffi|jax` (or `deliver(..., method=...)`) forces one implementation;
forcing `ffi` where it cannot be built raises instead of falling back.

Gradients: `deliver` has a `jax.custom_jvp` whose tangent is pure JAX, so it can be
differentiated (forward and reverse mode) with respect to `target`, `conn.weight` and a
float `spiked`, whichever implementation runs the forward pass:
    d out = d target + scatter_k( d weight[i, k] · s_i + weight[i, k] · d s_i ).
The tangent is a dense scatter over all synapses (O(n_pre·K)): gradients of a spiking
network are dense in s anyway.
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import SymbolicZero
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import check_int
from ._build import FFI_TARGET, FFI_TARGET_DELAYED, kernel_info
from .connectivity import Connectivity, delay_dtype

__all__ = ["deliver", "deliver_delayed", "deliver_delayed_group", "kernel_info", "resolve_method", "resolve_threads"]

ROWS = 16  # spiking rows scattered per while_loop iteration in the pure-JAX path
GROUP_ROWS = 32  # spiking rows per presynaptic population and chunk in `deliver_delayed_group`
METHODS = ("auto", "ffi", "jax")
# Synaptic events per thread below which a delayed-delivery call runs on fewer threads.
# Not a measured break-even: benchmarks/delivery_threads.py found no call size where two
# threads won on the shared 2-vCPU machine (0.76-0.86x from 4 000 to 32 000 events per call,
# load 2-7); 4 096 keeps small networks (COBA 4k: ~10^3 events per call) on one thread and
# would split the microcircuit's busiest calls (~10^4 events). Rerun that benchmark on a
# machine with idle cores to set it.
THREAD_MIN_EVENTS = 4096
_FFI_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def deliver(
    target: Float[Array, " n_total"],
    conn: Connectivity,
    spiked: Bool[Array, " n_pre"] | Float[Array, " n_pre"],
    post_start: int = 0,
    *,
    pre_start: int | None = None,
    method: str | None = None,
) -> Float[Array, " n_total"]:
    """Add the out-rows of the spiking presynaptic neurons to `target`.

    out[post_start + conn.post_idx[i, k]] = target[...] + s_i · weight[i, k] for every
    presynaptic i with s_i = spiked[i] ≠ 0 (spiked[pre_start + i] if `pre_start` is given)
    and every valid (non-padding) k.

    Arguments:
        target: (n_total,) values the synapses add to (e.g. a conductance g), float32 or
            float64; the postsynaptic population occupies [post_start, post_start + n_post).
        conn: the projection's `Connectivity` (pass it as an argument of the jitted
            function, never as a closed-over constant: XLA would copy it every step).
        spiked: (n_pre,) bool spikes, or floats (each row scaled by its value); with
            `pre_start`, the spikes of a larger population (e.g. the whole network).
        post_start: index in `target` of the first postsynaptic neuron (static int).
        pre_start: index in `spiked` of the first presynaptic neuron (static int). Passing
            the whole network's spikes with `pre_start` instead of `spiked[pre]` saves a
            slice per projection and step (≈ 1 µs on a 2-core CPU, a tenth of a step).
        method: "ffi", "jax" or "auto" (default: `$NEURODYN_DELIVERY`, else "auto" = the
            compiled kernel on CPU when available, pure JAX otherwise).

    Returns:
        The updated (n_total,) array, same dtype as `target`.

    Example:
        g_e = deliver(g_e, conn_e, spiked[:n_e])
        g_i = deliver(g_i, conn_i, spiked, post_start=0, pre_start=n_e)  # same as spiked[n_e:]
    """
    if not isinstance(conn, Connectivity):
        raise TypeError(f"conn must be a Connectivity, got {type(conn).__name__}")
    target, spiked, post_start, pre_start = _check_call(target, conn, spiked, post_start, pre_start)
    impl = _choose(method, target.dtype)
    post_idx = conn.post_idx if conn.post_idx.dtype == jnp.int32 else conn.post_idx.astype(jnp.int32)
    return _deliver(impl, (post_start, conn.n_post, pre_start), target, post_idx, jnp.asarray(conn.weight), spiked)


def deliver_delayed(
    target: Float[Array, " n_total"],
    ring: Float[Array, "rows n_post"],
    conn: Connectivity,
    spiked: Bool[Array, " n_pre"] | Float[Array, " n_pre"],
    step: Int[ArrayLike, ""],
    post_start: int = 0,
    *,
    pre_start: int | None = None,
    ring_origin: int | None = None,
    arrive: bool = True,
    delay: int | None = None,
    method: str | None = None,
    threads: int | None = None,
    min_events: int | None = None,
) -> tuple[Float[Array, " n_total"], Float[Array, "rows columns"]]:
    """Delivery with per-synapse delays through a ring buffer (see the module docstring).

    Arguments:
        target: (n_total,) values the synapses add to, as in `deliver`.
        ring: (R, C) ring buffer, the target's dtype, R >= max(1, conn.max_delay); start
            from zeros and pass back what this returns (e.g. in a scan carry). Column c
            belongs to target[ring_origin + c]: the projection's own ring (C = n_post, the
            default ring_origin = post_start) or one shared by several projections onto
            the same target (e.g. C = n_total, ring_origin = 0). A shared ring is smaller
            in all than one per projection (the Potjans-Diesmann microcircuit's 55
            projections onto 8 populations: 1/7 of the memory and of the per-step arrival
            work) and keeps the random ring writes in a smaller cache footprint.
        conn: a `Connectivity` with per-synapse delays (`conn.delay`), or any
            `Connectivity` with `delay`.
        spiked: the spikes of this step, as in `deliver` (with `pre_start` likewise).
        step: this step's index (int32 scalar; steps must advance by one per call).
        post_start, pre_start, method: as in `deliver`.
        ring_origin: the index in `target` of ring column 0 (static int; default
            post_start); the ring must cover the projection's columns and fit in target.
        arrive: add ring row step mod R to the target and clear it before delivering (what
            arrives now). With a shared ring, exactly one of the calls of a step passes
            True, the first (the others add to rows the arrival has already emptied).
        delay: one delay in whole steps (static int >= 0) for every synapse, for a
            connectivity without per-synapse delays (a `Projection(delay=...)`): each
            spiking row is added to the one ring row `delay` steps ahead with the no-delay
            loop, so one delay costs no more than none, and several such projections
            onto one variable can share a ring with per-synapse-delay ones.
        threads: the most threads the compiled kernel splits the targets over (static int
            >= 1; default `resolve_threads()`: `$NEURODYN_DELIVERY_THREADS`, else 1). A call
            uses them only when its rows are sorted by target
            and it has at least `min_events` synaptic events per thread; the result is the
            single-threaded one bit for bit (see "Parallel delivery" in the module docstring).
            The pure-JAX path ignores it.
        min_events: synaptic events per thread below which a call stays on fewer threads
            (static int >= 1; default `THREAD_MIN_EVENTS`, not a measured break-even).

    Returns:
        (target, ring) updated: target has received what arrives at this step.
    """
    if not isinstance(conn, Connectivity):
        raise TypeError(f"conn must be a Connectivity, got {type(conn).__name__}")
    if delay is None:
        if conn.delay is None:
            raise ValueError(
                "deliver_delayed needs a Connectivity with per-synapse delays (conn.delay is None) or one "
                "delay=... in steps for all synapses; without a delay use deliver"
            )
        delays, max_delay = conn.delay, conn.max_delay
    else:
        if conn.delay is not None:
            raise ValueError("deliver_delayed: delay= given, but conn already holds per-synapse delays; give one")
        max_delay = check_int("delay", delay, lower=0, meaning="steps")
        delays = _one_delay(max_delay)
    target, spiked, post_start, pre_start = _check_call(target, conn, spiked, post_start, pre_start)
    ring = jnp.asarray(ring)
    rows = max(1, max_delay)
    if ring.ndim != 2 or ring.shape[0] < rows or ring.dtype != target.dtype:
        raise ValueError(
            f"ring must be a 2-D (rows >= {rows}, columns) {target.dtype} array (rows >= the largest delay "
            f"{max_delay} steps), got {ring.dtype} shape {ring.shape}"
        )
    if ring_origin is None:
        ring_origin = post_start
    ring_origin, columns = check_int("ring_origin", ring_origin, meaning="static"), ring.shape[1]
    if not (0 <= ring_origin <= post_start and post_start + conn.n_post <= ring_origin + columns <= target.shape[0]):
        raise ValueError(
            f"ring columns [ring_origin, ring_origin + {columns}) = [{ring_origin}, {ring_origin + columns}) must "
            f"cover the projection's targets [{post_start}, {post_start + conn.n_post}) and lie in the target "
            f"[0, {target.shape[0]}) (the projection's own ring: {conn.n_post} columns, ring_origin = post_start)"
        )
    if not isinstance(arrive, (bool, np.bool_)):
        raise TypeError(f"arrive must be a Python bool (static), got {arrive!r}")
    step = jnp.asarray(step)
    if step.shape != () or not jnp.issubdtype(step.dtype, jnp.integer):
        raise ValueError(f"step must be an integer scalar, got {step.dtype} shape {step.shape}")
    impl = _choose(method, target.dtype)
    where = (post_start, conn.n_post, pre_start, post_start - ring_origin, bool(arrive))
    min_events = THREAD_MIN_EVENTS if min_events is None else min_events
    parallel = (resolve_threads(threads), check_int("min_events", min_events, lower=1,
                                                     meaning="synaptic events per delivery thread"))
    return _deliver_delayed(
        impl, where, parallel, target, ring, conn.post_idx, jnp.asarray(conn.weight), delays, spiked, step.astype(jnp.int32)
    )


def _one_delay(steps: int) -> Int[Array, ""]:
    """One delay for every synapse as the kernel's scalar delay operand (the smallest of
    its delay dtypes that holds it)."""
    return jnp.asarray(steps, delay_dtype(steps))


def _check_call(target, conn, spiked, post_start, pre_start):
    """The checks `deliver` and `deliver_delayed` share: (target, spiked, post_start, pre_start)."""
    target = jnp.asarray(target)
    spiked = jnp.asarray(spiked)
    if target.ndim != 1 or not jnp.issubdtype(target.dtype, jnp.floating):
        raise ValueError(f"target must be a 1-D float array, got {target.dtype} shape {target.shape}")
    if pre_start is None:
        if spiked.shape != (conn.n_pre,):
            raise ValueError(f"spiked must have shape (n_pre,) = ({conn.n_pre},), got {spiked.shape}")
        pre_start = 0
    else:
        pre_start = check_int("pre_start", pre_start, meaning="static")
        if spiked.ndim != 1 or pre_start < 0 or pre_start + conn.n_pre > spiked.shape[0]:
            raise ValueError(
                f"pre_start={pre_start} with n_pre={conn.n_pre} does not fit in spiked of shape "
                f"{spiked.shape} (need 0 <= pre_start <= {spiked.shape[-1] - conn.n_pre})"
            )
    if spiked.dtype != jnp.bool_ and not jnp.issubdtype(spiked.dtype, jnp.floating):
        raise ValueError(f"spiked must be bool or float, got {spiked.dtype}")
    post_start = check_int("post_start", post_start, meaning="static")
    if post_start < 0 or post_start + conn.n_post > target.shape[0]:
        raise ValueError(
            f"post_start={post_start} with n_post={conn.n_post} does not fit in target of "
            f"size {target.shape[0]} (need 0 <= post_start <= {target.shape[0] - conn.n_post})"
        )
    return target, spiked, post_start, pre_start


# --------------------------------------------------------------------------- choice


_warned = False


def resolve_method(method: str | None = None) -> str:
    """"ffi" or "jax": the implementation `deliver` will use, decided once (host side).

    `method` "ffi", "jax" or "auto"/None (then `$NEURODYN_DELIVERY`, else "auto": the
    compiled kernel on CPU when it builds, pure JAX otherwise). A `Network` calls this
    when it is built and keeps the answer, so the environment is not read while tracing.
    Forcing "ffi" where the kernel cannot be built raises.
    """
    requested = method if method is not None else os.environ.get("NEURODYN_DELIVERY", "auto") or "auto"
    if requested not in METHODS:
        source = "method" if method is not None else "NEURODYN_DELIVERY"
        raise ValueError(f"{source} must be one of {METHODS}, got {requested!r}")
    if requested == "jax":
        return "jax"
    if requested == "auto" and jax.default_backend() != "cpu":
        return "jax"  # the kernel is CPU-only; no point building it for a GPU run
    info = kernel_info()
    if requested == "ffi":
        if not info["available"]:
            raise RuntimeError(f"delivery method 'ffi' was requested but the compiled kernel is not available: {info['reason']}")
        return "ffi"
    if not info["available"]:
        global _warned
        if not _warned:
            _warned = True
            warnings.warn(
                f"neurodyn: the compiled spike-delivery kernel is not available "
                f"({info['reason']}); using the pure-JAX fallback, several times slower on "
                f"CPU. Set NEURODYN_DELIVERY=jax to silence this warning.",
                RuntimeWarning,
                stacklevel=3,
            )
        return "jax"
    return "ffi"


def resolve_threads(threads: int | None = None) -> int:
    """The most threads the compiled delayed-delivery kernel may use (host side, static).

    `threads` (an int >= 1), else `$NEURODYN_DELIVERY_THREADS`, else 1. A `Network` calls
    this when it is built and keeps the answer. Whether a call actually runs on several
    threads is decided per call, by its work (`THREAD_MIN_EVENTS`).

    The default is one thread because threads did not pay on the 2-vCPU machine this was
    measured on: at full scale (load 4-5) 2 threads took 11.7 and 12.9 s for the timed
    second against 10.4 and 10.6 s on one, and an instrumented run showed the pool's worker
    taking only 3.7 % of the chunks (waking it costs about a whole call there), while the
    threads' checks add CPU time. Opt in where cores are real and idle.
    """
    if threads is None:
        env = os.environ.get("NEURODYN_DELIVERY_THREADS", "")
        if env:
            try:
                value = int(env)
            except ValueError:
                value = 0
            if value < 1:
                raise ValueError(f"NEURODYN_DELIVERY_THREADS must be an integer >= 1 (delivery threads), got {env!r}")
            return value
        return 1
    return check_int("threads", threads, lower=1, meaning="delivery threads")


def _choose(method: str | None, dtype) -> str:
    """`resolve_method` for a target of `dtype`: the kernel takes float32 and float64 only
    (other dtypes run in pure JAX, or raise where "ffi" was forced)."""
    impl = resolve_method(method)
    if impl == "ffi" and np.dtype(dtype) not in _FFI_DTYPES:
        forced = (method if method is not None else os.environ.get("NEURODYN_DELIVERY", "auto")) == "ffi"
        if forced:
            raise ValueError(f"the compiled delivery kernel supports float32 and float64 targets, got {dtype}")
        return "jax"
    return impl


# --------------------------------------------------------------------------- the primitive


# `where` = (post_start, n_post, pre_start), static.
@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def _deliver(impl, where, target, post_idx, weight, spiked):
    return _forward(impl, where, target, post_idx, weight, spiked)


def _forward(impl, where, target, post_idx, weight, spiked):
    jax_path = functools.partial(_deliver_jax, where)
    if impl == "jax":
        return jax_path(target, post_idx, weight, spiked)
    if spiked.dtype != jnp.bool_:
        spiked = spiked.astype(target.dtype)
    if weight.dtype not in _FFI_DTYPES:
        weight = weight.astype(target.dtype)
    return jax.lax.platform_dependent(
        target, post_idx, weight, spiked, cpu=_ffi_call(*where), default=jax_path
    )


@functools.partial(_deliver.defjvp, symbolic_zeros=True)
def _deliver_jvp(impl, where, primals, tangents):
    target, post_idx, weight, spiked = primals
    d_target, _, d_weight, d_spiked = tangents
    out = _forward(impl, where, target, post_idx, weight, spiked)
    post_start, n_post, pre_start = where
    n_total = target.shape[0]
    n_pre = post_idx.shape[0]
    spiked = jax.lax.slice_in_dim(spiked, pre_start, pre_start + n_pre)
    valid = (post_idx >= 0) & (post_idx < n_post)
    contribution = None
    if not isinstance(d_weight, SymbolicZero):
        s = spiked.astype(target.dtype)[:, None]
        contribution = d_weight.astype(target.dtype) * s
    if not isinstance(d_spiked, SymbolicZero) and spiked.dtype != jnp.bool_:
        d_spiked = jax.lax.slice_in_dim(d_spiked, pre_start, pre_start + n_pre)
        term = weight.astype(target.dtype) * d_spiked.astype(target.dtype)[:, None]
        contribution = term if contribution is None else contribution + term
    d_out = jnp.zeros_like(target) if isinstance(d_target, SymbolicZero) else d_target
    if contribution is not None:
        contribution = jnp.where(valid, jnp.broadcast_to(contribution, post_idx.shape), 0)
        idx = jnp.where(valid, post_idx + post_start, n_total)  # padding -> dropped
        d_out = d_out.at[idx.ravel()].add(contribution.ravel(), mode="drop")
    return out, d_out


# --------------------------------------------------------------------------- pure JAX


def _scatter_spiking_rows(acc, spiked, weight, destinations):
    """acc with the rows of the spiking presynaptic neurons scatter-added: `lax.top_k` of the
    spike mask picks ROWS rows at a time, in a `while_loop` that runs ⌈spiking / ROWS⌉ times.

    `destinations(rows)` gives the flat index in `acc` of each synapse of those rows
    (padding: any index past the end, dropped); `spiked` is this projection's (n_pre,) slice.
    """
    n_pre = spiked.shape[0]
    active = spiked != 0
    n_active = jnp.sum(active, dtype=jnp.int32)
    per_synapse = weight.ndim > 0
    scaled = spiked.dtype != jnp.bool_
    k = min(ROWS, n_pre)

    def body(carry):
        c, acc, remaining = carry
        vals, rows = jax.lax.top_k(remaining, k)
        dest = destinations(rows)
        dest = jnp.where(vals[:, None] > 0, dest, acc.shape[0])  # non-spiking -> dropped
        w = (weight[rows] if per_synapse else jnp.broadcast_to(weight, dest.shape)).astype(acc.dtype)
        if scaled:
            w = w * spiked[rows].astype(acc.dtype)[:, None]
        acc = acc.at[dest.ravel()].add(w.ravel(), mode="drop")
        return c + 1, acc, remaining.at[rows].set(0.0)

    _, acc, _ = jax.lax.while_loop(
        lambda carry: carry[0] * k < n_active,
        body,
        (jnp.zeros((), jnp.int32), acc, active.astype(jnp.float32)),
    )
    return acc


def _deliver_jax(where, target, post_idx, weight, spiked):
    """The pure-JAX path: the spiking rows scatter-added into the target."""
    post_start, n_post, pre_start = where
    n_total = target.shape[0]
    n_pre = post_idx.shape[0]
    spiked = jax.lax.slice_in_dim(spiked, pre_start, pre_start + n_pre)

    def destinations(rows):
        tgt = post_idx[rows]
        return jnp.where((tgt >= 0) & (tgt < n_post), tgt + post_start, n_total)  # padding -> dropped

    return _scatter_spiking_rows(target, spiked, weight, destinations)


# --------------------------------------------------------------------------- FFI call


@functools.cache
def _ffi_call(post_start: int, n_post: int, pre_start: int):
    """The FFI call for one (post_start, n_post, pre_start), batched by `custom_vmap`.

    The kernel updates the target in place (input_output_aliases), which needs the target
    to have the output's batch shape; the batching rule broadcasts it where only the
    spikes or the connectivity are batched, and gives every other unbatched operand a
    size-1 batch dimension that the kernel broadcasts (never copied per network). Nested
    vmaps apply the rule once per level.
    """

    def call(target, post_idx, weight, spiked):
        return jax.ffi.ffi_call(
            FFI_TARGET,
            jax.ShapeDtypeStruct(target.shape, target.dtype),
            vmap_method="expand_dims",
            input_output_aliases={0: 0},
        )(target, post_idx, weight, spiked, post_start=np.int64(post_start), n_post=np.int64(n_post),
          pre_start=np.int64(pre_start))

    batched_call = jax.custom_batching.custom_vmap(call)

    @batched_call.def_vmap
    def rule(axis_size, in_batched, target, post_idx, weight, spiked):
        t_b, p_b, w_b, s_b = in_batched
        target = target if t_b else jnp.broadcast_to(target, (axis_size, *target.shape))
        post_idx = post_idx if p_b else post_idx[None]
        weight = weight if w_b else weight[None]
        spiked = spiked if s_b else spiked[None]
        return batched_call(target, post_idx, weight, spiked), True

    return batched_call


# --------------------------------------------------------------------------- per-synapse delays


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2))
def _deliver_delayed(impl, where, parallel, target, ring, post_idx, weight, delay, spiked, step):
    return _forward_delayed(impl, where, parallel, target, ring, post_idx, weight, delay, spiked, step)


def _forward_delayed(impl, where, parallel, target, ring, post_idx, weight, delay, spiked, step):
    jax_path = functools.partial(_deliver_delayed_jax, where)
    if impl == "jax":
        return jax_path(target, ring, post_idx, weight, delay, spiked, step)
    if spiked.dtype != jnp.bool_:
        spiked = spiked.astype(target.dtype)
    if weight.dtype not in _FFI_DTYPES:
        weight = weight.astype(target.dtype)
    return jax.lax.platform_dependent(
        target, ring, post_idx, weight, delay, spiked, step, cpu=_ffi_call_delayed(*where, *parallel),
        default=jax_path
    )


def _arrive(where, target, ring, step):
    """With `arrive`, add ring row step mod R to the target and clear it: (target, ring, slot).

    Row entry c is target entry post_start - ring_start + c (a shared ring: c itself)."""
    post_start, _, _, ring_start, arrive = where
    rows, columns = ring.shape
    slot = jnp.mod(step, rows)
    if not arrive:
        return target, ring, slot
    arriving = jax.lax.dynamic_index_in_dim(ring, slot, 0, keepdims=False)
    first = post_start - ring_start
    target = jax.lax.dynamic_update_slice_in_dim(
        target, jax.lax.dynamic_slice_in_dim(target, first, columns) + arriving, first, 0
    )
    ring = jax.lax.dynamic_update_index_in_dim(ring, jnp.zeros_like(arriving), slot, 0)
    return target, ring, slot


def _delayed_targets(where, post_idx, delay, slot, ring_shape, n_total: int):
    """Flat destinations of every synapse: into the ring (d >= 1) or the target (d = 0).

    Ring entries are numbered n_total + row·C + ring_start + p after the target's, so one
    scatter into concatenate([target, ring.ravel()]) serves both; padding maps past the end.
    """
    post_start, n_post, _, ring_start, _ = where
    rows, columns = ring_shape
    valid = (post_idx >= 0) & (post_idx < n_post)
    d = delay.astype(jnp.int32)
    r = slot + d
    r = jnp.where(r >= rows, r - rows, r)
    flat = jnp.where(d == 0, post_idx + post_start, n_total + r * columns + ring_start + post_idx)
    return jnp.where(valid, flat, n_total + rows * columns)


def _deliver_delayed_jax(where, target, ring, post_idx, weight, delay, spiked, step):
    """The pure-JAX path: arrivals, then the spiking rows scatter-added into the
    (target, ring) pair."""
    pre_start = where[2]
    n_total = target.shape[0]
    n_pre = post_idx.shape[0]
    target, ring, slot = _arrive(where, target, ring, step)
    spiked = jax.lax.slice_in_dim(spiked, pre_start, pre_start + n_pre)

    def destinations(picked):
        return _delayed_targets(where, post_idx[picked], delay[picked] if delay.ndim else delay, slot, ring.shape,
                                n_total)

    both = _scatter_spiking_rows(jnp.concatenate([target, ring.ravel()]), spiked, weight, destinations)
    return both[:n_total], both[n_total:].reshape(ring.shape)


@functools.partial(_deliver_delayed.defjvp, symbolic_zeros=True)
def _deliver_delayed_jvp(impl, where, parallel, primals, tangents):
    """Linear in (target, ring) and bilinear in (weight, spikes): the tangent is the same
    map applied to (d target, d ring) plus the dense scatter of d weight·s + weight·d s."""
    target, ring, post_idx, weight, delay, spiked, step = primals
    d_target, d_ring, _, d_weight, _, d_spiked, _ = tangents
    out = _forward_delayed(impl, where, parallel, target, ring, post_idx, weight, delay, spiked, step)
    pre_start = where[2]
    n_total = target.shape[0]
    n_pre = post_idx.shape[0]
    d_target = jnp.zeros_like(target) if isinstance(d_target, SymbolicZero) else d_target
    d_ring = jnp.zeros_like(ring) if isinstance(d_ring, SymbolicZero) else d_ring
    d_target, d_ring, slot = _arrive(where, d_target, d_ring, step)
    spiked = jax.lax.slice_in_dim(spiked, pre_start, pre_start + n_pre)
    contribution = None
    if not isinstance(d_weight, SymbolicZero):
        contribution = d_weight.astype(target.dtype) * spiked.astype(target.dtype)[:, None]
    if not isinstance(d_spiked, SymbolicZero) and spiked.dtype != jnp.bool_:
        d_spiked = jax.lax.slice_in_dim(d_spiked, pre_start, pre_start + n_pre)
        term = weight.astype(target.dtype) * d_spiked.astype(target.dtype)[:, None]
        contribution = term if contribution is None else contribution + term
    if contribution is None:
        return out, (d_target, d_ring)
    dest = _delayed_targets(where, post_idx, delay, slot, ring.shape, n_total)
    both = jnp.concatenate([d_target, d_ring.ravel()])
    both = both.at[dest.ravel()].add(jnp.broadcast_to(contribution, post_idx.shape).ravel(), mode="drop")
    return out, (both[:n_total], both[n_total:].reshape(ring.shape))


def deliver_delayed_group(
    target: Float[Array, " n_total"],
    ring: Float[Array, "rows columns"],
    conns: Sequence[Connectivity],
    spiked: Bool[Array, " n_spikes"],
    step: Int[ArrayLike, ""],
    post_starts: Sequence[int],
    pre_starts: Sequence[int],
    *,
    ring_origin: int = 0,
    rows: int = GROUP_ROWS,
    delays: Sequence[int | None] | None = None,
) -> tuple[Float[Array, " n_total"], Float[Array, "rows columns"]]:
    """Several delayed projections sharing one ring, in pure JAX, one scatter per chunk.

    The same as calling `deliver_delayed` for each projection in turn (the first with
    arrive=True) on the same `ring`, but written for a GPU, where every XLA operation is
    a kernel launch and the Potjans-Diesmann microcircuit's ~25 spikes per step among
    77 169 neurons spread over 55 projections would otherwise cost 55 compactions and 55
    scatters per step: here the spiking rows of each projection are compacted into a
    fixed buffer of `rows` rows (`jnp.nonzero(size=rows)`: projections with the same
    presynaptic block share it, XLA computes it once), their synapses' destinations in
    the (target, ring) pair gathered, and all of them added in ONE scatter. If a
    projection has more than `rows` spiking neurons in a step, the chunk is repeated (a
    `while_loop` over chunks c = 0, 1, … taking the spiking rows c·rows … (c+1)·rows − 1
    of every projection) until every spike is delivered: never dropped, only slower.

    Arguments:
        target: (n_total,) values the synapses add to.
        ring: (R, C) ring shared by the projections: column c is target[ring_origin + c];
            R >= every projection's `max_delay`.
        conns: the projections' `Connectivity` tables, each with per-synapse delays or
            with one delay in `delays`.
        spiked: (n_spikes,) bool spikes of this step (the whole network's); projection j
            reads spiked[pre_starts[j] : pre_starts[j] + conns[j].n_pre].
        step: this step's index (int32 scalar).
        post_starts, pre_starts: static ints, one per projection.
        ring_origin: index in `target` of ring column 0 (static).
        rows: spiking rows per projection and chunk (static int >= 1).
        delays: per projection, None (its per-synapse delays) or one delay in steps for
            all its synapses (as `deliver_delayed`'s `delay`); default all None.

    Returns:
        (target, ring) updated, as the sequence of `deliver_delayed` calls returns them
        (sums in another order: equal up to float rounding).
    """
    conns = tuple(conns)
    post_starts, pre_starts = tuple(int(x) for x in post_starts), tuple(int(x) for x in pre_starts)
    if not conns or len(post_starts) != len(conns) or len(pre_starts) != len(conns):
        raise ValueError(
            f"deliver_delayed_group needs one post_start and one pre_start per projection, got {len(conns)} "
            f"projections, {len(post_starts)} post_starts and {len(pre_starts)} pre_starts"
        )
    check_int("rows", rows, lower=1, meaning="spiking rows per projection and chunk")
    delays = (None,) * len(conns) if delays is None else tuple(delays)
    if len(delays) != len(conns):
        raise ValueError(f"deliver_delayed_group: delays has {len(delays)} entries for {len(conns)} projections")
    spiked = jnp.asarray(spiked)
    if spiked.dtype != jnp.bool_:
        raise ValueError(f"deliver_delayed_group takes bool spikes, got {spiked.dtype} (float spikes: deliver_delayed)")
    max_delay = 0
    tables = []
    for j, (conn, post_start, pre_start, one) in enumerate(zip(conns, post_starts, pre_starts, delays)):
        if not isinstance(conn, Connectivity) or (conn.delay is None) == (one is None):
            raise ValueError(
                f"deliver_delayed_group: projection {j} needs a Connectivity with per-synapse delays or "
                f"delays[{j}] (one delay in steps), exactly one of the two"
            )
        target, spiked, _, _ = _check_call(target, conn, spiked, post_start, pre_start)
        if one is None:
            max_delay = max(max_delay, conn.max_delay)
            tables.append((conn.post_idx, jnp.asarray(conn.weight), conn.delay))
        else:
            one = check_int(f"delays[{j}]", one, lower=0, meaning="steps")
            max_delay = max(max_delay, one)
            tables.append((conn.post_idx, jnp.asarray(conn.weight), _one_delay(one)))
    ring, step = jnp.asarray(ring), jnp.asarray(step)
    if ring.ndim != 2 or ring.shape[0] < max(1, max_delay) or ring.dtype != target.dtype:
        raise ValueError(
            f"ring must be a 2-D (rows >= {max(1, max_delay)}, columns) {target.dtype} array (rows >= the largest "
            f"delay), got {ring.dtype} shape {ring.shape}"
        )
    columns = ring.shape[1]
    for conn, post_start in zip(conns, post_starts):
        if not (0 <= ring_origin <= post_start and post_start + conn.n_post <= ring_origin + columns <= target.shape[0]):
            raise ValueError(
                f"ring columns [{ring_origin}, {ring_origin + columns}) must cover every projection's targets "
                f"(here [{post_start}, {post_start + conn.n_post})) and lie in the target [0, {target.shape[0]})"
            )
    if step.shape != () or not jnp.issubdtype(step.dtype, jnp.integer):
        raise ValueError(f"step must be an integer scalar, got {step.dtype} shape {step.shape}")
    where = tuple((ps, c.n_post, pr, ps - ring_origin, False) for c, ps, pr in zip(conns, post_starts, pre_starts))
    return _deliver_delayed_group(where, int(ring_origin), int(rows), target, ring, tables, spiked,
                                  step.astype(jnp.int32))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _deliver_delayed_group(where, ring_origin, rows, target, ring, tables, spiked, step):
    n_total = target.shape[0]
    target, ring, slot = _arrive((ring_origin, 0, 0, 0, True), target, ring, step)
    locals_ = []
    for (_, _, pre_start, _, _), (post_idx, _, _) in zip(where, tables):
        s = jax.lax.slice_in_dim(spiked, pre_start, pre_start + post_idx.shape[0])
        rank = jnp.cumsum(s, dtype=jnp.int32) - 1  # the rank of each spiking row among this step's
        locals_.append((s, rank, rank[-1] + 1))
    n_chunks = functools.reduce(jnp.maximum, [(count + rows - 1) // rows for _, _, count in locals_])

    ring_size = ring.size

    def chunk(c, carry):
        # Two scatters, into the target (d = 0) and into the flat ring (d >= 1), rather than
        # one into concatenate([target, ring]): no copy of the ring in and out every step.
        target, flat_ring = carry
        to_target, to_ring, values = [], [], []
        for w_j, (post_idx, weight, delay), (s, rank, _) in zip(where, tables, locals_):
            n_pre = post_idx.shape[0]
            k = min(rows, n_pre)
            (picked,) = jnp.nonzero(s & (rank // rows == c), size=k, fill_value=n_pre)
            spiking = picked < n_pre
            picked = jnp.minimum(picked, n_pre - 1)
            d = delay[picked] if delay.ndim else delay
            dest = _delayed_targets(w_j, post_idx[picked], d, slot, ring.shape, n_total)
            dest = jnp.where(spiking[:, None], dest, n_total + ring_size).ravel()  # not spiking -> dropped
            to_target.append(jnp.where(dest < n_total, dest, n_total))
            to_ring.append(dest - n_total)  # negative (a target entry) or past the end: dropped
            w = weight[picked] if weight.ndim else jnp.broadcast_to(weight, spiking.shape + post_idx.shape[1:])
            values.append(w.astype(target.dtype).ravel())
        values = jnp.concatenate(values)
        to_ring = jnp.concatenate(to_ring)
        target = target.at[jnp.concatenate(to_target)].add(values, mode="drop")
        flat_ring = flat_ring.at[jnp.where(to_ring >= 0, to_ring, ring_size)].add(values, mode="drop")
        return target, flat_ring

    target, flat_ring = jax.lax.fori_loop(0, n_chunks, chunk, (target, ring.reshape(-1)))
    return target, flat_ring.reshape(ring.shape)


@functools.cache
def _ffi_call_delayed(post_start: int, n_post: int, pre_start: int, ring_start: int, arrive: bool, threads: int,
                      min_events: int):
    """The delayed FFI call, batched by `custom_vmap` as `_ffi_call` (target and ring are
    updated in place, so both get the output's batch shape; the rest broadcast)."""

    def call(target, ring, post_idx, weight, delay, spiked, step):
        return jax.ffi.ffi_call(
            FFI_TARGET_DELAYED,
            (jax.ShapeDtypeStruct(target.shape, target.dtype), jax.ShapeDtypeStruct(ring.shape, ring.dtype)),
            vmap_method="expand_dims",
            input_output_aliases={0: 0, 1: 1},
        )(target, ring, post_idx, weight, delay, spiked, step, post_start=np.int64(post_start),
          n_post=np.int64(n_post), pre_start=np.int64(pre_start), ring_start=np.int64(ring_start),
          arrive=np.int64(arrive), threads=np.int64(threads), min_events=np.int64(min_events))

    batched_call = jax.custom_batching.custom_vmap(call)

    @batched_call.def_vmap
    def rule(axis_size, in_batched, target, ring, post_idx, weight, delay, spiked, step):
        t_b, r_b, *rest_b = in_batched
        target = target if t_b else jnp.broadcast_to(target, (axis_size, *target.shape))
        ring = ring if r_b else jnp.broadcast_to(ring, (axis_size, *ring.shape))
        rest = [x if b else x[None] for x, b in zip((post_idx, weight, delay, spiked, step), rest_b)]
        return batched_call(target, ring, *rest), (True, True)

    return batched_call


if __name__ == "__main__":
    info = kernel_info()
    print(f"compiled delivery kernel: {'available' if info['available'] else 'NOT available'}")
    print(f"  library: {info['path']}" if info["available"] else f"  reason: {info['reason']}")
    sys.exit(0 if info["available"] else 1)
