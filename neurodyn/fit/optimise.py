"""The optimisation loop: `fit` (one start, early stopping) and `fit_multistart` (many starts
and data sets in one vmapped call), with the optax update u ← u − optax_update(∇_u L(T(u))).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .parameters import make_parameters
from .transforms import AbstractTransform


class FitResult(eqx.Module):
    """What `fit` returns.

    Attributes:
        model: the fitted model (trained fields replaced, all others as given).
        params: the fitted values of the trained parameters, by name.
        loss_history: loss before each step, shape (steps,), then the final loss appended.
        grad: ∂L/∂θ at the returned model, by name, in the parameters' own units.
        grad_norm: ‖∇_u L‖₂ at the returned model (unconstrained space).
        steps: optimiser steps taken.
        converged: True if a tolerance was met before `steps` ran out.
        wall_time: seconds spent (compilation included).
    """

    model: Any
    params: dict[str, Array]
    loss_history: Float[Array, " steps"]
    grad: dict[str, Array]
    grad_norm: Float[Array, ""]
    steps: int = eqx.field(static=True)
    converged: bool = eqx.field(static=True)
    wall_time: float = eqx.field(static=True)


def _check_common(optimizer, steps, tol, gtol, min_steps=1):
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"optimizer must be an optax.GradientTransformation, got {optimizer!r}")
    if not isinstance(steps, (int, np.integer)) or steps < min_steps:
        raise ValueError(f"steps must be an integer >= {min_steps}, got {steps!r}")
    for name, v in (("tol", tol), ("gtol", gtol)):
        if v is not None and not (isinstance(v, (int, float)) and v >= 0):
            raise ValueError(f"{name} must be a number >= 0 or None, got {v!r}")


def _optimizer_update(optimizer, grad, opt_state, u, loss, objective):
    """optimizer.update, passing value/grad/value_fn to optimisers that take them (L-BFGS)."""
    if isinstance(optimizer, optax.GradientTransformationExtraArgs):
        return optimizer.update(grad, opt_state, u, value=loss, grad=grad, value_fn=objective)
    return optimizer.update(grad, opt_state, u)


def _make_step(loss_fn, optimizer):
    """One optimiser step (loss, ∇_u loss, update) as a function of (spec, model, u, state)."""

    def step(spec, model, u, opt_state):
        def objective(u):
            return loss_fn(spec.apply(model, u))

        loss, grad = jax.value_and_grad(objective)(u)
        updates, opt_state = _optimizer_update(optimizer, grad, opt_state, u, loss, objective)
        return optax.apply_updates(u, updates), opt_state, loss, grad

    return eqx.filter_jit(step)


# compiled steps of recent fits, keyed by (loss_fn, optimizer): a second `fit` with the
# same loss function and optimiser object (another start, more steps) does not recompile
_STEP_CACHE: dict = {}
_STEP_CACHE_SIZE = 8


def _cached_step(loss_fn, optimizer, spec, model):
    key = (loss_fn, optimizer)
    try:
        hash(key)
        leaves, treedef = jax.tree.flatten(eqx.partition((spec, model), eqx.is_array)[1])
        hash((treedef, tuple(leaves)))  # what filter_jit hashes: its static part
    except TypeError:
        return _make_step(loss_fn, optimizer)
    if key not in _STEP_CACHE:
        if len(_STEP_CACHE) >= _STEP_CACHE_SIZE:
            _STEP_CACHE.pop(next(iter(_STEP_CACHE)))
        _STEP_CACHE[key] = _make_step(loss_fn, optimizer)
    else:
        _STEP_CACHE[key] = _STEP_CACHE.pop(key)  # most recently used last
    return _STEP_CACHE[key]


def _strong(tree):
    """Every numeric leaf as a JAX array without weak type."""

    def strong(x):
        if isinstance(x, (bool, int, float, complex, np.ndarray, np.generic, jax.Array)):
            x = jnp.asarray(x)
            return jnp.asarray(x, dtype=x.dtype) if x.weak_type else x  # explicit dtype: strong
        return x

    return jax.tree.map(strong, tree)


def _grad_in_parameter_units(spec, u, grad_u):
    """∂L/∂θ = (∂L/∂u) / (dθ/du), the transforms being elementwise bijections."""
    out = {}
    for n in spec.names:
        tr = spec.transforms[n]
        _, dtheta_du = jax.jvp(tr.forward, (u[n],), (jnp.ones_like(u[n]),))
        out[n] = grad_u[n] / dtheta_du
    return out


def fit(
    model,
    loss_fn: Callable[[Any], Float[Array, ""]],
    *,
    params: Sequence[str] | str | Callable[[Any], Any] | Any,
    transforms: dict[str, AbstractTransform] | AbstractTransform | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps: int = 500,
    tol: float | None = None,
    gtol: float | None = None,
    rtol: float | None = None,
    progress: bool = True,
    callback: Callable[[int, dict, float], bool | None] | None = None,
) -> FitResult:
    """Minimise `loss_fn(model)` over the selected parameters with an optax optimiser.

    Arguments:
        model: an Equinox module (neuron, network, ...).
        loss_fn: model ↦ scalar loss; must be JAX-traceable (it is jitted and differentiated).
        params: the fields to train, by name ("g_na", ("g_na", "g_k"), "neuron.tau_m" for
            nested modules), by a function as in `eqx.tree_at` (`lambda m: (m.g_na, m.g_k)`)
            or by an Equinox filter spec (a pytree of bools like the model, or a leaf
            predicate such as `eqx.is_inexact_array_like`); see `make_parameters`.
        transforms: {name: Positive() | Interval(lo, hi)} or one transform for all;
            untransformed names are unbounded.
        optimizer: any optax optimiser (default `optax.adam(0.05)`, suited to the default
            `Positive()` scaling where u is in units of the initial value).
        steps: maximum number of optimiser steps; 0 only evaluates the loss and gradient.
        tol: stop when the loss is <= tol.   gtol: stop when ‖∇_u L‖ <= gtol.
        rtol: stop when a step lowers the loss by less than rtol·|L| (stalled).
        progress: tqdm bar with the current loss.
        callback: called as callback(step, params, loss) after every step; return True to stop.

    Returns:
        A `FitResult`. The update step is one `eqx.filter_jit` function, compiled once and
        reused by later calls with the same `loss_fn` and `optimizer` objects.

    Example:
        >>> res = fit(HodgkinHuxley(g_na=80.0), lambda m: trace_mse(run(m), target),
        ...           params=("g_na",), transforms={"g_na": Positive()}, steps=200)
        >>> res = fit(HodgkinHuxley(g_na=80.0), loss, params=lambda m: m.g_na,
        ...           transforms=Positive())
    """
    _check_common(optimizer, steps, tol, gtol, min_steps=0)
    if rtol is not None and not (isinstance(rtol, (int, float)) and rtol >= 0):
        raise ValueError(f"rtol must be a number >= 0 or None, got {rtol!r}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (model -> scalar), got {loss_fn!r}")
    spec = make_parameters(model, params, transforms)
    optimizer = optimizer or optax.adam(0.05)
    # strongly typed arrays throughout: the step's outputs are, and a weak-typed or Python
    # scalar in the initial state would make the second call compile the step again
    u = _strong(spec.to_unconstrained(model))
    opt_state = _strong(optimizer.init(u))
    # trained leaves become arrays, so that the compiled step does not depend on their values
    leaves, treedef = jax.tree.flatten(model)
    for i in spec.leaves:
        leaves[i] = jnp.asarray(leaves[i], dtype=float)
    template = jax.tree.unflatten(treedef, leaves)
    step_fn = _cached_step(loss_fn, optimizer, spec, template)

    def update(u, opt_state):
        return step_fn(spec, template, u, opt_state)

    t_start = time.perf_counter()
    history = []
    converged = False
    bar = None
    if progress and steps > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"fit {type(model).__name__}", leave=False)
    taken = 0
    try:
        for i in range(steps):
            u_new, opt_state_new, loss, grad = update(u, opt_state)
            loss_f, gnorm_f = float(loss), float(optax.tree.norm(grad))
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
    _, _, final_loss, grad = update(u, opt_state)
    gnorm = optax.tree.norm(grad)
    history.append(float(final_loss))
    if tol is not None and float(final_loss) <= tol:
        converged = True
    if gtol is not None and float(gnorm) <= gtol:
        converged = True
    return FitResult(
        model=spec.apply(model, u),
        params=spec.values(u),
        loss_history=jnp.asarray(history),
        grad=_grad_in_parameter_units(spec, u, grad),
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
        params_history: {name: (starts, steps + 1, ...)}, the values before each step and
            the final ones.
        n_datasets: None, or the number of data sets when fitted with `data=`: then every
            array above has a leading "datasets" axis (best_index: (datasets,); the best
            model's trained fields too), and `dataset(k)` gives data set k's own result.
    """

    best: FitResult
    best_index: Int[Array, "*datasets"]
    params: dict[str, Array]
    initial_params: dict[str, Array]
    final_loss: Float[Array, "*datasets starts"]
    loss_history: Float[Array, "*datasets starts steps"]
    params_history: dict[str, Array]
    n_datasets: int | None = eqx.field(static=True, default=None)
    trained_leaves: tuple[int, ...] = eqx.field(static=True, default=())  # in best.model

    def dataset(self, k: int) -> MultiStartResult:
        """The result for data set k alone (a fit with `data=`), as if fitted by itself."""
        if self.n_datasets is None:
            raise ValueError("dataset(k): this result was not fitted with data=")
        if not (isinstance(k, (int, np.integer)) and -self.n_datasets <= k < self.n_datasets):
            raise ValueError(f"dataset(k): k must be an integer in [0, {self.n_datasets}), got {k!r}")
        pick = lambda tree: jax.tree.map(lambda a: a[k], tree)  # noqa: E731
        b = self.best
        leaves, treedef = jax.tree.flatten(b.model)
        for i in self.trained_leaves:
            leaves[i] = leaves[i][k]
        return MultiStartResult(
            best=FitResult(
                model=jax.tree.unflatten(treedef, leaves),
                params=pick(b.params),
                loss_history=b.loss_history[k],
                grad=pick(b.grad),
                grad_norm=b.grad_norm[k],
                steps=b.steps,
                converged=b.converged,
                wall_time=b.wall_time,
            ),
            best_index=self.best_index[k],
            params=pick(self.params),
            initial_params=self.initial_params,
            final_loss=self.final_loss[k],
            loss_history=self.loss_history[k],
            params_history=pick(self.params_history),
            n_datasets=None,
        )


