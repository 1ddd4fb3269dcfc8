"""Spike-timing-dependent plasticity (STDP): plastic weights and their traces in the state.

A `Projection` with `plasticity=STDP(...)` (or `TripletSTDP(...)`) carries its weights, in
the connectivity's (n_pre, K) layout, and the synaptic traces of its rule in the run's state
(`SimState.buffers`, a `PlasticState` per plastic projection), so continued, chunked,
streamed and resumed runs carry them like every other state variable. After a run,
`network.plastic_weights(result.final_state)` returns them and `WeightMonitor(projection=...)`
records a subset every k steps.

Trace formulation (Morrison, Diesmann & Gerstner 2008, Biol Cybern 98:459, the form NEST
uses): every presynaptic neuron i has a trace x_i, every postsynaptic neuron j a trace y_j,

    dx_i/dt = −x_i/τ₊ + Σ_pre-spikes δ(t − t_i),     dy_j/dt = −y_j/τ₋ + Σ_post-spikes δ(t − t_j)

(all-to-all pairing: a spike adds 1; nearest-spike pairing, NEST's `stdp_nn_symm_synapse`:
a spike sets the trace to 1, so each spike pairs with the nearest spike of the other side
only). A presynaptic spike at a synapse depresses it by the postsynaptic trace, a
postsynaptic spike potentiates it by the presynaptic trace:

    pre spike:   w ← clip(w − A₋ · f₋(w) · y_j, 0, w_max),   then x_i ← x_i + 1 (or 1)
    post spike:  w ← clip(w + A₊ · f₊(w) · x_i, 0, w_max),   then y_j ← y_j + 1 (or 1)

with the weight dependence of Gütig et al. 2003 (J Neurosci 23:3697) as in NEST's
`stdp_synapse`: f₊(w) = (1 − w/w_max)^μ₊, f₋(w) = (w/w_max)^μ₋; μ = 0 is the additive rule
of Song, Miller & Abbott 2000 (Nat Neurosci 3:919), μ = 1 the multiplicative rule
(NEST's λ = A₊/w_max, α = A₋/A₊). For an isolated pair with Δt = t_post − t_pre (at the
synapse) this gives Δw = A₊ f₊ e^{−Δt/τ₊} for Δt >= 0 and −A₋ f₋ e^{Δt/τ₋} for Δt < 0.

The triplet rule (Pfister & Gerstner 2006, J Neurosci 26:9673) adds a slow trace on each
side (r₂ with τ_x before, o₂ with τ_y after):

    pre spike:   w ← w − o₁ (A₂₋ + A₃₋ r₂(t−ε)),   then r₁, r₂ += 1
    post spike:  w ← w + r₁ (A₂₊ + A₃₊ o₂(t−ε)),   then o₁, o₂ += 1

Order within one step (dt): traces decay by e^{−dt/τ}; the spikes that reach the synapses
are delivered with the weights of the step's start (Brian2's `on_pre`: `ge += w` before the
update); presynaptic spikes depress; postsynaptic spikes potentiate. A pre and a post spike
in the same step therefore pair as Δt = 0 and potentiate by A₊ (Brian2's order: `on_pre`
before `on_post`).

Delays (one delay d = D steps per projection): `delay="dendritic"` (default) is NEST's
convention: the whole delay is dendritic, the presynaptic spike is at the synapse at t_pre
and acts on the soma at t_pre + d, the postsynaptic spike reaches the synapse at t_post + d.
The pair's Δt at the synapse is t_post − t_pre + d: the window as a function of
t_post − t_pre is shifted left by d. `delay="axonal"` is Brian2's (its `on_pre` runs at
t_pre + d): the presynaptic spike reaches the synapse, and is paired there, at t_pre + d; the
window is shifted right by d. One ring of D rows of spikes (post spikes, or pre spikes)
holds what is still on its way. Per-synapse delays (`Connectivity.delay`; dendritic, as NEST
treats each synapse's delay): synapse (i, k) with delay d_ik sees the postsynaptic spikes
d_ik steps late, so its window is shifted left by its own d_ik; the projection keeps the post
spikes and post traces of the last D + 1 steps (D the largest delay) and a delay-sorted
reverse index (`delayed_plastic_step`), delivery goes through `deliver_delayed` with the
weights of the step's start. Axonal per-synapse delays are refused (each synapse would need
its own presynaptic trace).

With short-term plasticity on the same projection (`Projection(short_term=...)`), a spike
transmits w·u·x: the plastic weight at the step's start times the release of
`neurodyn.network.short_term`; the STDP rule does not see the release (as a Brian2 model with
`ge += w * u * x` on_pre). The short-term op then delivers and the STDP update runs without
delivery (`plastic_step(deliver=False)`).

Cost per step: O(n_pre + n_post) for the trace decay plus O(spikes × degree) for the
updates, never O(synapses) (with per-synapse delays up to D steps also O(D · n_post) to scan
the post-spike history): a presynaptic spike walks its out-row, a postsynaptic spike
its in-row through the reverse index (`reverse_index`, built once with NumPy when the
network is built: for each post neuron the flat (i·K + k) indices of its synapses).
Two implementations of the same arithmetic: a C++ FFI handler (`_kernels/plasticity.cc`:
delivery, depression, potentiation and traces in one call) and pure JAX (`lax.top_k` picks
16 spiking rows at a time, as in `delivery`); without a compiler the pure-JAX path runs.
They agree to the bit where XLA contracts w ± A·(trace·f) into one fused multiply-add as
the kernel does (std::fma); XLA decides that per compiled program, so a weight or trace
may differ by 1 ulp per update (measured: the STDP-window runs agree exactly; a 40 ms
recurrent run had a few weights and traces 1 ulp apart, with identical spikes). A run with surrogate spikes (`simulate(surrogate=...)`,
float spikes) uses a dense differentiable form of the same update (O(synapses) per step)
whose forward values are the event path's, so `neurodyn.fit` can optimise the rule's
parameters (A₊, A₋, τ₊, τ₋, w_max and μ are pytree leaves).
"""

