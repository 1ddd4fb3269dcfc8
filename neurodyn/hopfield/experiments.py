"""Hopfield experiments: functions that return arrays (plots are in `plotting.py`).

- `capacity_curve`: retrieval from exact cues vs load α = P/N (the capacity curve).
- `basins`: retrieval vs fraction of flipped bits in the cue (basins of attraction).
- `spurious_states`: where the dynamics end from random starts (patterns, reversed
  patterns, mixtures, other spurious minima).
- `modern_retrieval`: one-step retrieval of P ≫ d patterns by the modern network vs β.
- `attention_equivalence`: one modern-Hopfield update vs the attention head Q = ξ, K = V = X.

Every experiment takes an explicit PRNG key and runs its loops inside `jit` (`vmap` or
`lax.map` over cues, `lax.map` over loads), so a whole curve is one compiled program.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._checks import check_positive
from .classical import (
    ClassicalHopfield,
    _as_patterns,
    _run_async_zero_temperature,
    _run_one,
    _storkey_rule,
    _zero_diagonal,
    hebbian,
    overlap,
    run,
    storkey,
)
from .modern import ModernHopfield, update_reference

# ----------------------------------------------------------------------------- helpers


def random_patterns(key: PRNGKeyArray, n_patterns: int, n_neurons: int) -> Float[Array, "p n"]:
    """P independent unbiased ±1 patterns (the ensemble of the capacity results)."""
    return jr.rademacher(key, (int(n_patterns), int(n_neurons)), dtype=jnp.float32)


@jax.jit  # one compiled program per pattern shape, not one per eager op and call
def flip_bits(key: PRNGKeyArray, pattern: Float[Array, "*batch n"], fraction: float) -> Float[Array, "*batch n"]:
    """Flip exactly round(fraction·N) randomly chosen bits of each ±1 pattern."""
    n = pattern.shape[-1]
    batch = pattern.shape[:-1]
    keys = jr.split(key, int(np.prod(batch, dtype=int)))
    n_flip = jnp.round(jnp.asarray(fraction) * n)
    flips = jax.vmap(lambda k: jr.permutation(k, n) < n_flip)(keys).reshape(batch + (n,))
    return jnp.where(flips, -pattern, pattern)


def _rule_for_padded(rule):
    # The unchecked rules accept zero-padded pattern sets (a zero row adds nothing), so one
    # compiled program handles every load of a capacity curve. Hebbian weights are used as
    # the integer counts ξᵀξ (N times the rule): at T = 0 and θ = 0 a positive scale leaves
    # every sign(h) unchanged, and integer fields are exact in float32, so ties h = 0
    # (h·N ≡ P(N−1) mod 2: they occur whenever that is even) keep the neuron as the rule
    # says instead of being decided by rounding.
    if rule is hebbian:
        return _hebbian_counts
    if rule is storkey:
        return _storkey_rule
    raise ValueError(f"rule must be neurodyn.hopfield.hebbian or storkey, got {rule!r}")


def _hebbian_counts(patterns):
    return _zero_diagonal(patterns.T @ patterns)


# ----------------------------------------------------------------------------- capacity


class CapacityCurve(eqx.Module):
    """Retrieval from exact cues vs load α = P/N.

    Each trial is one network being loaded up: a sequence of random patterns of which the
    first P are stored at load P/N. Its curve crosses 1/2 once (up to sampling noise), at
    that network's breakdown load (`critical_loads`).

    Fields:
        loads: (L,) α values actually used (P = round(α N), so α = P/N exactly).
        n_patterns: (L,) P for each load.
        fraction_retrieved: (L, trials) fraction of the stored patterns whose final overlap
            with themselves is ≥ min_overlap, one value per network.
        mean_overlap: (L, trials) mean final overlap m.
        fraction_converged: (L, trials) fraction of runs that ended at a fixed point within
            max_sweeps (1 unless the sweep limit was too small; a warning says so).
        n_neurons, min_overlap: the settings.
    """

    loads: Float[Array, " loads"]
    n_patterns: Int[Array, " loads"]
    fraction_retrieved: Float[Array, "loads trials"]
    mean_overlap: Float[Array, "loads trials"]
    fraction_converged: Float[Array, "loads trials"]
    n_neurons: int = eqx.field(static=True)
    min_overlap: float = eqx.field(static=True)

    @property
    def critical_load(self) -> float:
        """α where the trial-averaged fraction retrieved falls to 1/2 (`critical_load`)."""
        return critical_load(self.loads, self.fraction_retrieved.mean(-1))

    @property
    def critical_loads(self) -> np.ndarray:
        """(trials,) each network's breakdown load (`critical_load` of its own curve)."""
        f = np.asarray(self.fraction_retrieved)
        return np.array([critical_load(self.loads, f[:, t]) for t in range(f.shape[1])])

    @property
    def critical_load_sem(self) -> tuple[float, float]:
        """(mean, standard error) of `critical_loads` over the independent networks."""
        a = self.critical_loads
        sem = a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else float("nan")
        return float(a.mean()), float(sem)