def perturbed_starts(
    model, params, n_starts: int, spread: float, *, key: PRNGKeyArray
) -> dict[str, Float[Array, "starts ..."]]:
    """n_starts initial values θ₀·(1 + U(−spread, spread)) around the model's values.

    `params` selects the parameters as in `fit` (names, a function or a filter spec)."""
    if not isinstance(n_starts, (int, np.integer)) or n_starts < 1:
        raise ValueError(f"n_starts must be an integer >= 1, got {n_starts!r}")
    if not 0 <= spread < 1:
        raise ValueError(f"spread must be in [0, 1), got {spread}")
    values = make_parameters(model, params).initial(model)
    keys = jax.random.split(key, len(values))
    out = {}
    for k, (n, v) in zip(keys, values.items()):
        theta = jnp.asarray(v, dtype=float)
        r = jax.random.uniform(k, (n_starts, *theta.shape), minval=-spread, maxval=spread)
        out[n] = theta * (1.0 + r)
    return out


def _check_data(data) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError(f"data must be a pytree of arrays with a leading 'datasets' axis, got {data!r}")
    sizes = set()
    for x in leaves:
        if not eqx.is_array_like(x) or np.ndim(x) < 1:
            raise ValueError(
                f"data: every leaf needs a leading 'datasets' axis, got {type(x).__name__} "
                f"with shape {np.shape(x)}"
            )
        sizes.add(np.shape(x)[0])
    if len(sizes) != 1:
        raise ValueError(f"data: every leaf needs the same leading 'datasets' axis, got sizes {sorted(sizes)}")
    n = sizes.pop()
    if n < 1:
        raise ValueError("data is empty: its leading 'datasets' axis has length 0 (need >= 1 data set)")
    return n