import abc
import functools
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._checks import check_parameter

__all__ = ["AbstractPlasticity", "PlasticState", "STDP", "TripletSTDP", "reverse_index"]

PAIRINGS = ("all_to_all", "nearest")
DELAY_SITES = ("dendritic", "axonal")
ROWS = 16  # spiking rows (or columns) updated per while_loop iteration in the pure-JAX path
FFI_TARGET = "neurodyn_stdp"
FFI_TARGET_DELAYED = "neurodyn_stdp_delayed"


class AbstractPlasticity(eqx.Module):
    """A trace-based plasticity rule for the synapses of one `Projection`.

    Concrete rules give `coefficients`, the 11 numbers the update uses (see `STDP`); the
    update itself is shared (`plastic_step`) so the C++ kernel and the JAX paths agree.
    """

    w_max: eqx.AbstractVar[Float[ArrayLike, ""]]
    pairing: eqx.AbstractVar[str]
    delay: eqx.AbstractVar[str]
    n_traces: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def coefficients(self, dt: float, dtype) -> Float[Array, "11"]:
        """[A₊, A₋, A₃₊, A₃₋, w_max, μ₊, μ₋, pre decay 1, pre decay 2, post decay 1, post decay 2]
        (decays e^{−dt/τ} per step; unused entries 0)."""

    def _check_common(self, owner: str) -> None:
        check_parameter(owner, "w_max", self.w_max, lower=0.0, lower_open=True)
        if np.ndim(self.w_max) != 0:
            raise ValueError(f"{owner}.w_max must be a scalar, got shape {np.shape(self.w_max)}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"{owner}.pairing must be one of {PAIRINGS}, got {self.pairing!r}")
        if self.delay not in DELAY_SITES:
            raise ValueError(f"{owner}.delay must be one of {DELAY_SITES} (where the delay sits), got {self.delay!r}")


def _scalar(owner: str, name: str, value, *, positive: bool = False) -> None:
    check_parameter(owner, name, value, lower=0.0, lower_open=positive)
    if np.ndim(value) != 0:
        raise ValueError(f"{owner}.{name} must be a scalar, got shape {np.shape(value)}")


class STDP(AbstractPlasticity):
    """Pair-based STDP, additive (μ = 0) or weight-dependent (Gütig et al. 2003).

    Δw = +A₊ (1 − w/w_max)^μ₊ e^{−Δt/τ₊} for Δt = t_post − t_pre >= 0,
    Δw = −A₋ (w/w_max)^μ₋ e^{Δt/τ₋} for Δt < 0, hard bounds [0, w_max].

    Attributes:
        a_plus, a_minus: A₊, A₋ (weight units, >= 0). Defaults 0.01 and 0.0105 (× w_max):
            Brian2's STDP example after Song, Miller & Abbott 2000 (dApre = 0.01 gmax,
            dApost = −1.05 dApre, i.e. A₋/A₊ = 1.05).
        tau_plus, tau_minus: τ₊, τ₋ (ms, > 0); 20 ms (Song et al. 2000).
        w_max: upper bound of the weights (> 0), in the receptor's weight units; 1.
        mu_plus, mu_minus: exponents μ₊, μ₋ (>= 0) of the weight dependence; 0 (additive).
        pairing: "all_to_all" (every pre spike pairs with every post spike) or "nearest"
            (symmetric nearest-neighbour: traces are reset to 1, NEST `stdp_nn_symm_synapse`).
        delay: "dendritic" (NEST) or "axonal" (Brian2): where the projection's delay sits
            (see the module docstring).
    """

    a_plus: Float[ArrayLike, ""] = 0.01
    a_minus: Float[ArrayLike, ""] = 0.0105
    tau_plus: Float[ArrayLike, ""] = 20.0  # ms
    tau_minus: Float[ArrayLike, ""] = 20.0  # ms
    w_max: Float[ArrayLike, ""] = 1.0
    mu_plus: Float[ArrayLike, ""] = 0.0
    mu_minus: Float[ArrayLike, ""] = 0.0
    pairing: str = eqx.field(static=True, default="all_to_all")
    delay: str = eqx.field(static=True, default="dendritic")
    n_traces: ClassVar[int] = 1

    def __check_init__(self):
        for name in ("a_plus", "a_minus", "mu_plus", "mu_minus"):
            _scalar("STDP", name, getattr(self, name))
        for name in ("tau_plus", "tau_minus"):
            _scalar("STDP", name, getattr(self, name), positive=True)
        self._check_common("STDP")

    def coefficients(self, dt: float, dtype) -> Float[Array, "11"]:
        z = jnp.zeros((), dtype)
        c = [self.a_plus, self.a_minus, z, z, self.w_max, self.mu_plus, self.mu_minus,
             jnp.exp(-dt / jnp.asarray(self.tau_plus, dtype)), z,
             jnp.exp(-dt / jnp.asarray(self.tau_minus, dtype)), z]
        return jnp.stack([jnp.asarray(x, dtype) for x in c])


class TripletSTDP(AbstractPlasticity):
    """The triplet rule of Pfister & Gerstner 2006, all-to-all, with hard bounds [0, w_max].

    Defaults: Pfister & Gerstner 2006 (J Neurosci 26:9673), Table 4, visual cortex data
    (Sjöström et al. 2001), all-to-all interaction, full model: A₂₊ = 5e-10, A₃₊ = 6.2e-3,
    A₂₋ = 7e-3, A₃₋ = 2.3e-4, τ₊ = 16.8 ms, τ₋ = 33.7 ms, τ_x = 101 ms, τ_y = 125 ms; the
    same numbers are NEST 3.10's `stdp_triplet_synapse` defaults (Aplus, Aplus_triplet,
    Aminus, Aminus_triplet, tau_plus, tau_plus_triplet = τ_x; τ₋ and τ_y are NEST's
    postsynaptic `tau_minus`, `tau_minus_triplet`). The table's minimal all-to-all model for
    the same data is A₂₊ = 0, A₃₊ = 6.5e-3, A₂₋ = 7.1e-3, A₃₋ = 0 (τ₊, τ₋, τ_y as above; τ_x
    unused). Amplitudes are in weight units (here w_max = 1). Validated against NEST's
    `stdp_triplet_synapse` on pairings at 1–50 Hz and triplets (tests/test_plasticity_nest.py).
    """

    a2_plus: Float[ArrayLike, ""] = 5e-10
    a3_plus: Float[ArrayLike, ""] = 6.2e-3
    a2_minus: Float[ArrayLike, ""] = 7e-3
    a3_minus: Float[ArrayLike, ""] = 2.3e-4
    tau_plus: Float[ArrayLike, ""] = 16.8  # ms
    tau_minus: Float[ArrayLike, ""] = 33.7  # ms
    tau_x: Float[ArrayLike, ""] = 101.0  # ms
    tau_y: Float[ArrayLike, ""] = 125.0  # ms
    w_max: Float[ArrayLike, ""] = 1.0
    pairing: str = eqx.field(static=True, default="all_to_all")
    delay: str = eqx.field(static=True, default="dendritic")
    n_traces: ClassVar[int] = 2

    def __check_init__(self):
        for name in ("a2_plus", "a3_plus", "a2_minus", "a3_minus"):
            _scalar("TripletSTDP", name, getattr(self, name))
        for name in ("tau_plus", "tau_minus", "tau_x", "tau_y"):
            _scalar("TripletSTDP", name, getattr(self, name), positive=True)
        self._check_common("TripletSTDP")
        if self.pairing != "all_to_all":
            raise ValueError(
                f"TripletSTDP.pairing must be 'all_to_all' (Pfister & Gerstner's all-to-all model), got {self.pairing!r}"
            )

    def coefficients(self, dt: float, dtype) -> Float[Array, "11"]:
        def decay(tau):
            return jnp.exp(-dt / jnp.asarray(tau, dtype))

        c = [self.a2_plus, self.a3_plus, self.a2_minus, self.a3_minus]
        c = [c[0], c[2], c[1], c[3], self.w_max, 0.0, 0.0,
             decay(self.tau_plus), decay(self.tau_x), decay(self.tau_minus), decay(self.tau_y)]
        return jnp.stack([jnp.asarray(x, dtype) for x in c])


class PlasticState(eqx.Module):
    """What a plastic projection carries from step to step (in `SimState.buffers`).

    Attributes:
        weight: (n_pre, K) the plastic weights, in the connectivity's layout (0 on padding).
        pre_trace: (n_pre, traces) presynaptic traces (x; triplet: r₁, r₂).
        post_trace: (n_post, traces) postsynaptic traces (y; triplet: o₁, o₂).
        ring: (D, n_post) the delayed conductance increments (dendritic delay D >= 1), else None.
        spike_ring: (D, n_post) post spikes on their way to the synapses (dendritic) or
            (D, n_pre) pre spikes (axonal), as 0/1 floats; None without a delay. With
            per-synapse delays: (D + 1, n_post), the post spikes of the last D + 1 steps.
        post_history: with per-synapse delays only: (D + 1, n_post, traces), the post traces
            at the end of each of the last D + 1 steps (what a synapse with delay d sees is
            the trace of d steps before); else None.
        short_term: the state of the projection's short-term plasticity rule
            (`Projection(short_term=...)`, see `neurodyn.network.short_term`), else None.
    """

    weight: Float[Array, "pre k"]
    pre_trace: Float[Array, "pre traces"]
    post_trace: Float[Array, "post traces"]
    ring: Float[Array, "ring_rows post"] | None = None
    spike_ring: Float[Array, "spike_rows n"] | None = None
    post_history: Float[Array, "spike_rows post traces"] | None = None
    short_term: dict | None = None


def reverse_index(post_idx, n_post: int, delay=None) -> Int[np.ndarray, "post kin"]:
    """For each postsynaptic neuron j, the flat indices i·K + k of its synapses (host NumPy).

    Padded with n_pre·K (out of range) at the end of each row, to the largest in-degree;
    built once per network. With per-synapse `delay` (n_pre, K) each row is sorted by delay.
    """
    idx = np.asarray(post_idx)
    n_pre, k = idx.shape
    flat = idx.ravel()
    syn = np.nonzero((flat >= 0) & (flat < n_post))[0]
    tgt = flat[syn]
    order = np.argsort(tgt, kind="stable") if delay is None else np.lexsort((np.asarray(delay).ravel()[syn], tgt))
    syn, tgt = syn[order], tgt[order]
    counts = np.bincount(tgt, minlength=n_post)
    kin = max(int(counts.max()) if counts.size else 0, 1)
    starts = np.cumsum(counts) - counts
    rev = np.full((n_post, kin), n_pre * k, np.int32)
    rev[tgt, np.arange(tgt.size) - starts[tgt]] = syn
    return rev


def delay_offsets(reverse, delay, max_delay: int) -> Int[np.ndarray, "post rows"]:
    """(n_post, max_delay + 2): where each delay's synapses start in a delay-sorted reverse row.

    Row j's synapses of delay e are reverse[j, offsets[j, e] : offsets[j, e + 1]] (host NumPy).
    """
    rev = np.asarray(reverse)
    d = np.asarray(delay).ravel().astype(np.int64)
    n_syn = d.size
    valid = rev < n_syn
    dr = np.where(valid, d[np.minimum(rev, n_syn - 1)], max_delay + 1)  # padding sorts last
    return np.stack([(dr < e).sum(axis=1) for e in range(max_delay + 2)], axis=1).astype(np.int32)


# --------------------------------------------------------------------------- the update


def _f_minus(w, c):
    """(w/w_max)^μ₋, exactly 1 for μ₋ = 0 and 0 at w = 0 (μ₋ > 0), NaN-free gradients."""
    wn = w / c[4]
    safe = jnp.where(wn > 0, wn, 1)
    return jnp.where(c[6] == 0, 1, jnp.where(wn > 0, jnp.power(safe, c[6]), 0)).astype(w.dtype)


def _f_plus(w, c):
    b = 1 - w / c[4]
    safe = jnp.where(b > 0, b, 1)
    return jnp.where(c[5] == 0, 1, jnp.where(b > 0, jnp.power(safe, c[5]), 0)).astype(w.dtype)


def _depressed(w, c, post_y, pre_r2):
    amp = c[1] if pre_r2 is None else c[1] + c[3] * pre_r2
    return jnp.clip(w - amp * (post_y * _f_minus(w, c)), 0, c[4])


def _potentiated(w, c, pre_x, post_o2):
    amp = c[0] if post_o2 is None else c[0] + c[2] * post_o2
    return jnp.clip(w + amp * (pre_x * _f_plus(w, c)), 0, c[4])


def _bump(trace, spiked, nearest: bool):
    """Trace after this step's spikes: + 1 (all-to-all) or set to 1 (nearest)."""
    s = spiked[:, None]
    if spiked.dtype == jnp.bool_:
        return jnp.where(s, 1.0 if nearest else trace + 1, trace).astype(trace.dtype)
    s = s.astype(trace.dtype)
    return trace * (1 - s) + s if nearest else trace + s


def plastic_step(impl: str, nearest: bool, coef, target, post_start: int, weight, pre_trace, post_trace,
                 post_idx, reverse, pre_spiked, post_spiked, deliver: bool = True):
    """One step of a plastic projection: (target, weight, pre_trace, post_trace).

    Delivers the presynaptic events `pre_spiked` (n_pre,) with the current weights into
    `target` at `post_start`, then depresses on them and potentiates on the postsynaptic
    events `post_spiked` (n_post,), traces decayed first (see the module docstring).
    Bool spikes take the event path ("ffi" or "jax"); float (surrogate) spikes the dense
    differentiable path. `deliver=False`: `target` is returned unchanged (the caller
    delivers, e.g. with short-term plasticity scaling the weights by u·x).
    """
    from .delivery import _deliver  # the delivery op (custom JVP), shared with static projections

    n_post = post_trace.shape[0]
    if pre_spiked.dtype != jnp.bool_ or post_spiked.dtype != jnp.bool_:
        dtype = target.dtype
        pre_s, post_s = pre_spiked.astype(dtype), post_spiked.astype(dtype)
        if deliver:
            target = _deliver(impl, (post_start, n_post, 0), target, post_idx, weight, pre_s)
        return (target, *_dense_update(nearest, coef, weight, pre_trace, post_trace, post_idx, pre_s, post_s))
    args = (coef, target, weight, pre_trace, post_trace, post_idx, reverse, pre_spiked, post_spiked)
    return _event_step(impl, nearest, post_start, n_post, deliver)(*args)


@functools.cache
def _event_step(impl: str, nearest: bool, post_start: int, n_post: int, deliver: bool):
    """The event path (C++ handler on CPU, else pure JAX), refusing differentiation clearly."""
    jax_path = functools.partial(_event_step_jax, nearest, post_start, deliver)
    if impl == "jax":
        return _not_differentiable(jax_path)
    return _not_differentiable(lambda *args: jax.lax.platform_dependent(
        *args, cpu=_ffi_call(post_start, n_post, nearest, deliver), default=jax_path))


def _not_differentiable(fn):
    """`fn` with a JVP that raises a clear error: the event path updates the weights at spike
    events (bool spikes, a C++ kernel or while_loops), which has no derivative to follow."""
    wrapped = jax.custom_jvp(fn)

    @wrapped.defjvp
    def _jvp(primals, tangents):
        raise ValueError(
            "a plastic projection (STDP) cannot be differentiated with 0/1 spikes: its weights change at "
            "spike events. Differentiate a run with surrogate spikes (simulate(..., surrogate='fast_sigmoid') "
            "or simulate_network(..., surrogate=...)), whose dense update of the rule is differentiable in "
            "its parameters (A+, A-, tau+, tau-, w_max, mu); see benchmarks/fit_stdp.py"
        )

    return wrapped


def _pick(remaining, k):
    vals, rows = jax.lax.top_k(remaining, k)
    return vals > 0, rows


def _event_step_jax(nearest, post_start, deliver, coef, target, weight, pre_trace, post_trace, post_idx, reverse,
                    pre_spiked, post_spiked):
    """The pure-JAX event path: O(n) trace decay, then O(spikes × degree) updates."""
    from .delivery import _deliver_jax

    n_pre, k_out = weight.shape
    n_post, n_tr = post_trace.shape
    triplet = n_tr == 2
    pre_trace = pre_trace * coef[7:7 + n_tr]
    post_trace = post_trace * coef[9:9 + n_tr]
    if deliver:
        target = _deliver_jax((post_start, n_post, 0), target, post_idx, weight, pre_spiked)

    rows_k = min(ROWS, n_pre)

    def depress(carry):
        c, weight, remaining = carry
        ok, rows = _pick(remaining, rows_k)
        idx = post_idx[rows]
        valid = ok[:, None] & (idx >= 0) & (idx < n_post)
        w = weight[rows]
        y = post_trace[jnp.clip(idx, 0, n_post - 1), 0]
        new = _depressed(w, coef, y, pre_trace[rows, 1][:, None] if triplet else None)
        weight = weight.at[rows].set(jnp.where(valid, new, w))
        return c + 1, weight, remaining.at[rows].set(0.0)

    n_active = jnp.sum(pre_spiked, dtype=jnp.int32)
    _, weight, _ = jax.lax.while_loop(lambda c: c[0] * rows_k < n_active, depress,
                                      (jnp.zeros((), jnp.int32), weight, pre_spiked.astype(jnp.float32)))
    pre_trace = _bump(pre_trace, pre_spiked, nearest)

    n_syn = n_pre * k_out
    cols_k = min(ROWS, n_post)

    def potentiate(carry):
        c, flat, remaining = carry
        ok, cols = _pick(remaining, cols_k)
        syn = reverse[cols]
        valid = ok[:, None] & (syn >= 0) & (syn < n_syn)
        s = jnp.where(valid, syn, 0)
        w = flat[s]
        x = pre_trace[s // k_out, 0]
        new = _potentiated(w, coef, x, post_trace[cols, 1][:, None] if triplet else None)
        flat = flat.at[jnp.where(valid, syn, n_syn).ravel()].set(new.ravel(), mode="drop")
        return c + 1, flat, remaining.at[cols].set(0.0)

    n_active = jnp.sum(post_spiked, dtype=jnp.int32)
    _, flat, _ = jax.lax.while_loop(lambda c: c[0] * cols_k < n_active, potentiate,
                                    (jnp.zeros((), jnp.int32), weight.ravel(), post_spiked.astype(jnp.float32)))
    post_trace = _bump(post_trace, post_spiked, nearest)
    return target, flat.reshape(weight.shape), pre_trace, post_trace


def _dense_update(nearest, coef, weight, pre_trace, post_trace, post_idx, pre_s, post_s):
    """The surrogate path: the event update written over all synapses, differentiable.

    Forward values equal the event path's for 0/1 spikes: an update is taken where the
    spike is 1 (`where`), and the spike's gradient enters through s − stop_gradient(s)
    (zero in value) times the change.
    """
    n_post, n_tr = post_trace.shape
    triplet = n_tr == 2
    pre_trace = pre_trace * coef[7:7 + n_tr]
    post_trace = post_trace * coef[9:9 + n_tr]
    valid = (post_idx >= 0) & (post_idx < n_post)
    j = jnp.clip(post_idx, 0, n_post - 1)

    def apply(w, new, s):
        s = jnp.where(valid, s, 0)
        return jnp.where(s > 0, new, w) + (s - jax.lax.stop_gradient(s)) * (new - w)

    new = _depressed(weight, coef, post_trace[j, 0], pre_trace[:, 1:2] if triplet else None)
    weight = apply(weight, new, jnp.broadcast_to(pre_s[:, None], weight.shape))
    pre_trace = _bump(pre_trace, pre_s, nearest)
    new = _potentiated(weight, coef, pre_trace[:, 0:1], post_trace[j, 1] if triplet else None)
    weight = apply(weight, new, post_s[j])
    post_trace = _bump(post_trace, post_s, nearest)
    return weight, pre_trace, post_trace


# --------------------------------------------------------------------------- per-synapse delays


def delayed_plastic_step(impl: str, nearest: bool, coef, weight, pre_trace, post_trace, post_history, spike_history,
                         post_idx, delay, reverse, offsets, pre_spiked, post_spiked, step, after=None):
    """One step of a plastic projection with per-synapse dendritic delays, without delivery.

    The weights and traces only (the caller delivers the step's presynaptic spikes with the
    weights of the step's start, `deliver_delayed`): (weight, pre_trace, post_trace,
    post_history, spike_history). Synapse (i, k) with delay d sees the postsynaptic spikes
    d steps late, so the postsynaptic traces as they were d steps before (NEST's dendritic
    delay: t_post + d − t_pre at the synapse). `reverse` is the
    delay-sorted reverse index and `offsets` its `delay_offsets`; `delay` an int32 table.
    `after`: an output of the call that delivered this step's spikes with `weight` (e.g. the
    ring): a data dependence that orders that read before the C++ handler's in-place update
    (without it XLA copies the weights every step).
    """
    step = jnp.asarray(step, jnp.int32)
    after = jnp.zeros((), weight.dtype) if after is None else after
    if pre_spiked.dtype != jnp.bool_ or post_spiked.dtype != jnp.bool_:
        return _dense_update_delayed(nearest, coef, weight, pre_trace, post_trace, post_history, spike_history,
                                     post_idx, delay, pre_spiked.astype(weight.dtype),
                                     post_spiked.astype(weight.dtype), step)
    args = (coef, weight, pre_trace, post_trace, post_history, spike_history, post_idx, delay, reverse, offsets,
            pre_spiked, post_spiked, step, after)
    return _event_step_delayed(impl, nearest)(*args)


@functools.cache
def _event_step_delayed(impl: str, nearest: bool):
    jax_path = functools.partial(_event_step_delayed_jax, nearest)
    if impl == "jax":
        return _not_differentiable(jax_path)
    return _not_differentiable(lambda *args: jax.lax.platform_dependent(
        *args, cpu=_ffi_call_delayed(nearest), default=jax_path))


def _event_step_delayed_jax(nearest, coef, weight, pre_trace, post_trace, post_history, spike_history,
                            post_idx, delay, reverse, offsets, pre_spiked, post_spiked, step, after=None):
    """The pure-JAX event path with per-synapse delays (the C++ handler's arithmetic)."""
    del offsets, after  # the C++ handler's; here the reverse row is masked by delay instead
    n_pre, k_out = weight.shape
    n_post, n_tr = post_trace.shape
    rows = post_history.shape[0]
    triplet = n_tr == 2
    pre_trace = pre_trace * coef[7:7 + n_tr]
    post_trace = post_trace * coef[9:9 + n_tr]
    rows_k = min(ROWS, n_pre)

    def depress(carry):
        c, weight, remaining = carry
        ok, picked = _pick(remaining, rows_k)
        idx = post_idx[picked]
        valid = ok[:, None] & (idx >= 0) & (idx < n_post)
        d = delay[picked]
        y = post_history[(step - 1 - d) % rows, jnp.clip(idx, 0, n_post - 1), 0] * coef[9]
        w = weight[picked]
        new = _depressed(w, coef, y, pre_trace[picked, 1][:, None] if triplet else None)
        weight = weight.at[picked].set(jnp.where(valid, new, w))
        return c + 1, weight, remaining.at[picked].set(0.0)

    n_active = jnp.sum(pre_spiked, dtype=jnp.int32)
    _, weight, _ = jax.lax.while_loop(lambda c: c[0] * rows_k < n_active, depress,
                                      (jnp.zeros((), jnp.int32), weight, pre_spiked.astype(jnp.float32)))
    pre_trace = _bump(pre_trace, pre_spiked, nearest)
    spike_history = jax.lax.dynamic_update_index_in_dim(spike_history, post_spiked.astype(spike_history.dtype),
                                                        step % rows, 0)
    n_syn = n_pre * k_out
    flat_delay = delay.ravel()
    cols_k = min(ROWS, n_post)

    def arrivals(e, flat):
        arrived = spike_history[(step - e) % rows] > 0
        o2 = post_history[(step - e - 1) % rows, :, 1] * coef[10] if triplet else None

        def potentiate(carry):
            c, flat, remaining = carry
            ok, cols = _pick(remaining, cols_k)
            syn = reverse[cols]
            in_range = (syn >= 0) & (syn < n_syn)
            s = jnp.where(in_range, syn, 0)
            valid = ok[:, None] & in_range & (flat_delay[s] == e)
            w = flat[s]
            x = pre_trace[s // k_out, 0]
            new = _potentiated(w, coef, x, o2[cols][:, None] if triplet else None)
            flat = flat.at[jnp.where(valid, syn, n_syn).ravel()].set(new.ravel(), mode="drop")
            return c + 1, flat, remaining.at[cols].set(0.0)

        n_active = jnp.sum(arrived, dtype=jnp.int32)
        _, flat, _ = jax.lax.while_loop(lambda c: c[0] * cols_k < n_active, potentiate,
                                        (jnp.zeros((), jnp.int32), flat, arrived.astype(jnp.float32)))
        return flat

    flat = jax.lax.fori_loop(0, rows, arrivals, weight.ravel())
    post_trace = _bump(post_trace, post_spiked, nearest)
    post_history = jax.lax.dynamic_update_index_in_dim(post_history, post_trace, step % rows, 0)
    return flat.reshape(weight.shape), pre_trace, post_trace, post_history, spike_history


def _dense_update_delayed(nearest, coef, weight, pre_trace, post_trace, post_history, spike_history, post_idx,
                          delay, pre_s, post_s, step):
    """The surrogate path with per-synapse delays: over all synapses, differentiable."""
    n_post, n_tr = post_trace.shape
    rows = post_history.shape[0]
    triplet = n_tr == 2
    pre_trace = pre_trace * coef[7:7 + n_tr]
    post_trace = post_trace * coef[9:9 + n_tr]
    valid = (post_idx >= 0) & (post_idx < n_post)
    j = jnp.clip(post_idx, 0, n_post - 1)
    d = delay.astype(jnp.int32)

    def apply(w, new, s):
        s = jnp.where(valid, s, 0)
        return jnp.where(s > 0, new, w) + (s - jax.lax.stop_gradient(s)) * (new - w)

    y = post_history[(step - 1 - d) % rows, j, 0] * coef[9]
    new = _depressed(weight, coef, y, pre_trace[:, 1:2] if triplet else None)
    weight = apply(weight, new, jnp.broadcast_to(pre_s[:, None], weight.shape))
    pre_trace = _bump(pre_trace, pre_s, nearest)
    spike_history = jax.lax.dynamic_update_index_in_dim(spike_history, post_s.astype(spike_history.dtype),
                                                        step % rows, 0)
    arrived = spike_history[(step - d) % rows, j]
    o2 = post_history[(step - d - 1) % rows, j, 1] * coef[10] if triplet else None
    new = _potentiated(weight, coef, pre_trace[:, 0:1], o2)
    weight = apply(weight, new, arrived)
    post_trace = _bump(post_trace, post_s, nearest)
    post_history = jax.lax.dynamic_update_index_in_dim(post_history, post_trace, step % rows, 0)
    return weight, pre_trace, post_trace, post_history, spike_history


@functools.cache
def _ffi_call_delayed(nearest: bool):
    """The C++ handler with per-synapse delays: weights, traces and histories in place."""

    def call(coef, weight, pre_trace, post_trace, post_history, spike_history, post_idx, delay, reverse,
             offsets, pre_spiked, post_spiked, step, after):
        state = (weight, pre_trace, post_trace, post_history, spike_history)
        out = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in state)
        return jax.ffi.ffi_call(
            FFI_TARGET_DELAYED, out, vmap_method="sequential", input_output_aliases={i: i for i in range(5)},
        )(*state, post_idx, delay, reverse, offsets, pre_spiked, post_spiked,
          coef.astype(weight.dtype), step.reshape(1), after, nearest=np.int64(nearest))

    return call


@functools.cache
def _ffi_call(post_start: int, n_post: int, nearest: bool, deliver: bool = True):
    """The C++ handler: target, weight and traces updated in place (aliased)."""

    def call(coef, target, weight, pre_trace, post_trace, post_idx, reverse, pre_spiked, post_spiked):
        out = tuple(jax.ShapeDtypeStruct(x.shape, x.dtype) for x in (target, weight, pre_trace, post_trace))
        return jax.ffi.ffi_call(
            FFI_TARGET, out, vmap_method="sequential", input_output_aliases={0: 0, 1: 1, 2: 2, 3: 3},
        )(target, weight, pre_trace, post_trace, post_idx, reverse, pre_spiked, post_spiked,
          coef.astype(target.dtype), post_start=np.int64(post_start), n_post=np.int64(n_post),
          nearest=np.int64(nearest), deliver=np.int64(deliver))

    return call
