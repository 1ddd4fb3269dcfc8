"""Which leaves of a model are trained: selection by name, by function or by filter spec.

`make_parameters(model, params, transforms)` resolves a selection into a `Parameters`
object: the trained leaves' names and positions in `jax.tree.leaves(model)`, and the
transform of each (`neurodyn.fit.transforms`). `Parameters.apply(model, u)` puts T(u) back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Float

from .transforms import AbstractTransform, Identity, Positive


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
                fields = [f.name for f in dataclasses.fields(model)] if dataclasses.is_dataclass(model) else []
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
    elif transforms is not None and not isinstance(transforms, dict):
        raise TypeError(
            f"transforms must be a transform (Positive(), Interval(lo, hi), Identity()) or a "
            f"dict parameter name -> transform, got {transforms!r}"
        )
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



__all__ = ["Parameters", "make_parameters"]
