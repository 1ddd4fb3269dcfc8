"""Classical binary Hopfield network (Hopfield 1982).

N binary neurons s_i ∈ {−1, +1}, symmetric weights with zero diagonal, thresholds θ:

    h_i = Σ_j w_ij s_j − θ_i                    (local field)
    s_i ← sign(h_i)                             (zero temperature; s_i kept when h_i = 0)
    P(s_i = +1) = 1 / (1 + exp(−2 h_i / T))     (Glauber dynamics at temperature T > 0)
    E(s) = −½ sᵀ W s + θᵀ s                     (never increases under asynchronous updates)

Learning rules for P patterns ξ^μ ∈ {−1, +1}^N (rows of `patterns`):

    Hebbian (Hopfield 1982):  w_ij = (1/N) Σ_μ ξ_i^μ ξ_j^μ,  w_ii = 0.
        Capacity with random patterns α_c = P/N ≈ 0.138 (Amit, Gutfreund & Sompolinsky 1985).
    Storkey (1997), one pattern at a time:
        w_ij ← w_ij + (1/N)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j),  h_ij = Σ_{k≠i,j} w_ik ξ_k.
        Local and incremental like Hebb's rule, but stores more patterns.

Why the energy never increases: flipping s_i alone changes E by ΔE = −Δs_i h_i (w_ii = 0,
W symmetric), and a zero-temperature update flips s_i only to the sign of h_i, so ΔE ≤ 0.
Synchronous updates (all neurons at once) can instead end in 2-cycles.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .._checks import (
    check_binary,
    check_finite_array,
    check_last_dim,
    check_ndim,
    check_positive,
    concrete,
)

Spins = Float[Array, "*batch neurons"]


# ----------------------------------------------------------------------------- learning rules


def _as_patterns(owner: str, patterns) -> Float[Array, "patterns neurons"]:
    check_ndim("patterns", patterns, (2,), "(n_patterns, n_neurons)", owner=owner)
    check_binary("patterns", patterns, owner=owner)
    patterns = jnp.asarray(patterns)
    if not jnp.issubdtype(patterns.dtype, jnp.floating):
        patterns = patterns.astype(float)
    return patterns


def hebbian(patterns: Float[ArrayLike, "patterns neurons"]) -> Float[Array, "neurons neurons"]:
    """Hebbian weights w = (1/N) Σ_μ ξ^μ ξ^μᵀ with zero diagonal (Hopfield 1982).

    Arguments:
        patterns: (P, N) array of ±1 patterns, one per row.

    Returns:
        (N, N) symmetric weight matrix with w_ii = 0.
    """
    return _hebbian_rule(_as_patterns("hebbian", patterns))


def _hebbian_rule(patterns):
    # Unchecked: zero rows (padding) add nothing.
    return _zero_diagonal(patterns.T @ patterns / patterns.shape[1])


def storkey(patterns: Float[ArrayLike, "patterns neurons"]) -> Float[Array, "neurons neurons"]:
    """Storkey's incremental learning rule (Storkey 1997), patterns added in row order.

        w_ij ← w_ij + (1/N)(ξ_i ξ_j − ξ_i h_ji − h_ij ξ_j),   h_ij = Σ_{k≠i,j} w_ik ξ_k

    The diagonal is kept at zero after each pattern. One `lax.scan` over the patterns,
    O(P N²) work.

    Arguments:
        patterns: (P, N) array of ±1 patterns, one per row.

    Returns:
        (N, N) symmetric weight matrix with w_ii = 0.
    """
    return _storkey_rule(_as_patterns("storkey", patterns))


def _storkey_rule(patterns):
    # Unchecked: a zero row (padding) leaves the weights unchanged.
    n = patterns.shape[1]

    def add_pattern(weights, xi):
        field = weights @ xi  # h_i = Σ_{k≠i} w_ik ξ_k since w_ii = 0
        # h_ij = Σ_{k≠i,j} w_ik ξ_k = h_i − w_ij ξ_j
        h = field[:, None] - weights * xi[None, :]
        delta = (jnp.outer(xi, xi) - xi[:, None] * h.T - h * xi[None, :]) / n
        return _zero_diagonal(weights + delta), None

    weights, _ = lax.scan(add_pattern, jnp.zeros((n, n), patterns.dtype), patterns)
    # The rule is symmetric in exact arithmetic; remove float rounding asymmetry.
    return 0.5 * (weights + weights.T)


def _zero_diagonal(weights):
    return weights * (1.0 - jnp.eye(weights.shape[0], dtype=weights.dtype))


# ----------------------------------------------------------------------------- the network


class ClassicalHopfield(eqx.Module):
    """A binary Hopfield network: symmetric zero-diagonal weights and thresholds.

    Fields:
        weights: (N, N) symmetric, w_ii = 0 (dimensionless).
        threshold: (N,) thresholds θ_i (same units as the local field); zero by default.

    Example:
        >>> net = ClassicalHopfield.from_patterns(patterns, rule=storkey)
        >>> out = run(net, cue, jax.random.key(0))
        >>> closest_pattern(patterns, out.state)
    """

    weights: Float[Array, "neurons neurons"]
    threshold: Float[Array, " neurons"]

    def __init__(
        self,
        weights: Float[ArrayLike, "neurons neurons"],
        threshold: Float[ArrayLike, "*neurons"] | None = None,
    ):
        check_ndim("weights", weights, (2,), "(n_neurons, n_neurons)", owner="ClassicalHopfield")
        weights = jnp.asarray(weights)
        if not jnp.issubdtype(weights.dtype, jnp.floating):
            weights = weights.astype(float)
        n = weights.shape[0]
        if weights.shape != (n, n):
            raise ValueError(
                f"ClassicalHopfield: weights must be square (n_neurons, n_neurons), "
                f"got shape {weights.shape}"
            )
        if threshold is None:
            threshold = jnp.zeros((n,), weights.dtype)
        threshold = jnp.asarray(threshold, weights.dtype)
        if threshold.ndim == 0:
            threshold = jnp.broadcast_to(threshold, (n,))
        self.weights, self.threshold = weights, threshold

    def __check_init__(self):
        n = self.weights.shape[0]
        if self.threshold.shape != (n,):
            raise ValueError(
                f"ClassicalHopfield: threshold must be a scalar or have shape ({n},) to "
                f"match weights {self.weights.shape}, got shape {self.threshold.shape}"
            )
        check_finite_array("weights", self.weights, owner="ClassicalHopfield")
        check_finite_array("threshold", self.threshold, owner="ClassicalHopfield")
        w = concrete(self.weights)
        if w is None:
            return
        scale = max(float(np.max(np.abs(w))), 1e-30)
        asym = float(np.max(np.abs(w - w.T))) if n else 0.0
        if asym > 1e-5 * scale:
            raise ValueError(
                "ClassicalHopfield: weights must be symmetric (w_ij = w_ji) so that the "
                f"energy is a Lyapunov function; got max |w_ij - w_ji| = {asym:.3g}"
            )
        diag = np.abs(np.diag(w))
        if n and diag.max() > 1e-6 * scale:
            raise ValueError(
                "ClassicalHopfield: weights must have a zero diagonal (no self-connections), "
                f"got max |w_ii| = {diag.max():.3g}"
            )

    @classmethod
    def from_patterns(
        cls,
        patterns: Float[ArrayLike, "patterns neurons"],
        rule: Callable[[Array], Array] = hebbian,
        threshold: Float[ArrayLike, "*neurons"] | None = None,
    ) -> ClassicalHopfield:
        """Store ±1 `patterns` (P, N) with a learning rule (`hebbian` or `storkey`)."""
        return cls(rule(patterns), threshold)

    @property
    def n_neurons(self) -> int:
        return self.weights.shape[0]

    def local_field(self, state: Float[ArrayLike, "*batch neurons"]) -> Float[Array, "*batch neurons"]:
        """h = W s − θ for one state or a batch of states."""
        check_last_dim("state", state, self.n_neurons, "the number of neurons", owner="ClassicalHopfield.local_field")
        return state @ self.weights - self.threshold  # W symmetric: (W s)_i = (s W)_i

    def energy(self, state: Float[ArrayLike, "*batch neurons"]) -> Float[Array, "*batch"]:
        """E(s) = −½ sᵀ W s + θᵀ s (Hopfield 1982)."""
        check_last_dim("state", state, self.n_neurons, "the number of neurons", owner="ClassicalHopfield.energy")
        return -0.5 * jnp.sum(state * (state @ self.weights), -1) + state @ self.threshold


# ----------------------------------------------------------------------------- dynamics


def _new_spin(field, current, uniform, temperature):
    """One neuron's update: sign(h) (kept at h = 0) or a Glauber draw at T > 0."""
    deterministic = jnp.where(field > 0, 1.0, jnp.where(field < 0, -1.0, current))
    safe_t = jnp.where(temperature > 0, temperature, 1.0)
    stochastic = jnp.where(uniform < jax.nn.sigmoid(2.0 * field / safe_t), 1.0, -1.0)
    return jnp.where(temperature > 0, stochastic, deterministic).astype(current.dtype)