def fit_multistart(
    model,
    loss_fn: Callable[..., Float[Array, ""]],
    initial_params: dict[str, Float[ArrayLike, "starts ..."]],
    *,
    params=None,
    data=None,
    transforms: dict[str, AbstractTransform] | AbstractTransform | None = None,
    optimizer: optax.GradientTransformation | None = None,
    steps: int = 500,
) -> MultiStartResult:
    """Run `steps` optimiser steps from many initial guesses, and optionally on many data
    sets, in ONE compiled, vmapped call.

    Arguments:
        model: the template model (fields not trained stay fixed).
        loss_fn: model ↦ scalar loss, or (model, data) ↦ scalar loss with `data=`
            (traceable; vmapped over the starts and the data sets).
        initial_params: {name: array with a leading "starts" axis} (e.g. `perturbed_starts`).
        params: the selection as in `fit` (names, function, filter spec); default the
            names in `initial_params`, which must then match the selection's names.
        data: a pytree of arrays with a leading "datasets" axis (e.g. several target
            traces): every start is fitted to every data set, data set k seeing
            `jax.tree.map(lambda a: a[k], data)`.
        transforms, optimizer: as in `fit`. `Positive()` scales are taken from `model`'s
            values, the same for every start, so all starts share one compiled function.
        steps: fixed number of steps (no early stopping: all starts run in lock-step).

    Returns:
        A `MultiStartResult` with the best start and all of them (per data set with `data=`;
        `result.dataset(k)` is data set k's own result).

    Example:
        >>> targets = jnp.stack([trace_a, trace_b])          # (2, time)
        >>> ms = fit_multistart(HodgkinHuxley(), lambda m, y: trace_mse(run(m), y),
        ...                     starts, data=targets, transforms=Positive(), steps=30)
        >>> ms.dataset(1).best.params                          # fitted to trace_b
    """
    _check_common(optimizer, steps, None, None)
    if not isinstance(initial_params, dict) or not initial_params:
        raise ValueError(f"initial_params must be a non-empty dict name -> array, got {initial_params!r}")
    spec = make_parameters(model, tuple(initial_params) if params is None else params, transforms)
    names = spec.names
    if set(names) != set(initial_params):
        raise ValueError(
            f"initial_params: keys {sorted(initial_params)} must be the selected parameters {list(names)}"
        )
    starts = {n: jnp.asarray(initial_params[n], dtype=float) for n in names}
    sizes = {n: v.shape[0] if v.ndim else None for n, v in starts.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        shapes = {n: v.shape for n, v in starts.items()}
        raise ValueError(f"initial_params: every array needs the same leading 'starts' axis, got shapes {shapes}")
    if next(iter(sizes.values())) < 1:
        raise ValueError("initial_params: the leading 'starts' axis is empty (need >= 1 start)")
    for n, v in starts.items():
        spec.transforms[n].check(n, np.asarray(v))
    n_datasets = None if data is None else _check_data(data)
    optimizer = optimizer or optax.adam(0.05)

    def one_start(theta0, d):
        def objective(u):
            m = spec.apply(model, u)
            return loss_fn(m) if data is None else loss_fn(m, d)

        u0 = {n: spec.transforms[n].inverse(theta0[n]) for n in names}

        def step(carry, _):
            u, opt_state = carry
            loss, grad = jax.value_and_grad(objective)(u)
            updates, opt_state = _optimizer_update(optimizer, grad, opt_state, u, loss, objective)
            return (optax.apply_updates(u, updates), opt_state), (loss, u)

        (u, _), (losses, us) = jax.lax.scan(step, (u0, optimizer.init(u0)), None, length=steps)
        final, grad = jax.value_and_grad(objective)(u)
        u_hist = jax.tree.map(lambda h, last: jnp.concatenate([h, last[None]]), us, u)
        theta_hist = jax.vmap(spec.values)(u_hist)
        return u, jnp.append(losses, final), grad, theta_hist

    over_starts = jax.vmap(one_start, in_axes=(0, None))
    run = over_starts if data is None else jax.vmap(over_starts, in_axes=(None, 0))
    t_start = time.perf_counter()
    u_all, hist, grads, theta_hist = eqx.filter_jit(run)(starts, data)
    hist = jnp.where(jnp.isfinite(hist), hist, jnp.inf)
    final = hist[..., -1]
    best = jnp.argmin(final, axis=-1)
    take = lambda a: jnp.take_along_axis(  # noqa: E731
        a, best.reshape(best.shape + (1,) * (a.ndim - best.ndim)), axis=best.ndim
    ).squeeze(best.ndim)
    u_best = {n: take(u_all[n]) for n in names}
    g_best = {n: take(grads[n]) for n in names}
    wall = time.perf_counter() - t_start
    values = spec.values if data is None else jax.vmap(spec.values)
    grad_theta = (
        _grad_in_parameter_units(spec, u_best, g_best) if data is None
        else jax.vmap(lambda u, g: _grad_in_parameter_units(spec, u, g))(u_best, g_best)
    )
    best_result = FitResult(
        model=spec.apply(model, u_best),
        params=values(u_best),
        loss_history=take(hist),
        grad=grad_theta,
        grad_norm=jnp.sqrt(sum(jnp.sum(g.reshape(g.shape[: best.ndim] + (-1,)) ** 2, axis=-1)
                               for g in g_best.values())),
        steps=steps,
        converged=False,
        wall_time=wall,
    )
    all_values = jax.vmap(spec.values) if data is None else jax.vmap(jax.vmap(spec.values))
    return MultiStartResult(
        best=best_result,
        best_index=best,
        params=all_values(u_all),
        initial_params=starts,
        final_loss=final,
        loss_history=hist,
        params_history=theta_hist,
        n_datasets=n_datasets,
        trained_leaves=spec.leaves,
    )



__all__ = ["FitResult", "MultiStartResult", "fit", "fit_multistart", "perturbed_starts"]
