"""Parameter fitting with optax: transforms, losses, surrogate spikes, one and many starts.

A fit minimises a user loss L(model) over a few parameters of an Equinox model (a neuron,
a network, anything that is a pytree); all other fields stay fixed:

    θ = T(u),   u ← u − optax_update(∇_u L(T(u)))

where T maps the unconstrained optimiser variable u to the parameter's valid range
(`Positive`: θ = s·softplus(u); `Interval(lo, hi)`: θ = lo + (hi − lo)·sigmoid(u)).
Parameters are chosen by name ("g_na", "neuron.tau_m"), by a function as in `eqx.tree_at`
(`lambda m: (m.g_na, m.g_k)`) or by an Equinox filter spec (`make_parameters`).
`fit_multistart` runs many starts, and optionally many data sets, in one vmapped call.

Gradients and the adjoint. `loss_fn` usually calls `neurodyn.simulate`:
- clock mode (`solver.step` inside `fori_loop`/`scan`) is reverse-differentiated by JAX
  directly: it stores the loop carry of every step, so gradient memory grows linearly
  with the number of steps, O(steps · state); Diffrax's adjoint plays no part there. That
  is the fastest choice for short traces (`benchmarks/fit_hh.py`: 100 ms of HH).
- long traces: `solve_trace`, one `diffrax.diffeqsolve` over the whole trace with a chosen
  adjoint (`adjoint=`):
    `diffrax.RecursiveCheckpointAdjoint()` (the default): binomial checkpointing with
        ≈ √(2·steps) checkpoints (Equinox's default for `checkpoints=None`), so memory
        O(√steps · state) and time O(steps) forward + recomputation; gradients are exact
        for the discrete solve. `RecursiveCheckpointAdjoint(checkpoints=k)` trades memory
        for recomputation.
    `diffrax.BacksolveAdjoint()` (the option): solves the continuous adjoint ODE backwards,
        memory O(state) in the number of steps; its gradients differ from the discrete ones
        by the solver's error, which is large through spikes at coarse dt (see the test).
  In every path the recorded samples that the loss reads are O(records): subsample with
  `record_every` (or a window of `trace_mse`) to keep long traces bounded. The benchmark
  reports XLA's working memory of each path at 100 and 400 ms.
- exact mode (`mode="exact"`) spike times are event roots t* of g(t, y(t; θ), θ) = 0;
  Diffrax differentiates the root by the implicit function theorem,
      dt*/dθ = −(∂g/∂θ + ∂g/∂y·∂y/∂θ) / (dg/dt),
  and `simulate`'s event loop (an Equinox checkpointed while loop over segments, each a
  Diffrax solve with its own checkpointed loop) passes those gradients through resets and
  refractory periods; memory is bounded by `max_spikes`. Compiling this gradient is slow
  (tens of seconds on a 2-core CPU): `fit` compiles its step once and reuses it for later
  calls with the same `loss_fn` and `optimizer` (use fixed transform scales, e.g.
  `Positive(10.0)`, so the start does not enter the compiled function), and a
  value-only line search (`optax.scale_by_backtracking_linesearch`) avoids tracing the
  gradient twice. `tests/test_fit.py` checks these gradients against central finite
  differences.
- clock-driven threshold crossings have zero gradient almost everywhere; `spike` is a
  Heaviside step whose derivative is replaced by a smooth surrogate (SuperSpike fast
  sigmoid, sigmoid, arctan); `simulate(..., surrogate=...)` uses it for the spikes of
  any reset model or network of them (soft reset detached; a network delivers the
  differentiable spikes), and `simulate_surrogate` is that run reshaped for fitting.
"""

from __future__ import annotations

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
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .inputs import as_input
from ._simulate import simulate
from .surrogate import check_surrogate, spike  # spike re-exported: neurodyn.fit.spike
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


class _Leaf:
    """Stands in for leaf `index` of a model while a parameter selection is resolved."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self):
        return f"<leaf {self.index}>"


_UNSELECTED = object()


def _leaf_labels(model) -> list[str]:
    """'g_na', 'neuron.tau_m', "weights['ee']": each leaf's path, as a parameter name."""
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(model)[0]]
    return [jax.tree_util.keystr(p).removeprefix(".") for p in paths]


