"""Parameter fitting with optax: transforms, losses, surrogate spikes, one and many starts.

A fit minimises a user loss L(model) over a few named parameters of an Equinox model
(a neuron, a network, anything that is a pytree); all other fields stay fixed:

    θ = T(u),   u ← u − optax_update(∇_u L(T(u)))

where T maps the unconstrained optimiser variable u to the parameter's valid range
(`Positive`: θ = s·softplus(u); `Interval(lo, hi)`: θ = lo + (hi − lo)·sigmoid(u)).

Gradients. `loss_fn` usually calls `neurodyn.simulate`:
- clock mode (`solver.step` inside `fori_loop`/`scan`) is reverse-differentiated by JAX
  directly; JAX stores the loop carry of every step, so gradient memory grows linearly
  with the number of steps (O(steps · state)); Diffrax's adjoint argument plays no part
  there. For long traces use `solve_trace`, a `diffrax.diffeqsolve` with a selectable
  adjoint: `diffrax.RecursiveCheckpointAdjoint()` (default; memory O(√steps · state) by
  binomial checkpointing, exact gradients of the discrete solve) or
  `diffrax.BacksolveAdjoint()` (memory O(state), gradients of the continuous adjoint ODE,
  which differ from the discrete ones by the solver error).
- exact mode (`mode="exact"`) spike times are event roots t* of g(t, y(t; θ), θ) = 0;
  Diffrax differentiates the root by the implicit function theorem,
      dt*/dθ = −(∂g/∂θ + ∂g/∂y·∂y/∂θ) / (dg/dt),
  and `simulate`'s event loop (an Equinox checkpointed while loop) passes those gradients
  through resets and refractory periods. `tests/test_fit.py` checks them against
  central finite differences.
- clock-driven threshold crossings have zero gradient almost everywhere; `spike` is a
  Heaviside step whose derivative is replaced by a smooth surrogate (SuperSpike fast
  sigmoid, sigmoid, arctan) and `simulate_surrogate` runs a differentiable clock loop
  of any reset model with it.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from .inputs import as_input
from .neurons.base import AbstractSpikingNeuron, State

# --------------------------------------------------------------------------- transforms


class AbstractTransform(eqx.Module):
    """A bijection between an unconstrained u ∈ ℝ and a parameter's valid range."""

    def forward(self, u: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        raise NotImplementedError

    def inverse(self, theta: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:
        raise NotImplementedError

    def check(self, name: str, theta) -> None:
        """Raise ValueError if the initial value `theta` of parameter `name` is out of range."""


class Identity(AbstractTransform):
    """θ = u (unbounded parameters)."""

    def forward(self, u):
        return u

    def inverse(self, theta):
        return jnp.asarray(theta, dtype=float)


class Positive(AbstractTransform):
    """θ = s·softplus(u) > 0, with scale s (mS/cm², ms, ...: the parameter's unit).

    `scale=None` (default) takes s = |θ₀| from the initial value, so that u₀ = softplus⁻¹(1)
    for every parameter and a learning rate means the same relative step for all of them.
    """

    scale: float | None = None

    def __check_init__(self):
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"Positive.scale must be a finite number > 0, got {self.scale}")

    def forward(self, u):
        return self.scale * jax.nn.softplus(u)

    def inverse(self, theta):
        x = jnp.asarray(theta, dtype=float) / self.scale
        return x + jnp.log(-jnp.expm1(-x))  # softplus⁻¹, stable for large x

    def check(self, name, theta):
        arr = np.asarray(theta)
        if np.any(arr <= 0):
            raise ValueError(f"transforms[{name!r}] is Positive() but the initial value is {arr}")


class Interval(AbstractTransform):
    """θ = lo + (hi − lo)·sigmoid(u) ∈ (lo, hi)."""

    lo: float
    hi: float

    def __check_init__(self):
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)):
            raise ValueError(f"Interval bounds must be finite, got lo={self.lo}, hi={self.hi}")
        if not self.lo < self.hi:
            raise ValueError(f"Interval needs lo < hi, got lo={self.lo}, hi={self.hi}")

    def forward(self, u):
        return self.lo + (self.hi - self.lo) * jax.nn.sigmoid(u)

    def inverse(self, theta):
        p = (jnp.asarray(theta, dtype=float) - self.lo) / (self.hi - self.lo)
        return jnp.log(p) - jnp.log1p(-p)

    def check(self, name, theta):
        arr = np.asarray(theta)
        if np.any(arr <= self.lo) or np.any(arr >= self.hi):
            raise ValueError(
                f"transforms[{name!r}] = Interval({self.lo}, {self.hi}) must contain the "
                f"initial value strictly inside, got {arr}"
            )