def _sweep_inputs(key, n):
    perm_key, noise_key = jr.split(key)
    return jr.permutation(perm_key, n), jr.uniform(noise_key, (n,))


def _async_step(net: ClassicalHopfield, temperature):
    def step(state, i_u):
        i, u = i_u
        field = net.weights[i] @ state - net.threshold[i]
        return state.at[i].set(_new_spin(field, state[i], u, temperature))

    return step


def asynchronous_sweep(
    net: ClassicalHopfield,
    state: Float[ArrayLike, " neurons"],
    key: PRNGKeyArray,
    temperature: Float[ArrayLike, ""] = 0.0,
) -> Float[Array, " neurons"]:
    """Update every neuron once, one at a time, in a random order drawn from `key`.

    Arguments:
        net: the network.
        state: (N,) ±1 spins.
        key: PRNG key for the update order (and the Glauber draws when temperature > 0).
        temperature: T ≥ 0; 0 gives deterministic sign updates.
    """
    state = _as_state("asynchronous_sweep", net, state)
    step = _async_step(net, temperature)
    order, uniforms = _sweep_inputs(key, state.shape[-1])
    state, _ = lax.scan(lambda s, x: (step(s, x), None), state, (order, uniforms))
    return state


def synchronous_step(
    net: ClassicalHopfield,
    state: Float[ArrayLike, "*batch neurons"],
    key: PRNGKeyArray | None = None,
    temperature: Float[ArrayLike, ""] = 0.0,
) -> Float[Array, "*batch neurons"]:
    """Update all neurons at once (Little dynamics); `key` is needed only when T > 0."""
    return _synchronous_step(net, _as_state("synchronous_step", net, state), key, temperature)


