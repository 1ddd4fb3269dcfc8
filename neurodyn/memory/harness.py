"""One interface for every associative memory, and one set of measurements.

Every model (classical, continuous and spiking Hopfield networks, dense associative
memories, an attention head) is an `AbstractMemory`:

    memory = model.store(patterns, mask)           # patterns (P, N), mask (P,) real rows
    result = model.retrieve(memory, cue, key)      # one cue (N,) -> `Retrieval`

`mask` marks the real patterns of a zero-padded set, so a whole capacity curve (every load
P/N, every trial) runs as one compiled program: the pattern axis is padded to the largest
P and each model ignores the padding (a zero row adds nothing to Hebbian weights; masked
similarities get zero separation weight).

Measurements (all batched: cues with `vmap`, or `lax.map` for models whose per-cue loops
differ a lot in length; loads and trials with `lax.map`; nothing recompiles per load):

- overlap m = cos(output, target) = output·target / (‖output‖‖target‖); for ±1 outputs
  and ±1 patterns m = ξ·s/N, the overlap of Amit, Gutfreund & Sompolinsky (1985). A cue
  counts as *retrieved* when m ≥ `min_overlap` (default 0.95, the criterion of
  `neurodyn.hopfield.capacity_curve`; the retrieval state at α_c = 0.138 has m ≈ 0.967).
- `capacity_curve`: fraction retrieved vs load P/N and the critical load where half fail.
- `robustness`: fraction retrieved vs cue corruption (flip, gaussian, mask, mask_half).
- `basin`: the largest flip fraction from which ≥ 90 % of cues are still retrieved.
- `spurious_rate`: from random cues, the fraction of runs that end near no stored pattern
  (nor, for sign-symmetric binary models, its reverse): spurious, mixture or metastable.
- `cost`: update steps (or simulated ms), operations (FLOPs, or synaptic events for
  spiking models) and wall time per retrieval, and bytes of the stored representation.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Sequence
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray, PyTree

from .._checks import check_int
from .patterns import binarise_cue, corrupt, random_patterns

MIN_OVERLAP = 0.95
BASIN_FRACTION = 0.9


class Retrieval(eqx.Module):
    """What one retrieval returns (leading batch axes when batched).

    Fields:
        output: the retrieved pattern (±1 spins, a continuous vector, or a spike-count
            read-out), same length N as the cue.
        n_steps: update steps performed (sweeps of N single-neuron updates, synchronous
            steps, or integration steps of dt for simulated models).
        time_ms: simulated time to converge in ms (NaN for models without a clock).
        operations: work of this retrieval: floating-point operations (2 per
            multiply-add), or synaptic events (spikes × targets) for spiking models.
        converged: whether the run settled (a fixed point, or a stable read-out).
        trajectory: optional (steps, N) states or read-outs along the way.
    """

    output: Float[Array, "*batch neurons"]
    n_steps: Int[Array, "*batch"]
    time_ms: Float[Array, "*batch"]
    operations: Float[Array, "*batch"]
    converged: Bool[Array, "*batch"]
    trajectory: Float[Array, "*batch steps neurons"] | None = None


class AbstractMemory(eqx.Module):
    """An associative memory: `store` patterns, `retrieve` one from a cue.

    Class variables:
        binary: cues must be ±1 spins (the harness passes `binarise_cue(cue)` to it).
        symmetric: −ξ is an attractor whenever ξ is (so a reversed pattern is a stored
            state, not a spurious one, when counting spurious end points).
        operation_unit: "flop" or "synaptic event".
        sequential_cues: batch cues with `lax.map` instead of `vmap` (loops whose length
            differs a lot between cues would run as long as the slowest under vmap).
    """

    binary: ClassVar[bool]
    symmetric: ClassVar[bool]
    operation_unit: ClassVar[str]
    sequential_cues: ClassVar[bool] = False

    @property
    @abc.abstractmethod
    def label(self) -> str:
        """A short name for tables and legends."""

    @abc.abstractmethod
    def store(
        self, patterns: Float[Array, "patterns neurons"], mask: Bool[Array, " patterns"]
    ) -> PyTree:
        """The stored representation of the real rows (mask True) of `patterns`."""

    @abc.abstractmethod
    def retrieve(self, memory: PyTree, cue: Float[Array, " neurons"], key: PRNGKeyArray) -> Retrieval:
        """Run from one cue and return what came back."""

    @abc.abstractmethod
    def memory_bytes(self, n_patterns: int, n_neurons: int) -> int:
        """Bytes of the stored representation of P patterns of N components (float32)."""


# ----------------------------------------------------------------------------- overlaps


def overlap(
    target: Float[Array, "*batch neurons"], output: Float[Array, "*batch neurons"]
) -> Float[Array, "*batch"]:
    """m = cos(output, target); ξ·s/N for ±1 vectors; 0 when either is the zero vector."""
    num = jnp.sum(target * output, -1)
    den = jnp.linalg.norm(target, axis=-1) * jnp.linalg.norm(output, axis=-1)
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 0.0)


def _check_model(owner: str, model) -> None:
    if not isinstance(model, AbstractMemory):
        raise TypeError(f"{owner}: model must be an AbstractMemory, got {type(model).__name__}")


def _check_min_overlap(owner: str, min_overlap: float) -> float:
    m = float(min_overlap)
    if not 0.0 < m <= 1.0:
        raise ValueError(f"{owner}: min_overlap must lie in (0, 1], got {min_overlap}")
    return m


def _check_corruption(owner: str, kind: str, levels) -> None:
    from .patterns import CORRUPTIONS

    if kind not in CORRUPTIONS:
        raise ValueError(f"{owner}: corruption kind must be one of {sorted(CORRUPTIONS)}, got {kind!r}")
    lv = np.atleast_1d(np.asarray(levels, float))
    if not np.all(np.isfinite(lv)) or lv.min() < 0 or (kind != "gaussian" and lv.max() > 1):
        allowed = "finite and >= 0" if kind == "gaussian" else "in [0, 1] (a fraction of the components)"
        raise ValueError(f"{owner}: {kind} levels must be {allowed}, got {lv.tolist()}")


def _pattern_sets(owner: str, patterns, n_trials: int | None = None) -> Array:
    arr = jnp.asarray(patterns, jnp.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(
            f"{owner}: patterns must have shape (patterns, neurons) or (trials, patterns, "
            f"neurons), got shape {np.shape(patterns)}"
        )
    if not bool(jnp.all(jnp.isfinite(arr))):
        raise ValueError(f"{owner}: patterns must be finite, got NaN or inf")
    return arr


def random_pattern_sets(key: PRNGKeyArray, n_trials: int, n_patterns: int, n_neurons: int) -> Array:
    """(trials, P, N) independent ±1 pattern sets, one per trial."""
    n_trials = check_int("n_trials", n_trials, lower=1, owner="random_pattern_sets")
    keys = jr.split(key, n_trials)
    return jnp.stack([random_patterns(k, n_patterns, n_neurons) for k in keys])


# ----------------------------------------------------------------------------- one trial


def _retrieve_all(model, memory, cues, keys) -> Retrieval:
    one = lambda c, k: model.retrieve(memory, c, k)
    if model.sequential_cues:
        return jax.lax.map(lambda a: one(*a), (cues, keys))
    return jax.vmap(one)(cues, keys)


KINDS = ("flip", "gaussian", "mask", "mask_half")


def _cues(model, key, targets, kind, level):
    """Corrupted cues; `kind` is an index into KINDS (traced: one program for all kinds)."""
    corrupt_key, coin_key = jr.split(key)
    branches = [lambda k, x, lv, name=name: corrupt(k, x, name, lv) for name in KINDS]
    cues = jax.lax.switch(kind, branches, corrupt_key, targets, level)
    return binarise_cue(coin_key, cues) if model.binary else cues


@eqx.filter_jit
def _trials(model, keys, pattern_sets, counts, levels, kinds):
    """Store the first `count` rows, cue every stored row at `level`, retrieve, compare.

    One element of the batch = (key, pattern set, count, level, kind); returns per-row
    overlaps, steps, time, operations, convergence and the best overlap with any stored
    pattern (padding rows included, masked by the caller).
    """

    def one(args):
        key, patterns, count, level, kind = args
        rows = jnp.arange(patterns.shape[0])
        mask = rows < count
        patterns = jnp.where(mask[:, None], patterns, 0.0)
        memory = model.store(patterns, mask)
        cue_key, run_key = jr.split(key)
        cues = _cues(model, cue_key, patterns, kind, level)
        out = _retrieve_all(model, memory, cues, jr.split(run_key, patterns.shape[0]))
        # best overlap with any stored pattern (reversed ones too for symmetric models)
        m_all = jax.vmap(lambda o: overlap(patterns, o[None, :]))(out.output)  # (cues, P)
        m_all = jnp.abs(m_all) if model.symmetric else m_all
        best = jnp.max(jnp.where(mask[None, :], m_all, -jnp.inf), -1)
        return (overlap(patterns, out.output), out.n_steps, out.time_ms, out.operations,
                out.converged, best)

    return jax.lax.map(one, (keys, pattern_sets, counts, levels, kinds))


class MemoryCurve(eqx.Module):
    """Retrieval statistics over a swept variable (load, or corruption level).

    Fields (each (points, trials) unless stated):
        x: (points,) the swept values (P/N, or corruption level).
        fraction_retrieved: fraction of the stored patterns with final overlap ≥ min_overlap.
        mean_overlap: mean final overlap.
        mean_steps, mean_time_ms, mean_operations: mean cost per retrieval (time: over
            the runs that settled; NaN for models without a clock).
        fraction_converged: fraction of runs that settled.
        fraction_spurious: fraction of runs ending near none of the stored patterns (best
            overlap with any of them, or with a reversed one for `symmetric` models,
            < min_overlap): spurious, mixture or metastable end points.
        min_overlap: the retrieval criterion.
    """

    x: Float[np.ndarray, " points"]
    fraction_retrieved: Float[np.ndarray, "points trials"]
    mean_overlap: Float[np.ndarray, "points trials"]
    mean_steps: Float[np.ndarray, "points trials"]
    mean_time_ms: Float[np.ndarray, "points trials"]
    mean_operations: Float[np.ndarray, "points trials"]
    fraction_converged: Float[np.ndarray, "points trials"]
    fraction_spurious: Float[np.ndarray, "points trials"]
    min_overlap: float = eqx.field(static=True)

    @property
    def critical_load(self) -> float:
        """x where the trial-averaged fraction retrieved first falls to 1/2 (linear
        interpolation; NaN if it never does), as `neurodyn.hopfield.critical_load`."""
        from ..hopfield import critical_load

        return critical_load(self.x, self.fraction_retrieved.mean(-1))


def _summarise(x, counts, out, n_points, n_trials, min_overlap) -> MemoryCurve:
    m, steps, t_ms, ops, conv, best = (np.asarray(a, float) for a in out)
    real = np.arange(m.shape[1])[None, :] < np.asarray(counts)[:, None]
    n_real = real.sum(-1)

    def mean(a):
        return (np.where(real, a, 0.0).sum(-1) / n_real).reshape(n_points, n_trials)

    def mean_finite(a):  # time to converge: NaN (never settled, or no clock) left out
        ok = real & np.isfinite(a)
        with np.errstate(invalid="ignore"):
            out = np.where(ok, a, 0.0).sum(-1) / ok.sum(-1)
        return out.reshape(n_points, n_trials)

    return MemoryCurve(
        x=np.asarray(x, float),
        fraction_retrieved=mean(m >= min_overlap),
        mean_overlap=mean(m),
        mean_steps=mean(steps),
        mean_time_ms=mean_finite(t_ms),
        mean_operations=mean(ops),
        fraction_converged=mean(conv),
        fraction_spurious=mean(best < min_overlap),
        min_overlap=min_overlap,
    )


def capacity_curve(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "*trials patterns neurons"],
    n_patterns: Sequence[int],
    *,
    corruption: tuple[str, float] = ("flip", 0.0),
    min_overlap: float = MIN_OVERLAP,
) -> MemoryCurve:
    """Fraction retrieved vs load: store the first P rows of each trial's pattern set.

    Loads are bucketed by factors of 8 below the largest P: the pattern axis is padded to
    the bucket size and masked, so a curve compiles once per bucket, never once per load.

    Every stored pattern is cued (corrupted by `corruption` = (kind, level); default exact
    cues, the protocol of `neurodyn.hopfield.capacity_curve`) and retrieved. Each trial is
    one memory being loaded up with its own pattern sequence.

    Arguments:
        model: the memory.
        key: PRNG key (cue corruption, update orders, noise).
        patterns: (P_max, N) or (trials, P_max, N) pattern sets (`random_pattern_sets`).
        n_patterns: the loads as pattern counts P, each in [1, P_max].
        corruption: (kind, level), kind in {"flip", "gaussian", "mask", "mask_half"}.
        min_overlap: overlap counted as retrieved.

    Returns:
        `MemoryCurve` with x = P/N.
    """
    _check_model("capacity_curve", model)
    min_overlap = _check_min_overlap("capacity_curve", min_overlap)
    sets = _pattern_sets("capacity_curve", patterns)
    n_trials, p_max, n = sets.shape
    counts = np.asarray(n_patterns, int)
    if counts.ndim != 1 or counts.size == 0 or counts.min() < 1 or counts.max() > p_max:
        raise ValueError(
            f"capacity_curve: n_patterns must be a non-empty list of counts in [1, {p_max}] "
            f"(the patterns per set), got {list(np.atleast_1d(n_patterns))}"
        )
    kind, level = corruption
    _check_corruption("capacity_curve", kind, level)
    # bucket the loads by powers of 8 below P_max: one compiled program per bucket, the
    # pattern axis padded to the bucket's size and masked (compiling costs more than the
    # padded work at these sizes; a bucket spans a factor 8 of P)
    buckets = np.array([int(np.ceil(p_max / 8 ** int(np.floor(np.log(p_max / c) / np.log(8))))) for c in counts])
    buckets = np.maximum(buckets, counts)
    keys = jr.split(key, counts.size * n_trials).reshape(counts.size, n_trials)
    parts = [None] * counts.size
    for size in np.unique(buckets):
        idx = np.nonzero(buckets == size)[0]
        c = np.repeat(counts[idx], n_trials)
        out = _trials(model, keys[idx].reshape(-1), jnp.tile(sets[:, :size], (idx.size, 1, 1)),
                      jnp.asarray(c), jnp.full(c.size, float(level), jnp.float32),
                      jnp.full(c.size, KINDS.index(kind)))
        out = [np.asarray(a, float) for a in out]
        for k, i in enumerate(idx):
            rows = slice(k * n_trials, (k + 1) * n_trials)
            parts[i] = [np.pad(a[rows], ((0, 0), (0, p_max - size)), constant_values=np.nan) for a in out]
    out = [np.concatenate([part[f] for part in parts]) for f in range(6)]
    all_counts = np.repeat(counts, n_trials)
    return _summarise(counts / n, all_counts, out, counts.size, n_trials, min_overlap)


def robustness(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "*trials patterns neurons"],
    kind: str,
    levels: Sequence[float],
    *,
    min_overlap: float = MIN_OVERLAP,
) -> MemoryCurve:
    """Fraction retrieved vs corruption level: store all rows, cue each one corrupted.

    Arguments:
        patterns: (P, N) or (trials, P, N) pattern sets, all stored.
        kind: "flip" (fraction of signs flipped), "gaussian" (noise σ), "mask" (fraction
            set to 0) or "mask_half" (the last fraction set to 0).
        levels: the corruption levels.

    Returns:
        `MemoryCurve` with x = levels.
    """
    return robustness_many(model, key, patterns, {kind: levels}, min_overlap=min_overlap)[kind]


def robustness_many(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "*trials patterns neurons"],
    levels: dict[str, Sequence[float]],
    *,
    min_overlap: float = MIN_OVERLAP,
    timed: bool = False,
) -> dict:
    """`robustness` for several corruption kinds at once ({kind: levels}), as one compiled
    program. With `timed`, the program is run a second time and "wall_s_per_retrieval"
    (that run's wall time over the number of retrievals, cue corruption included) is added
    to the returned dict."""
    _check_model("robustness", model)
    min_overlap = _check_min_overlap("robustness", min_overlap)
    sets = _pattern_sets("robustness", patterns)
    n_trials, p, _ = sets.shape
    all_levels, all_kinds, sizes = [], [], {}
    for kind, lv in levels.items():
        lv = np.asarray(lv, float)
        if lv.ndim != 1 or lv.size == 0:
            raise ValueError(f"robustness: levels must be a non-empty 1-D list, got {lv.tolist()}")
        _check_corruption("robustness", kind, lv)
        sizes[kind] = lv
        all_levels.append(np.repeat(lv, n_trials))
        all_kinds.append(np.full(lv.size * n_trials, KINDS.index(kind)))
    lv_all, kinds = np.concatenate(all_levels), np.concatenate(all_kinds)
    m = lv_all.size // n_trials
    args = (model, jr.split(key, lv_all.size), jnp.tile(sets, (m, 1, 1)), jnp.full(lv_all.size, p),
            jnp.asarray(lv_all, jnp.float32), jnp.asarray(kinds))
    out = [np.asarray(a, float) for a in _trials(*args)]
    result, start = {}, 0
    for kind, lv in sizes.items():
        rows = slice(start * n_trials, (start + lv.size) * n_trials)
        result[kind] = _summarise(lv, np.full(lv.size * n_trials, p), [a[rows] for a in out],
                                  lv.size, n_trials, min_overlap)
        start += lv.size
    if timed:
        t = time.perf_counter()
        jax.block_until_ready(_trials(*args))
        result["wall_s_per_retrieval"] = (time.perf_counter() - t) / (lv_all.size * p)
    return result


def basin(curve: MemoryCurve, fraction: float = BASIN_FRACTION) -> float:
    """The largest level of a flip `robustness` curve at which the trial-averaged fraction
    retrieved is still ≥ `fraction` (default 0.9), counting only the levels before the
    first failure; NaN if even the first level fails."""
    f = curve.fraction_retrieved.mean(-1)
    ok = f >= fraction
    if not ok[0]:
        return float("nan")
    first_fail = np.argmin(ok) if not ok.all() else ok.size
    return float(curve.x[first_fail - 1])


@eqx.filter_jit
def _random_starts(model, key, patterns, n_starts):
    start_key, run_key = jr.split(key)
    if model.binary:
        cues = random_patterns(start_key, n_starts, patterns.shape[1])
    else:  # a random point with the patterns' per-component mean and spread
        mu, sd = patterns.mean(0), patterns.std(0) + 1e-6
        cues = mu + sd * jr.normal(start_key, (n_starts, patterns.shape[1]))
    memory = model.store(patterns, jnp.ones(patterns.shape[0], bool))
    out = _retrieve_all(model, memory, cues, jr.split(run_key, n_starts))
    m = jax.vmap(lambda o: overlap(patterns, o[None, :]))(out.output)  # (starts, P)
    return m


def spurious_rate(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "patterns neurons"],
    *,
    n_starts: int = 64,
    min_overlap: float = MIN_OVERLAP,
) -> float:
    """Fraction of runs from random starts that end near none of the stored patterns.

    Random ±1 starts for binary models, Gaussian starts with the patterns' per-component
    mean and spread otherwise. An end point is a stored state if its overlap with some
    pattern is ≥ min_overlap (or ≤ −min_overlap for `symmetric` models, whose reversed
    patterns are attractors too); everything else (mixtures, spin-glass states, metastable
    averages of many patterns) counts as spurious.
    """
    _check_model("spurious_rate", model)
    min_overlap = _check_min_overlap("spurious_rate", min_overlap)
    sets = _pattern_sets("spurious_rate", patterns)
    if sets.shape[0] != 1:
        raise ValueError("spurious_rate: pass one pattern set (patterns, neurons)")
    n_starts = check_int("n_starts", n_starts, lower=1, owner="spurious_rate")
    m = np.asarray(_random_starts(model, key, sets[0], n_starts))
    best = np.abs(m).max(-1) if model.symmetric else m.max(-1)
    return float(np.mean(best < min_overlap))


def wall_time_per_retrieval(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "patterns neurons"],
    *,
    repeats: int = 3,
) -> float:
    """Median wall seconds per retrieval of a batch cueing every pattern (after compiling),
    retrievals batched as in the measurements (vmap or lax.map)."""
    _check_model("wall_time_per_retrieval", model)
    sets = _pattern_sets("wall_time_per_retrieval", patterns)
    p = sets.shape[1]

    @eqx.filter_jit
    def batch(model, key, patterns):
        memory = model.store(patterns, jnp.ones(p, bool))
        cues = _cues(model, key, patterns, 0, 0.1)  # 10 % flipped
        return _retrieve_all(model, memory, cues, jr.split(key, p)).output

    jax.block_until_ready(batch(model, key, sets[0]))
    times = []
    for r in range(int(repeats)):
        t = time.perf_counter()
        jax.block_until_ready(batch(model, jr.fold_in(key, r), sets[0]))
        times.append(time.perf_counter() - t)
    return float(np.median(times)) / p


def cost(
    model: AbstractMemory,
    key: PRNGKeyArray,
    patterns: Float[Array, "patterns neurons"],
    *,
    flip_fraction: float = 0.1,
    repeats: int = 3,
) -> dict:
    """Cost of retrieving every pattern of one set from `flip_fraction`-flipped cues.

    Returns a dict: mean update steps, mean simulated ms to converge (NaN without a
    clock), mean operations and their unit, median wall seconds per retrieval, bytes of
    the stored representation, and the fraction retrieved in the same runs.
    """
    sets = _pattern_sets("cost", patterns)
    p, n = sets.shape[1:]
    curve = robustness(model, key, sets[:1], "flip", [flip_fraction])
    return {
        "steps": float(curve.mean_steps.mean()),
        "time_ms": float(curve.mean_time_ms.mean()),
        "operations": float(curve.mean_operations.mean()),
        "operation_unit": model.operation_unit,
        "wall_s_per_retrieval": wall_time_per_retrieval(model, key, sets[0], repeats=repeats),
        "memory_bytes": int(model.memory_bytes(p, n)),
        "fraction_retrieved": float(curve.fraction_retrieved.mean()),
    }


__all__ = [
    "AbstractMemory", "MemoryCurve", "Retrieval", "basin", "capacity_curve", "cost",
    "overlap", "random_pattern_sets", "robustness", "robustness_many", "spurious_rate", "wall_time_per_retrieval",
]