# --------------------------------------------------------------------------- parameters


def _get(model, name: str):
    obj = model
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _has(model, name: str) -> bool:
    obj = model
    for part in name.split("."):
        if not hasattr(obj, part) or callable(getattr(type(obj), part, None)):
            return False
        obj = getattr(obj, part)
    return True


class Parameters(eqx.Module):
    """Which fields of a model are trained, and how each is mapped to unconstrained space.

    `names` are attribute paths ("g_na", "neuron.tau_m" for nested modules).
    """

    names: tuple[str, ...] = eqx.field(static=True)
    transforms: dict[str, AbstractTransform]

    def to_unconstrained(self, model) -> dict[str, Float[Array, "..."]]:
        return {n: self.transforms[n].inverse(_get(model, n)) for n in self.names}

    def values(self, u: dict[str, Array]) -> dict[str, Array]:
        return {n: self.transforms[n].forward(u[n]) for n in self.names}

    def apply(self, model, u: dict[str, Array]):
        """The model with the trained fields set to T(u) (others untouched)."""
        vals = self.values(u)
        return eqx.tree_at(
            lambda m: [_get(m, n) for n in self.names], model, [vals[n] for n in self.names],
            is_leaf=lambda x: x is None,
        )


def make_parameters(
    model, params: Sequence[str] | str, transforms: dict[str, AbstractTransform] | None = None
) -> Parameters:
    """Validate `params`/`transforms` against `model` and build a `Parameters`.

    Raises ValueError naming the argument for unknown names, empty selections, transforms
    for parameters that are not trained, or initial values outside a transform's range.
    """
    if isinstance(params, str):
        params = (params,)
    try:
        names = tuple(params)
    except TypeError:
        raise TypeError(f"params must be a sequence of parameter names, got {params!r}") from None
    if not names:
        raise ValueError("params must name at least one parameter to fit, got ()")
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"params: every entry must be a str, got {n!r}")
        if not _has(model, n):
            fields = [k for k in getattr(model, "__dataclass_fields__", {})]
            raise ValueError(
                f"params: {type(model).__name__} has no parameter {n!r}; its fields are {fields}"
            )
        if not eqx.is_array_like(_get(model, n)):
            raise ValueError(f"params: {n!r} is not numeric (got {_get(model, n)!r})")
    if len(set(names)) != len(names):
        raise ValueError(f"params: duplicate names in {names}")
    transforms = dict(transforms or {})
    unknown = set(transforms) - set(names)
    if unknown:
        raise ValueError(
            f"transforms: {sorted(unknown)} are not in params={names}; transforms apply only "
            f"to trained parameters"
        )
    full = {}
    for n in names:
        tr = transforms.get(n, Identity())
        if not isinstance(tr, AbstractTransform):
            raise TypeError(f"transforms[{n!r}] must be a Positive/Interval/Identity, got {tr!r}")
        theta = _get(model, n)
        if isinstance(tr, Positive) and tr.scale is None:
            scale = float(np.max(np.abs(np.asarray(theta))))
            tr = Positive(scale if scale > 0 else 1.0)
        tr.check(n, theta)
        full[n] = tr
    return Parameters(names=names, transforms=full)