def _synchronous_step(net, state, key, temperature):
    if key is None:
        uniforms = jnp.zeros(state.shape, state.dtype)
    else:
        uniforms = jr.uniform(key, state.shape, state.dtype)
    return _new_spin(net.local_field(state), state, uniforms, temperature)


def energy_trace(
    net: ClassicalHopfield,
    state: Float[ArrayLike, " neurons"],
    key: PRNGKeyArray,
    n_sweeps: int = 1,
    temperature: Float[ArrayLike, ""] = 0.0,
) -> Float[Array, " updates_plus_one"]:
    """Energy before and after every single-neuron asynchronous update.

    Uses the same update as `asynchronous_sweep` and evaluates the full energy
    −½ sᵀWs + θᵀs after each of the n_sweeps·N updates (O(N²) each: meant for plots and
    tests of the Lyapunov property, not for speed).

    Returns:
        (n_sweeps·N + 1,) energies, starting with E(state).
    """
    state = _as_state("energy_trace", net, state)
    n_sweeps = int(n_sweeps)
    if n_sweeps < 1:
        raise ValueError(f"energy_trace: n_sweeps must be >= 1, got {n_sweeps}")
    check_positive("temperature", temperature, allow_zero=True, owner="energy_trace")
    return _energy_trace(net, state, key, n_sweeps, jnp.asarray(temperature, state.dtype))


@eqx.filter_jit
def _energy_trace(net, state, key, n_sweeps, temperature):
    step = _async_step(net, temperature)
    keys = jr.split(key, n_sweeps)
    order, uniforms = jax.vmap(_sweep_inputs, (0, None))(keys, state.shape[-1])

    def body(s, x):
        s = step(s, x)
        return s, net.energy(s)

    _, energies = lax.scan(body, state, (order.reshape(-1), uniforms.reshape(-1)))
    return jnp.concatenate([net.energy(state)[None], energies])