def _resolve_selection(model, params) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(names, leaf indices) of the parameters that `params` selects in `model`."""
    leaves, treedef = jax.tree.flatten(model)
    marked = jax.tree.unflatten(treedef, [_Leaf(i) for i in range(len(leaves))])
    if isinstance(params, str):
        params = (params,)
    by_names = isinstance(params, (tuple, list)) and all(isinstance(n, str) for n in params)
    if by_names:
        names = tuple(params)
        if not names:
            raise ValueError("params must name at least one parameter to fit, got ()")
        if len(set(names)) != len(names):
            raise ValueError(f"params: duplicate names in {names}")
        index = []
        for n in names:
            if not _has(model, n):
                fields = [k for k in getattr(model, "__dataclass_fields__", {})]
                raise ValueError(
                    f"params: {type(model).__name__} has no parameter {n!r}; its fields are {fields}"
                )
            leaf = _get(marked, n)
            if not isinstance(leaf, _Leaf):
                raise ValueError(
                    f"params: {n!r} is not a numeric leaf of the model (got {_get(model, n)!r}; "
                    f"static fields and submodules cannot be trained by name)"
                )
            index.append(leaf.index)
        return names, tuple(index)
    if callable(params) and not isinstance(params, eqx.Module):
        try:
            picked = params(marked)
        except Exception as e:
            raise ValueError(
                f"params: the selection function {params!r} must return fields of the model, "
                f"as the `where` of eqx.tree_at does (e.g. lambda m: (m.g_na, m.g_k)); calling "
                f"it raised {type(e).__name__}: {e}"
            ) from e
        if isinstance(picked, (bool, np.bool_)):
            mask = eqx.filter(model, params, replace=_UNSELECTED)  # a leaf filter, e.g. eqx.is_inexact_array_like
        else:
            found = jax.tree.leaves(picked)
            bad = [x for x in found if not isinstance(x, _Leaf)]
            if bad or not found:
                raise ValueError(
                    f"params: the selection function must return numeric fields of the model "
                    f"(as the `where` of eqx.tree_at), got {picked!r}"
                )
            index = tuple(dict.fromkeys(x.index for x in found))  # ordered, no duplicates
            labels = _leaf_labels(model)
            return tuple(labels[i] for i in index), index
    else:
        try:
            mask = eqx.filter(model, params, replace=_UNSELECTED)
        except Exception as e:
            raise ValueError(
                f"params must be parameter names, a function model -> fields (as in "
                f"eqx.tree_at), or an Equinox filter spec (a pytree of bools matching the "
                f"model); got {params!r}, which does not match the model: {e}"
            ) from e
    index = tuple(i for i, x in enumerate(jax.tree.leaves(mask)) if x is not _UNSELECTED)
    if not index:
        raise ValueError(
            f"params: the filter {params!r} selects no parameter of {type(model).__name__} "
            f"(Python float fields are not arrays: use eqx.is_inexact_array_like rather than "
            f"eqx.is_inexact_array)"
        )
    labels = _leaf_labels(model)
    return tuple(labels[i] for i in index), index


class Parameters(eqx.Module):
    """Which leaves of a model are trained, and how each is mapped to unconstrained space.

    `names` label the trained leaves ("g_na", "neuron.tau_m" for nested modules); `leaves`
    are their positions in `jax.tree.leaves(model)`.
    """

    names: tuple[str, ...] = eqx.field(static=True)
    leaves: tuple[int, ...] = eqx.field(static=True)
    transforms: dict[str, AbstractTransform]

    def initial(self, model) -> dict[str, Any]:
        """The trained parameters' current values in `model`, by name."""
        leaves = jax.tree.leaves(model)
        return {n: leaves[i] for n, i in zip(self.names, self.leaves)}

    def to_unconstrained(self, model) -> dict[str, Float[Array, "..."]]:
        return {n: self.transforms[n].inverse(v) for n, v in self.initial(model).items()}

    def values(self, u: dict[str, Array]) -> dict[str, Array]:
        return {n: self.transforms[n].forward(u[n]) for n in self.names}

    def apply(self, model, u: dict[str, Array]):
        """The model with the trained leaves set to T(u) (all others untouched)."""
        vals = self.values(u)
        leaves, treedef = jax.tree.flatten(model)
        for n, i in zip(self.names, self.leaves):
            leaves[i] = vals[n]
        return jax.tree.unflatten(treedef, leaves)