# --------------------------------------------------------------------------- fit


class FitResult(eqx.Module):
    """What `fit` returns.

    Attributes:
        model: the fitted model (trained fields replaced, all others as given).
        params: the fitted values of the trained parameters, by name.
        loss_history: loss before each step, shape (steps,), then the final loss appended.
        grad_norm: ‖∇_u L‖₂ at the returned model (unconstrained space).
        steps: optimiser steps taken.
        converged: True if a tolerance was met before `steps` ran out.
        wall_time: seconds spent (compilation included).
    """

    model: Any
    params: dict[str, Array]
    loss_history: Float[Array, " steps"]
    grad_norm: Float[Array, ""]
    steps: int = eqx.field(static=True)
    converged: bool = eqx.field(static=True)
    wall_time: float = eqx.field(static=True)


def _check_common(optimizer, steps, tol, gtol):
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    for name, v in (("tol", tol), ("gtol", gtol)):
        if v is not None and not (isinstance(v, (int, float)) and v >= 0):
            raise ValueError(f"{name} must be a number >= 0 or None, got {v!r}")


def _optimizer_update(optimizer, grad, opt_state, u, loss, objective):
    """optimizer.update, passing value/grad/value_fn to optimisers that take them (L-BFGS)."""
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return optimizer.update(grad, opt_state, u, value=loss, grad=grad, value_fn=objective)
    return optimizer.update(grad, opt_state, u)


def fit(
    model,
    loss_fn: Callable[[Any], Float[Array, ""]],
    *,
    params: Sequence[str] | str,
    transforms: dict[str, AbstractTransform] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps: int = 500,
    tol: float | None = None,
    gtol: float | None = None,
    rtol: float | None = None,
    progress: bool = True,
    callback: Callable[[int, dict, float], bool | None] | None = None,
) -> FitResult:
    """Minimise `loss_fn(model)` over the named parameters with an optax optimiser.

    Arguments:
        model: an Equinox module (neuron, network, ...).
        loss_fn: model ↦ scalar loss; must be JAX-traceable (it is jitted and differentiated).
        params: names of the fields to train ("g_na", or "neuron.tau_m" for nested modules).
        transforms: {name: Positive() | Interval(lo, hi)}; untransformed names are unbounded.
        optimizer: any optax optimiser (default `optax.adam(0.05)`, suited to the default
            `Positive()` scaling where u is in units of the initial value).
        steps: maximum number of optimiser steps.
        tol: stop when the loss is <= tol.   gtol: stop when ‖∇_u L‖ <= gtol.
        rtol: stop when a step lowers the loss by less than rtol·|L| (stalled).
        progress: tqdm bar with the current loss.
        callback: called as callback(step, params, loss) after every step; return True to stop.

    Returns:
        A `FitResult`. The update step is one `eqx.filter_jit` function compiled once.

    Example:
        >>> res = fit(HodgkinHuxley(g_na=80.0), lambda m: trace_mse(run(m), target),
        ...           params=("g_na",), transforms={"g_na": Positive()}, steps=200)
    """
    _check_common(optimizer, steps, tol, gtol)
    if rtol is not None and not (isinstance(rtol, (int, float)) and rtol >= 0):
        raise ValueError(f"rtol must be a number >= 0 or None, got {rtol!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (model -> scalar), got {loss_fn!r}")
    spec = make_parameters(model, params, transforms)
    optimizer = optimizer or optax.adam(0.05)
    u = spec.to_unconstrained(model)
    opt_state = optimizer.init(u)

    def objective(u):
        return loss_fn(spec.apply(model, u))

    @eqx.filter_jit
    def update(u, opt_state):
        loss, grad = jax.value_and_grad(objective)(u)
        updates, opt_state = _optimizer_update(optimizer, grad, opt_state, u, loss, objective)
        return optax.apply_updates(u, updates), opt_state, loss, optax.tree.norm(grad)


    t_start = time.perf_counter()
    history = []
    converged = False
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"fit {type(model).__name__}", leave=False)
    taken = 0
    try:
        for i in range(steps):
            u_new, opt_state_new, loss, gnorm = update(u, opt_state)
            loss_f, gnorm_f = float(loss), float(gnorm)
            if not math.isfinite(loss_f):
                raise FloatingPointError(
                    f"fit: the loss became {loss_f} at step {i} with parameters "
                    f"{ {k: np.asarray(v).tolist() for k, v in spec.values(u).items()} }"
                )
            history.append(loss_f)
            if (tol is not None and loss_f <= tol) or (gtol is not None and gnorm_f <= gtol):
                converged = True  # u (not u_new) is the point that met the tolerance
                break
            if rtol is not None and len(history) > 1 and history[-2] - loss_f <= rtol * abs(loss_f):
                converged = True
                break
            u, opt_state = u_new, opt_state_new
            taken = i + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_f:.4g}", grad=f"{gnorm_f:.3g}")
            if callback is not None and callback(i, spec.values(u), loss_f):
                break
    finally:
        if bar is not None:
            bar.close()
    # the same compiled step evaluates the final loss and gradient (its update is discarded)
    _, _, final_loss, gnorm = update(u, opt_state)
    history.append(float(final_loss))
    if tol is not None and float(final_loss) <= tol:
        converged = True
    if gtol is not None and float(gnorm) <= gtol:
        converged = True
    return FitResult(
        model=spec.apply(model, u),
        params=spec.values(u),
        loss_history=jnp.asarray(history),
        grad_norm=gnorm,
        steps=taken,
        converged=converged,
        wall_time=time.perf_counter() - t_start,
    )