class HopfieldRun(eqx.Module):
    """Result of `run`: the final state, how long it took, and whether it settled.

    Fields (each with the leading batch axes of the cue):
        state: final ±1 spins.
        n_sweeps: sweeps (asynchronous) or steps (synchronous) performed.
        converged: True if the last sweep changed no neuron, i.e. the state is a fixed point
            (at T > 0 this only says the last sweep happened to flip nothing).
        energy: (max_sweeps + 1,) energy before the first sweep and after each one; NaN
            after the run stopped.
    """

    state: Float[Array, "*batch neurons"]
    n_sweeps: Int[Array, "*batch"]
    converged: Bool[Array, "*batch"]
    energy: Float[Array, "*batch sweeps_plus_one"]


def run(
    net: ClassicalHopfield,
    cue: Float[ArrayLike, "*batch neurons"],
    key: PRNGKeyArray,
    *,
    max_sweeps: int = 100,
    synchronous: bool = False,
    temperature: Float[ArrayLike, ""] = 0.0,
) -> HopfieldRun:
    """Run the network from `cue` until a fixed point or `max_sweeps` sweeps.

    At zero temperature the run stops at the first sweep that changes nothing. At T > 0
    (Glauber dynamics) it always runs `max_sweeps` sweeps. A batch of cues (leading axes)
    is run in parallel with `vmap`, each with its own key split from `key`. One
    `lax.while_loop` inside one `jit`.

    Arguments:
        net: the network.
        cue: ±1 initial state(s), last axis N.
        key: PRNG key (update order, Glauber noise).
        max_sweeps: step limit (a sweep is N single-neuron updates, or one synchronous step).
        synchronous: update all neurons at once instead of one at a time in random order.
        temperature: T ≥ 0.

    Returns:
        HopfieldRun. Use `closest_pattern(patterns, result.state)` to see which stored
        pattern it reached and with which overlap m.
    """
    cue = _as_state("run", net, cue)
    max_sweeps = int(max_sweeps)
    if max_sweeps < 1:
        raise ValueError(f"run: max_sweeps must be >= 1, got {max_sweeps}")
    check_positive("temperature", temperature, allow_zero=True, owner="run")
    batch = cue.shape[:-1]
    flat = cue.reshape(-1, net.n_neurons)
    keys = jr.split(key, flat.shape[0])
    out = _run_batch(net, flat, keys, max_sweeps, bool(synchronous),
                     jnp.asarray(temperature, cue.dtype))
    return jax.tree.map(lambda x: x.reshape(batch + x.shape[1:]), out)


@eqx.filter_jit
def _run_batch(net, cues, keys, max_sweeps, synchronous, temperature):
    return jax.vmap(lambda c, k: _run_one(net, c, k, max_sweeps, synchronous, temperature))(
        cues, keys
    )


def _run_one(net, cue, key, max_sweeps, synchronous, temperature):
    energies = jnp.full((max_sweeps + 1,), jnp.nan, cue.dtype).at[0].set(net.energy(cue))

    def cond(carry):
        sweep, _, changed, _ = carry
        return (sweep < max_sweeps) & (changed | (temperature > 0))

    def body(carry):
        sweep, state, _, energies = carry
        sweep_key = jr.fold_in(key, sweep)
        if synchronous:
            new = _synchronous_step(net, state, sweep_key, temperature)
        else:
            new = asynchronous_sweep(net, state, sweep_key, temperature)
        changed = jnp.any(new != state)
        return sweep + 1, new, changed, energies.at[sweep + 1].set(net.energy(new))

    init = (jnp.asarray(0), cue, jnp.asarray(True), energies)
    sweeps, state, changed, energies = lax.while_loop(cond, body, init)
    return HopfieldRun(state=state, n_sweeps=sweeps, converged=~changed, energy=energies)