def make_parameters(
    model,
    params,
    transforms: dict[str, AbstractTransform] | AbstractTransform | None = None,
) -> Parameters:
    """Validate a parameter selection and its transforms against `model`.

    Arguments:
        model: an Equinox module (or any pytree).
        params: which leaves to train, in one of three forms:
            - names: "g_na", or ("g_na", "g_k"), "neuron.tau_m" for nested modules;
            - a function model -> field(s), the `where` of `eqx.tree_at`:
              `lambda m: (m.g_na, m.g_k)` (a submodule selects all its leaves);
            - an Equinox filter spec, as for `eqx.partition`: a pytree of bools with the
              model's structure (or a prefix of it), or a leaf predicate such as
              `eqx.is_inexact_array_like`.
            Selected leaves are named by their path ("g_na", "neuron.tau_m", "w['ee']").
        transforms: {name: Positive() | Interval(lo, hi)}, or one transform for all;
            untransformed names are unbounded.

    Raises ValueError naming the argument for unknown names, empty selections, transforms
    for parameters that are not trained, or initial values outside a transform's range.
    """
    if params is None:
        raise TypeError("params must be names, a function model -> fields, or a filter spec; got None")
    names, index = _resolve_selection(model, params)
    leaves = jax.tree.leaves(model)
    for n, i in zip(names, index):
        x = leaves[i]
        if not eqx.is_array_like(x) or np.asarray(x).dtype == bool:
            raise ValueError(f"params: {n!r} is not numeric (got {x!r})")
    if isinstance(transforms, AbstractTransform):
        transforms = {n: transforms for n in names}
    transforms = dict(transforms or {})
    unknown = set(transforms) - set(names)
    if unknown:
        raise ValueError(
            f"transforms: {sorted(unknown)} are not in params={names}; transforms apply only "
            f"to trained parameters"
        )
    full = {}
    for n, i in zip(names, index):
        tr = transforms.get(n, Identity())
        if not isinstance(tr, AbstractTransform):
            raise TypeError(f"transforms[{n!r}] must be a Positive/Interval/Identity, got {tr!r}")
        theta = leaves[i]
        if isinstance(tr, Positive) and tr.scale is None:
            scale = float(np.max(np.abs(np.asarray(theta))))
            tr = Positive(scale if scale > 0 else 1.0)
        tr.check(n, theta)
        full[n] = tr
    return Parameters(names=names, leaves=index, transforms=full)


# --------------------------------------------------------------------------- fit


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

    def dataset(self, k: int) -> "MultiStartResult":
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
    return sizes.pop()


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
        raise ValueError(f"initial_params: every array needs the same leading 'starts' axis, got shapes { {n: v.shape for n, v in starts.items()} }")
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

    `neurodyn.simulate(..., surrogate=surrogate, surrogate_slope=slope)` (default solver
    Euler) with the result reshaped: spikes s = H(V' − V_th) through `spike`, a detached
    soft reset, the refractory clamp; counts Σ_t s, so d(count)/dθ is the surrogate
    gradient; `v` is the membrane potential after each step, shape (steps, neurons).
    """
    check_surrogate(surrogate, slope)  # under this function's argument names
    res = simulate(  # checks the model
        model, t1, dt, input=input, n_neurons=n_neurons, initial_state=initial_state,
        solver=solver or diffrax.Euler(), record=(model.spike_variable,), check=False,
        surrogate=surrogate, surrogate_slope=slope,
    )
    v = res.traces[model.spike_variable]
    v = jnp.concatenate([v[1:], res.final_state.y[model.spike_variable][None]])
    return SurrogateResult(spike_counts=res.surrogate_counts, v=v, final_state=res.final_state.y)


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