class MultiStartResult(eqx.Module):
    """What `fit_multistart` returns: the best start and every start.

    Attributes:
        best: a `FitResult` for the start with the lowest final loss.
        best_index: its index.
        params: fitted values of every start, {name: (starts, ...)}.
        initial_params: the starting values, {name: (starts, ...)}.
        final_loss: (starts,).  loss_history: (starts, steps + 1).
    """

    best: FitResult
    best_index: Int[Array, ""]
    params: dict[str, Array]
    initial_params: dict[str, Array]
    final_loss: Float[Array, " starts"]
    loss_history: Float[Array, "starts steps"]


def perturbed_starts(
    model, params: Sequence[str], n_starts: int, spread: float, *, key: PRNGKeyArray
) -> dict[str, Float[Array, "starts ..."]]:
    """n_starts initial values θ₀·(1 + U(−spread, spread)) around the model's values."""
    if not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise ValueError(f"n_starts must be an integer >= 1, got {n_starts!r}")
    if not 0 <= spread < 1:
        raise ValueError(f"spread must be in [0, 1), got {spread}")
    keys = jax.random.split(key, len(params))
    out = {}
    for k, n in zip(keys, params):
        theta = jnp.asarray(_get(model, n), dtype=float)
        r = jax.random.uniform(k, (n_starts, *theta.shape), minval=-spread, maxval=spread)
        out[n] = theta * (1.0 + r)
    return out


