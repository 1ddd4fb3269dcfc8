"""Argument checks specific to the Hopfield models (±1 spins, pattern shapes).

The generic checks (`concrete`, finite, integer, range, symmetric) live in
`neurodyn._checks`, shared by every module. Checks run on concrete values only: inside
jit/vmap the values are tracers and the checks are the caller's responsibility (shapes are
still checked, they are static).
"""

from __future__ import annotations

import numpy as np

from .._checks import concrete  # noqa: F401  (re-exported for the Hopfield modules)


def show(values: np.ndarray) -> str:
    flat = np.unique(np.ravel(values))
    return str(flat[:5].tolist()) + ("" if flat.size <= 5 else f" ({flat.size} distinct)")


def check_ndim(owner: str, name: str, value, ndims: tuple[int, ...], meaning: str) -> None:
    ndim = np.ndim(value)
    if ndim not in ndims:
        raise ValueError(
            f"{owner}: {name} must have shape {meaning}, got shape {np.shape(value)}"
        )


def check_binary(owner: str, name: str, value) -> None:
    """Raise if a concrete array holds anything other than -1 and +1."""
    arr = concrete(value)
    if arr is None:
        return
    if arr.size and not np.all((arr == 1) | (arr == -1)):
        bad = arr[(arr != 1) & (arr != -1)]
        raise ValueError(
            f"{owner}: {name} must contain only -1 and +1 (binary ±1 spins), "
            f"got other values {show(bad)}"
        )


def check_finite(owner: str, name: str, value) -> None:
    arr = concrete(value)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: {name} must be finite, got NaN or inf")


def check_positive(owner: str, name: str, value, *, allow_zero: bool = False) -> None:
    arr = concrete(value)
    if arr is None:
        return
    if arr.ndim != 0:
        raise ValueError(f"{owner}: {name} must be a scalar, got shape {arr.shape}")
    if not np.isfinite(arr) or (arr < 0 if allow_zero else arr <= 0):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{owner}: {name} must be a finite number {rel}, got {arr.item()}")


def check_last_dim(owner: str, name: str, value, size: int, meaning: str) -> None:
    if np.shape(value)[-1:] != (size,):
        raise ValueError(
            f"{owner}: {name} must have a last axis of length {size} ({meaning}), "
            f"got shape {np.shape(value)}"
        )