def critical_load(loads: Float[Array, " loads"], fraction: Float[Array, " loads"]) -> float:
    """The load where `fraction` (retrieved) falls to 1/2, i.e. half the patterns fail.

    The first load with fraction ≤ 1/2, linearly interpolated from the load before it
    (fraction > 1/2). NaN if the fraction never reaches 1/2; the first load if it starts
    there.
    """
    loads, fraction = np.asarray(loads, float), np.asarray(fraction, float)
    reached = np.nonzero(fraction <= 0.5)[0]
    if reached.size == 0:
        return float("nan")
    j = int(reached[0])
    if j == 0:
        return float(loads[0])
    f0, f1 = fraction[j - 1], fraction[j]
    return float(loads[j - 1] + (f0 - 0.5) / (f0 - f1) * (loads[j] - loads[j - 1]))


def capacity_curve(
    key: PRNGKeyArray,
    n_neurons: int,
    loads: Sequence[float],
    *,
    rule: Callable = hebbian,
    n_trials: int = 4,
    max_sweeps: int = 200,
    synchronous: bool = False,
    min_overlap: float = 0.95,
) -> CapacityCurve:
    """Store P = αN random patterns, start from each one exactly, and see if it stays.

    A pattern counts as retrieved if the final overlap m = ξ·s/N ≥ `min_overlap` (the
    retrieval state at α_c = 0.138 has m ≈ 0.967, Amit et al. 1985). The dynamics are
    asynchronous at T = 0: neurons one at a time in a random order drawn from the key, a
    new order each sweep, until a sweep flips nothing (`run(..., synchronous=False)`,
    computed by skipping the neurons whose update would change nothing). Synchronous
    updates have the same fixed points but can end in 2-cycles, and their paths from
    unstable cues differ; they are available for comparison only.

    Arguments:
        key: PRNG key (patterns and update orders).
        n_neurons: N.
        loads: α values; each gives P = round(α N) ≥ 1 patterns.
        rule: `hebbian` or `storkey`.
        n_trials: independent networks; network t stores the first P patterns of its own
            random sequence at every load.
        max_sweeps: sweep limit per run (a run from an unstable cue near α_c can take a few
            dozen sweeps); runs that hit it are counted in `fraction_converged`.
        synchronous: synchronous updates instead (all neurons at once, a step per sweep).
        min_overlap: overlap counted as successful retrieval.
    """
    n = int(n_neurons)
    if n < 2:
        raise ValueError(f"capacity_curve: n_neurons must be >= 2, got {n_neurons}")
    counts = np.rint(np.asarray(loads, float) * n).astype(int)
    if counts.ndim != 1 or counts.size == 0 or counts.min() < 1:
        raise ValueError(
            f"capacity_curve: loads must be a non-empty 1-D sequence with round(load·N) >= 1, "
            f"got {list(np.atleast_1d(loads))} for N = {n}"
        )
    if int(n_trials) < 1:
        raise ValueError(f"capacity_curve: n_trials must be >= 1, got {n_trials}")
    if int(max_sweeps) < 1:
        raise ValueError(f"capacity_curve: max_sweeps must be >= 1, got {max_sweeps}")
    padded_rule = _rule_for_padded(rule)
    p_max = int(counts.max())
    n_loads, n_trials = counts.size, int(n_trials)
    pattern_keys = jr.split(jr.fold_in(key, 0), n_trials)
    run_keys = jr.split(jr.fold_in(key, 1), n_loads * n_trials)
    m, converged = _capacity_overlaps(
        jnp.tile(pattern_keys, n_loads), run_keys, jnp.repeat(jnp.asarray(counts), n_trials),
        n, p_max, padded_rule, int(max_sweeps), bool(synchronous),
    )
    p_all = jnp.repeat(jnp.asarray(counts), n_trials)
    real = jnp.arange(p_max)[None, :] < p_all[:, None]
    frac = jnp.sum((m >= min_overlap) & real, -1) / p_all
    mean = jnp.sum(jnp.where(real, m, 0.0), -1) / p_all
    conv = jnp.sum(converged & real, -1) / p_all
    n_stuck = int(jnp.sum(~converged & real))
    if n_stuck:
        why = ("synchronous runs can end in 2-cycles, which no sweep limit resolves"
               if synchronous else "increase max_sweeps")
        warnings.warn(
            f"capacity_curve: {n_stuck} runs did not reach a fixed point within max_sweeps = "
            f"{max_sweeps}; their final states are counted as they are (see "
            f"fraction_converged): {why}.",
            stacklevel=2,
        )
    shape = (n_loads, n_trials)
    return CapacityCurve(
        loads=jnp.asarray(counts / n),
        n_patterns=jnp.asarray(counts),
        fraction_retrieved=frac.reshape(shape),
        mean_overlap=mean.reshape(shape),
        fraction_converged=conv.reshape(shape),
        n_neurons=n,
        min_overlap=float(min_overlap),
    )