def fit_multistart(
    model,
    loss_fn: Callable[[Any], Float[Array, ""]],
    initial_params: dict[str, Float[ArrayLike, "starts ..."]],
    *,
    transforms: dict[str, AbstractTransform] | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps: int = 500,
) -> MultiStartResult:
    """Run `steps` optimiser steps from many initial guesses in ONE compiled, vmapped call.

    Arguments:
        model: the template model (fields not in `initial_params` stay fixed).
        loss_fn: model ↦ scalar loss (traceable; vmapped over the starts).
        initial_params: {name: array with a leading "starts" axis} (e.g. `perturbed_starts`).
        transforms, optimizer: as in `fit`. `Positive()` scales are taken from `model`'s
            values, the same for every start, so all starts share one compiled function.
        steps: fixed number of steps (no early stopping: all starts run in lock-step).

    Returns:
        A `MultiStartResult` with the best start and all of them.
    """
    _check_common(optimizer, steps, None, None)
    if not isinstance(initial_params, dict) or not initial_params:
        raise ValueError(f"initial_params must be a non-empty dict name -> array, got {initial_params!r}")
    names = tuple(initial_params)
    spec = make_parameters(model, names, transforms)
    starts = {n: jnp.asarray(v, dtype=float) for n, v in initial_params.items()}
    sizes = {n: v.shape[0] if v.ndim else None for n, v in starts.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(f"initial_params: every array needs the same leading 'starts' axis, got shapes { {n: v.shape for n, v in starts.items()} }")
    for n, v in starts.items():
        spec.transforms[n].check(n, np.asarray(v))
    optimizer = optimizer or optax.adam(0.05)

    def objective(u):
        return loss_fn(spec.apply(model, u))

    def one_start(theta0):
        u0 = {n: spec.transforms[n].inverse(theta0[n]) for n in names}

        def step(carry, _):
            u, opt_state = carry
            loss, grad = jax.value_and_grad(objective)(u)
            updates, opt_state = _optimizer_update(optimizer, grad, opt_state, u, loss, objective)
            return (optax.apply_updates(u, updates), opt_state), loss

        (u, _), losses = jax.lax.scan(step, (u0, optimizer.init(u0)), None, length=steps)
        final, grad = jax.value_and_grad(objective)(u)
        return u, jnp.append(losses, final), optax.tree.norm(grad)

    t_start = time.perf_counter()
    u_all, hist, gnorms = eqx.filter_jit(jax.vmap(one_start))(starts)
    hist = jnp.where(jnp.isfinite(hist), hist, jnp.inf)
    final = hist[:, -1]
    best = int(jnp.argmin(final))
    u_best = {n: u_all[n][best] for n in names}
    wall = time.perf_counter() - t_start
    best_result = FitResult(
        model=spec.apply(model, u_best),
        params=spec.values(u_best),
        loss_history=hist[best],
        grad_norm=gnorms[best],
        steps=steps,
        converged=False,
        wall_time=wall,
    )
    return MultiStartResult(
        best=best_result,
        best_index=jnp.asarray(best),
        params=jax.vmap(spec.values)(u_all),
        initial_params=starts,
        final_loss=final,
        loss_history=hist,
    )


# --------------------------------------------------------------------------- losses


def trace_mse(
    predicted: Float[Array, "time *neurons"],
    target: Float[Array, "time *neurons"],
    *,
    window: tuple[int, int] | None = None,
    every: int = 1,
) -> Float[Array, ""]:
    """Mean squared error (1/K) Σ_k (V_k − V̂_k)² over samples k of `window` (start, stop
    indices on the record axis), keeping every `every`-th sample."""
    if jnp.shape(predicted) != jnp.shape(target):
        raise ValueError(f"trace_mse: predicted has shape {jnp.shape(predicted)} but target has {jnp.shape(target)}")
    if not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every must be an integer >= 1, got {every!r}")
    lo, hi = (0, predicted.shape[0]) if window is None else window
    if not 0 <= lo < hi <= predicted.shape[0]:
        raise ValueError(f"window must satisfy 0 <= start < stop <= {predicted.shape[0]}, got {window}")
    d = predicted[lo:hi:every] - target[lo:hi:every]
    return jnp.mean(d**2)


def rate_loss(
    spike_counts: Float[ArrayLike, "*neurons"],
    duration_ms: float,
    target_hz: Float[ArrayLike, "*neurons"],
) -> Float[Array, ""]:
    """Squared rate error (r − r*)² in Hz², with r = mean(spike_counts)/duration.

    Use a differentiable count (e.g. from `simulate_surrogate`) for gradients."""
    if not duration_ms > 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    rate = 1000.0 * jnp.mean(jnp.asarray(spike_counts, dtype=float)) / duration_ms
    return jnp.mean((rate - jnp.asarray(target_hz)) ** 2)


def spike_count_loss(
    spike_counts: Float[ArrayLike, " neurons"], target_counts: Float[ArrayLike, " neurons"]
) -> Float[Array, ""]:
    """Mean squared spike-count error (1/N) Σ_i (n_i − n_i*)²."""
    return jnp.mean((jnp.asarray(spike_counts, float) - jnp.asarray(target_counts, float)) ** 2)


def van_rossum_distance(
    spike_times: Float[Array, " spikes"],
    target_times: Float[Array, " target_spikes"],
    tau: float,
) -> Float[Array, ""]:
    """van Rossum (2001) distance between two spike trains (ms), in closed form.

    Each train is filtered by the causal kernel e^{−t/τ}; D² = (1/τ) ∫₀^∞ (f − g)² dt, i.e.

        D² = ½ Σ_ij e^{−|t_i−t_j|/τ} + ½ Σ_ij e^{−|s_i−s_j|/τ} − Σ_ij e^{−|t_i−s_j|/τ}.

    Non-finite entries (the inf padding of `SimulationResult.spike_times`) are ignored, so a
    simulation's spike buffer can be passed directly. Differentiable in the spike times.
    """
    if not tau > 0:
        raise ValueError(f"tau must be > 0 ms, got {tau}")

    def cross(a, b):
        ma, mb = jnp.isfinite(a), jnp.isfinite(b)
        a0, b0 = jnp.where(ma, a, 0.0), jnp.where(mb, b, 0.0)
        diff = a0[:, None] - b0[None, :]
        # d|x|/dx at 0 is sign(0) = 0 in JAX, so coincident spikes give finite gradients
        k = jnp.exp(-jnp.abs(diff) / tau)
        return jnp.sum(jnp.where(ma[:, None] & mb[None, :], k, 0.0))

    a, b = jnp.ravel(spike_times), jnp.ravel(target_times)
    d2 = 0.5 * cross(a, a) + 0.5 * cross(b, b) - cross(a, b)
    return jnp.sqrt(jnp.maximum(d2, 0.0) + 1e-12)


def rates_from_spike_times(
    spike_times: Float[Array, " spikes"],
    spike_neurons: Int[Array, " spikes"],
    n_neurons: int,
) -> Float[Array, " neurons"]:
    """Firing rate (Hz) of each neuron from its mean inter-spike interval:
    r_i = 1000·(n_i − 1)/(t_last − t_first); 0 for neurons with fewer than 2 spikes.

    Differentiable in the spike times (exact-mode gradients flow through t_first, t_last).
    """
    ids = jnp.arange(n_neurons)
    mine = (spike_neurons[None, :] == ids[:, None]) & jnp.isfinite(spike_times)[None, :]
    t = jnp.where(jnp.isfinite(spike_times), spike_times, 0.0)[None, :]
    count = jnp.sum(mine, axis=1)
    first = jnp.min(jnp.where(mine, t, jnp.inf), axis=1)
    last = jnp.max(jnp.where(mine, t, -jnp.inf), axis=1)
    ok = count >= 2
    span = jnp.where(ok, last - first, 1.0)
    return jnp.where(ok, 1000.0 * (count - 1) / span, 0.0)


def fi_curve_loss(
    rates: Float[Array, " currents"], target_rates: Float[ArrayLike, " currents"]
) -> Float[Array, ""]:
    """Mean squared relative f–I error (1/K) Σ_k ((r_k − r_k*)/r_k*)² over currents with
    r_k* > 0, plus (r_k/1 Hz)² where the target is silent."""
    target = jnp.asarray(target_rates, dtype=float)
    firing = target > 0
    rel = jnp.where(firing, (rates - target) / jnp.where(firing, target, 1.0), rates)
    return jnp.mean(rel**2)


# --------------------------------------------------------------------------- surrogates


_SURROGATES = ("fast_sigmoid", "sigmoid", "arctan")


def _surrogate_grad(x, shape: str, slope: float):
    if shape == "fast_sigmoid":  # SuperSpike (Zenke & Ganguli 2018): 1/(1 + β|x|)²
        return 1.0 / (1.0 + slope * jnp.abs(x)) ** 2
    if shape == "sigmoid":  # β σ(βx)(1 − σ(βx))
        s = jax.nn.sigmoid(slope * x)
        return slope * s * (1.0 - s)
    # arctan (Fang et al. 2021): d/dx [½ + arctan(π β x / 2)/π] = (β/2)/(1 + (πβx/2)²)
    return (slope / 2.0) / (1.0 + (math.pi * slope * x / 2.0) ** 2)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _heaviside(x, shape, slope):
    return (x >= 0).astype(x.dtype)


@_heaviside.defjvp
def _heaviside_jvp(shape, slope, primals, tangents):
    (x,), (dx,) = primals, tangents
    return _heaviside(x, shape, slope), _surrogate_grad(x, shape, slope) * dx


def spike(
    x: Float[Array, "*shape"], surrogate: str = "fast_sigmoid", slope: float = 1.0
) -> Float[Array, "*shape"]:
    """Heaviside H(x) (1.0 for x ≥ 0) with a surrogate derivative.

    Forward: exact step. Backward/JVP: dH/dx replaced by
        fast_sigmoid (SuperSpike): 1/(1 + β|x|)²
        sigmoid:                   β σ(βx)(1 − σ(βx))
        arctan:                    (β/2)/(1 + (πβx/2)²)
    with slope β (per unit of x, e.g. 1/mV for x = V − V_th).
    """
    if surrogate not in _SURROGATES:
        raise ValueError(f"surrogate must be one of {_SURROGATES}, got {surrogate!r}")
    if not (isinstance(slope, (int, float)) and slope > 0):
        raise ValueError(f"slope must be a number > 0, got {slope!r}")
    return _heaviside(x, surrogate, float(slope))


class SurrogateResult(eqx.Module):
    """What `simulate_surrogate` returns: differentiable spike counts and the v trace."""

    spike_counts: Float[Array, " neurons"]
    v: Float[Array, "time neurons"]
    final_state: State


def simulate_surrogate(
    model: AbstractSpikingNeuron,
    t1: float,
    dt: float,
    *,
    input=0.0,
    n_neurons: int | None = None,
    initial_state: State | None = None,
    surrogate: str = "fast_sigmoid",
    slope: float = 1.0,
    solver: diffrax.AbstractSolver | None = None,
) -> SurrogateResult:
    """Clock-driven run of a reset model whose spikes are differentiable (surrogate gradient).

    Each step: y' = solver.step(y) (Diffrax, default Euler), s = H(V' − V_th) via `spike`,
    y ← s·reset(y') + (1 − s)·y' (a soft reset, exact in the forward pass). The refractory
    clamp holds V for `refractory_period` after a spike (the clamp window itself carries no
    gradient). Counts are Σ_t s_t, so d(count)/dθ is the surrogate gradient.

    This duplicates `simulate`'s clock loop only because `simulate` has no surrogate hook
    (see the fitting report); it is kept minimal.
    """
    if not (isinstance(model, AbstractSpikingNeuron) and model.resets):
        raise ValueError(f"model must be a reset (integrate-and-fire) spiking model, got {type(model).__name__}")
    spike(jnp.zeros(()), surrogate, slope)  # validates surrogate and slope
    n_steps = round(t1 / dt)
    if not (dt > 0 and t1 > 0 and abs(n_steps * dt - t1) < 1e-6 * max(t1, 1.0)):
        raise ValueError(f"t1/dt must be a whole number of steps > 0, got t1={t1}, dt={dt}")
    inp = as_input(input)
    n = n_neurons or (inp.shape[0] if inp.shape else 1)
    y0 = model.initial_state(n) if initial_state is None else initial_state
    solver = solver or diffrax.Euler()
    term = diffrax.ODETerm(lambda tau, y, args: args[0].vector_field(args[2] + tau, y, args[1](args[2] + tau)))
    sstate = solver.init(term, 0.0, dt, y0, (model, inp, 0.0))
    ones = jnp.ones((n,), bool)

    def step(carry, i):
        y, refr, counts = carry
        t = i * dt
        y_new, _, _, _, _ = solver.step(term, 0.0, dt, y, (model, inp, t), sstate, made_jump=False)
        clamped = t < refr - 0.5 * dt
        y_new = {k: jnp.where(clamped, y[k], v) if k in model.clamped else v for k, v in y_new.items()}
        s = spike(model.threshold_distance(y_new), surrogate, slope) * (~clamped)
        y_reset = model.reset(y_new, ones)
        y_new = {k: s * y_reset[k] + (1.0 - s) * y_new[k] for k in y_new}
        refr = jnp.where(jax.lax.stop_gradient(s) > 0, t + dt + model.refractory_period, refr)
        return (y_new, refr, counts + s), y_new["v"]

    carry0 = (y0, jnp.full((n,), -jnp.inf), jnp.zeros((n,)))
    (y, _, counts), v = jax.lax.scan(step, carry0, jnp.arange(n_steps))
    return SurrogateResult(spike_counts=counts, v=v, final_state=y)


# --------------------------------------------------------------------------- long traces


def solve_trace(
    model,
    t1: float,
    dt: float,
    *,
    input=0.0,
    n_neurons: int = 1,
    record_every: int = 1,
    solver: diffrax.AbstractSolver | None = None,
    adjoint: diffrax.AbstractAdjoint | None = None,
    variable: str = "v",
) -> Float[Array, "records neurons"]:
    """Trace of `variable` at t = k·record_every·dt (k = 0 … ⌊steps/record_every⌋ − 1) from a
    `diffrax.diffeqsolve` with fixed steps dt and a chosen adjoint.

    The same samples as `simulate(...).traces[variable]` for non-spiking use (no resets), with
    gradient memory set by `adjoint`: `RecursiveCheckpointAdjoint()` (default; O(√steps)
    checkpoints, exact discrete gradients) or `BacksolveAdjoint()` (O(1) in steps,
    continuous-adjoint gradients). See the module docstring.
    """
    n_steps = round(t1 / dt)
    if not (dt > 0 and t1 > 0 and abs(n_steps * dt - t1) < 1e-6 * max(t1, 1.0)):
        raise ValueError(f"t1/dt must be a whole number of steps > 0, got t1={t1}, dt={dt}")
    if not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    if adjoint is not None and not isinstance(adjoint, diffrax.AbstractAdjoint):
        raise TypeError(f"adjoint must be a diffrax adjoint, got {adjoint!r}")
    inp = as_input(input)
    y0 = model.initial_state(n_neurons)
    n_rec = -(-n_steps // record_every)
    ts = jnp.arange(n_rec) * (record_every * dt)
    term = diffrax.ODETerm(lambda t, y, args: args[0].vector_field(t, y, args[1](t)))
    sol = diffrax.diffeqsolve(
        term, solver or diffrax.Euler(), 0.0, t1, dt, y0, (model, inp),
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.ConstantStepSize(),
        adjoint=adjoint or diffrax.RecursiveCheckpointAdjoint(), max_steps=n_steps + 1,
    )
    return sol.ys[variable]


__all__ = [
    "AbstractTransform", "FitResult", "Identity", "Interval", "MultiStartResult", "Parameters",
    "Positive", "SurrogateResult", "fi_curve_loss", "fit", "fit_multistart", "make_parameters",
    "perturbed_starts", "rate_loss", "rates_from_spike_times", "simulate_surrogate",
    "solve_trace", "spike", "spike_count_loss", "van_rossum_distance", "trace_mse",
]