def _run_async_zero_temperature(net, cue, key, max_sweeps, field=None):
    """`_run_one(net, cue, key, max_sweeps, synchronous=False, temperature=0)`, faster.

    At T = 0 visiting a stable neuron (s_i h_i ≥ 0, ties kept) changes nothing, so a sweep
    in a given order is the same as flipping, in that order, only the neurons that are
    unstable when their turn comes. This loop jumps from one such neuron to the next and
    keeps the fields h = W s − θ current with one row of W per flip: O(N) work per flip
    instead of per neuron visited (near a stored pattern a few flips per sweep instead of
    N visits). The update orders come from the same keys as in `_run_one`, so the final
    state is the same; with integer-valued weights (Hebbian counts ξᵀξ) every field is
    exact in float32 and the two agree bit for bit (a test checks it). `field`, if given,
    is the precomputed W·cue − θ (a batch of cues gets it from one matrix product).
    """
    n = cue.shape[-1]
    energies = jnp.full((max_sweeps + 1,), jnp.nan, cue.dtype).at[0].set(net.energy(cue))

    def one_sweep(carry):
        sweep, state, field, _, energies = carry
        order, _ = _sweep_inputs(jr.fold_in(key, sweep), n)
        rank = jnp.zeros((n,), order.dtype).at[order].set(jnp.arange(n, dtype=order.dtype))

        def next_unstable(state, field, position):
            # the first neuron at or after `position` in this sweep's order that would flip
            turn = jnp.where((state * field < 0) & (rank >= position), rank, n)
            i = jnp.argmin(turn)
            return i, turn[i]

        def flip(c):
            state, field, i, turn, n_flips = c
            new = -state[i]
            state = state.at[i].set(new)
            field = field + 2.0 * new * net.weights[i]  # w_ii = 0: h_i itself is unchanged
            i, turn = next_unstable(state, field, turn + 1)
            return state, field, i, turn, n_flips + 1

        i, turn = next_unstable(state, field, 0)
        state, field, _, _, n_flips = lax.while_loop(
            lambda c: c[3] < n, flip, (state, field, i, turn, jnp.asarray(0))
        )
        energy = -0.5 * jnp.sum(state * (field + net.threshold)) + state @ net.threshold
        return sweep + 1, state, field, n_flips > 0, energies.at[sweep + 1].set(energy)

    field = net.local_field(cue) if field is None else field
    init = (jnp.asarray(0), cue, field, jnp.asarray(True), energies)
    sweeps, state, _, changed, energies = lax.while_loop(
        lambda c: (c[0] < max_sweeps) & c[3], one_sweep, init
    )
    return HopfieldRun(state=state, n_sweeps=sweeps, converged=~changed, energy=energies)


# ----------------------------------------------------------------------------- read-out


def overlap(
    patterns: Float[ArrayLike, "*patterns neurons"], state: Float[ArrayLike, "*batch neurons"]
) -> Float[Array, "..."]:
    """Overlaps m_μ = (1/N) Σ_i ξ_i^μ s_i (1 = the pattern, −1 = its reverse).

    `patterns` is (patterns, neurons) or one pattern (neurons,); the result has shape
    (*batch, patterns) or (*batch,).
    """
    patterns, state = jnp.asarray(patterns), jnp.asarray(state)
    check_last_dim("state", state, patterns.shape[-1], "n_neurons of patterns", owner="overlap")
    return state @ patterns.T / patterns.shape[-1]


def closest_pattern(
    patterns: Float[ArrayLike, "patterns neurons"], state: Float[ArrayLike, "*batch neurons"]
) -> tuple[Int[Array, "*batch"], Float[Array, "*batch"]]:
    """The stored pattern with the largest |overlap| and its signed overlap m.

    m ≈ 1: the pattern was retrieved; m ≈ −1: its reverse (also an attractor, E(−s) = E(s)
    when θ = 0); |m| well below 1: a spurious or mixture state.
    """
    m = overlap(patterns, state)
    index = jnp.argmax(jnp.abs(m), axis=-1)
    return index, jnp.take_along_axis(m, index[..., None], axis=-1)[..., 0]


def _as_state(owner: str, net: ClassicalHopfield, state) -> Spins:
    check_ndim("cue/state", state, tuple(range(1, 8)), "(..., n_neurons)", owner=owner)
    check_last_dim("cue/state", state, net.n_neurons, "the number of neurons of net", owner=owner)
    check_binary("cue/state", state, owner=owner)
    state = jnp.asarray(state, net.weights.dtype)
    if isinstance(state, jax.core.Tracer):  # under jit/vmap: checked when the values are known
        state = eqx.error_if(state, (state != 1) & (state != -1),
                             f"{owner}: cue/state must contain only -1 and +1 (binary ±1 spins)")
    return state