@eqx.filter_jit
def _capacity_overlaps(
    pattern_keys, run_keys, p_all, n, p_max, padded_rule, max_sweeps, synchronous
):
    def one_network(args):
        pattern_key, run_key, p = args
        real = (jnp.arange(p_max) < p)[:, None]
        patterns = jnp.where(real, random_patterns(pattern_key, p_max, n), 0.0)
        net = ClassicalHopfield(padded_rule(patterns))
        keys = jr.split(run_key, p_max)
        if synchronous:
            t = jnp.asarray(0.0)
            out = jax.vmap(lambda c, k: _run_one(net, c, k, max_sweeps, True, t))(patterns, keys)
        else:
            # one cue at a time: a vmapped loop would run every cue as long as the slowest
            fields = net.local_field(patterns)
            out = lax.map(
                lambda a: _run_async_zero_temperature(net, a[0], a[1], max_sweeps, a[2]),
                (patterns, keys, fields),
            )
        return jnp.sum(out.state * patterns, -1) / n, out.converged  # overlap with own cue

    return lax.map(one_network, (pattern_keys, run_keys, p_all))


# ----------------------------------------------------------------------------- basins


class Basins(eqx.Module):
    """Retrieval vs the fraction of flipped bits in the cue.

    Fields:
        flip_fractions: (F,) fraction of bits flipped in each cue.
        fraction_retrieved: (F,) fraction of cues ending with overlap ≥ min_overlap with the
            pattern they were made from.
        mean_overlap: (F,) mean final overlap with that pattern.
        final_overlaps: (F, P, repeats) every final overlap.
    """

    flip_fractions: Float[Array, " flips"]
    fraction_retrieved: Float[Array, " flips"]
    mean_overlap: Float[Array, " flips"]
    final_overlaps: Float[Array, "flips patterns repeats"]


def basins(
    key: PRNGKeyArray,
    net: ClassicalHopfield,
    patterns: Float[Array, "patterns neurons"],
    flip_fractions: Sequence[float],
    *,
    n_repeats: int = 4,
    max_sweeps: int = 60,
    synchronous: bool = False,
    min_overlap: float = 0.95,
) -> Basins:
    """Corrupt each stored pattern by flipping a fraction of its bits and run the net."""
    patterns = _as_patterns("basins", patterns)
    fr = np.asarray(flip_fractions, float)
    if fr.ndim != 1 or fr.size == 0 or fr.min() < 0 or fr.max() > 1:
        raise ValueError(f"basins: flip_fractions must be a 1-D list in [0, 1], got {flip_fractions}")
    cue_key, run_key = jr.split(key)
    p = patterns.shape[0]
    keys = jr.split(cue_key, fr.size)
    targets = jnp.broadcast_to(patterns[:, None, :], (p, int(n_repeats), patterns.shape[1]))
    cues = jax.vmap(lambda k, f: flip_bits(k, targets, f))(keys, jnp.asarray(fr))
    out = run(net, cues, run_key, max_sweeps=max_sweeps, synchronous=synchronous)
    m = jnp.sum(out.state * targets[None], -1) / patterns.shape[1]
    return Basins(
        flip_fractions=jnp.asarray(fr),
        fraction_retrieved=jnp.mean(m >= min_overlap, axis=(1, 2)),
        mean_overlap=jnp.mean(m, axis=(1, 2)),
        final_overlaps=m,
    )


# ----------------------------------------------------------------------------- spurious states


class SpuriousStates(eqx.Module):
    """Where runs from random initial states end.

    Fields:
        final_states: (S, N) the fixed points reached.
        top_overlaps: (S, 3) the three largest |m_μ| of each final state, descending.
        fraction_pattern / fraction_reversed: ended at a stored pattern (m ≥ 0.95) or its
            reverse (m ≤ −0.95): both are attractors since E(−s) = E(s).
        fraction_mixture: three overlaps with |m| ≥ 0.3 (the symmetric 3-mixture
            sign(±ξ¹ ± ξ² ± ξ³) has |m| = 1/2 with each of its three patterns).
        fraction_other: none of the above (spin-glass states).
        mixture_is_fixed_point: whether sign(ξ¹ + ξ² + ξ³) is a fixed point of the net.
    """

    final_states: Float[Array, "starts neurons"]
    top_overlaps: Float[Array, "starts 3"]
    fraction_pattern: Float[Array, ""]
    fraction_reversed: Float[Array, ""]
    fraction_mixture: Float[Array, ""]
    fraction_other: Float[Array, ""]
    mixture_is_fixed_point: Float[Array, ""]


def spurious_states(
    key: PRNGKeyArray,
    net: ClassicalHopfield,
    patterns: Float[Array, "patterns neurons"],
    *,
    n_starts: int = 200,
    max_sweeps: int = 60,
) -> SpuriousStates:
    """Run asynchronous dynamics from random states and classify the end points."""
    patterns = _as_patterns("spurious_states", patterns)
    if patterns.shape[0] < 3:
        raise ValueError(f"spurious_states: needs at least 3 patterns, got {patterns.shape[0]}")
    start_key, run_key = jr.split(key)
    starts = random_patterns(start_key, n_starts, patterns.shape[1])
    out = run(net, starts, run_key, max_sweeps=max_sweeps)
    return _classify_end_points(net, patterns, out.state)


@eqx.filter_jit
def _classify_end_points(net: ClassicalHopfield, patterns, states) -> SpuriousStates:
    m = overlap(patterns, states)
    signed_top = jnp.take_along_axis(m, jnp.argmax(jnp.abs(m), -1)[:, None], -1)[:, 0]
    top3 = -jnp.sort(-jnp.abs(m), axis=-1)[:, :3]
    is_pattern = signed_top >= 0.95
    is_reversed = signed_top <= -0.95
    is_mixture = ~is_pattern & ~is_reversed & (top3[:, 2] >= 0.3)
    mixture = jnp.sign(patterns[0] + patterns[1] + patterns[2])
    h = net.local_field(mixture)
    fixed = jnp.all(jnp.where(h == 0, True, jnp.sign(h) == mixture))
    return SpuriousStates(
        final_states=states,
        top_overlaps=top3,
        fraction_pattern=jnp.mean(is_pattern),
        fraction_reversed=jnp.mean(is_reversed),
        fraction_mixture=jnp.mean(is_mixture),
        fraction_other=jnp.mean(~is_pattern & ~is_reversed & ~is_mixture),
        mixture_is_fixed_point=fixed,
    )


# ----------------------------------------------------------------------------- modern


class ModernRetrieval(eqx.Module):
    """One-step retrieval by the modern Hopfield network, per β.

    Fields:
        betas: (B,) inverse temperatures.
        accuracy: (B,) fraction of cues whose single update has sign equal to the target
            pattern in every component (exact retrieval of a ±1 pattern).
        mean_error: (B,) mean over cues of max_i |ξ_new,i − x_i| (0 = exact pattern).
        mean_overlap: (B,) mean x·ξ_new / d.
    """

    betas: Float[Array, " betas"]
    accuracy: Float[Array, " betas"]
    mean_error: Float[Array, " betas"]
    mean_overlap: Float[Array, " betas"]


def modern_retrieval(
    key: PRNGKeyArray,
    dim: int,
    n_patterns: int,
    betas: Sequence[float],
    *,
    corruption: float = 0.25,
    n_cues: int = 256,
) -> ModernRetrieval:
    """Store P random ±1 patterns of dimension d, cue with `corruption` of the bits
    flipped, apply one update and compare with the original pattern."""
    b = np.asarray(betas, float)
    if b.ndim != 1 or b.size == 0 or not np.all(b > 0):
        raise ValueError(f"modern_retrieval: betas must be a 1-D list of values > 0, got {betas}")
    if not 0 <= corruption <= 1:
        raise ValueError(f"modern_retrieval: corruption must lie in [0, 1], got {corruption}")
    acc, err, m = _modern_retrieval(key, int(dim), int(n_patterns), min(int(n_cues), int(n_patterns)),
                                    jnp.asarray(corruption, jnp.float32), jnp.asarray(b, jnp.float32))
    return ModernRetrieval(betas=jnp.asarray(b), accuracy=acc, mean_error=err, mean_overlap=m)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _modern_retrieval(key, dim: int, n_patterns: int, n_cues: int, corruption, betas):
    """(accuracy, mean error, mean overlap) per β, as one compiled program."""
    pat_key, pick_key, flip_key = jr.split(key, 3)
    patterns = random_patterns(pat_key, n_patterns, dim)
    which = jr.choice(pick_key, n_patterns, (n_cues,), replace=False)
    targets = patterns[which]
    cues = flip_bits(flip_key, targets, corruption)

    def per_beta(beta):
        new = ModernHopfield(patterns, beta=beta).update(cues)
        exact = jnp.all(jnp.sign(new) == targets, -1)
        err = jnp.max(jnp.abs(new - targets), -1)
        return jnp.mean(exact), jnp.mean(err), jnp.mean(jnp.sum(new * targets, -1) / dim)

    return jax.vmap(per_beta)(betas)


def modern_capacity_curve(
    key: PRNGKeyArray,
    dim: int,
    loads: Sequence[float],
    *,
    beta: float,
    corruption: float = 0.0,
    n_cues: int = 256,
) -> Float[Array, " loads"]:
    """Fraction of exactly retrieved patterns after one update vs load P/d (modern net)."""
    check_positive("beta", beta, owner="modern_capacity_curve")
    keys = jr.split(key, len(loads))
    return jnp.stack([
        modern_retrieval(k, dim, max(2, int(round(a * dim))), [beta],
                         corruption=corruption, n_cues=n_cues).accuracy[0]
        for k, a in zip(keys, loads)
    ])


def attention_equivalence(
    key: PRNGKeyArray, dim: int = 64, n_patterns: int = 256, n_queries: int = 32, beta: float = 0.125
) -> tuple[Float[Array, "queries dim"], Float[Array, "queries dim"], float]:
    """One modern-Hopfield update vs the transformer attention head Q = ξ, K = V = X.

    Returns (update written as X softmax(β Xᵀ ξ), attention output, max |difference|).
    """
    pat_key, q_key = jr.split(key)
    patterns = jr.normal(pat_key, (n_patterns, dim))
    queries = jr.normal(q_key, (n_queries, dim))
    reference = jax.vmap(lambda q: update_reference(patterns, q, beta))(queries)
    from ..attention import dot_product_attention

    attended, _ = dot_product_attention(queries, patterns, patterns, scale=beta)
    return reference, attended, float(jnp.max(jnp.abs(reference - attended)))
