"""Argument checks shared by every module: one place, one wording.

Static arguments (sizes, counts, names) are checked with `raise` when a function is called.
Array values are checked here only when they are concrete; inside `jit`/`vmap`/`grad` they
are tracers, and value conditions that matter at run time are checked with
`eqx.error_if` where the values are used (see `neurodyn.simulate(throw=...)`).

Every message names the owner and argument ("LIF.tau_m" for a field of a class, "run:
temperature" for an argument of a function), the value received and the allowed range.
The exception type follows one rule: TypeError for a value of the wrong type (a float
or a string where an integer is needed, a bool where a number is), ValueError for a value
of the right type outside its allowed range or shape (0 where >= 1 is needed, NaN, a
matrix of the wrong shape).
"""

from __future__ import annotations

import numbers

import jax
import numpy as np


def concrete(value) -> np.ndarray | None:
    """The value as a NumPy array, or None if it is a tracer (inside jit/vmap/grad)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        return None  # typed PRNG keys have no NumPy form
    try:
        return np.asarray(value)
    except Exception:  # pragma: no cover - exotic array types
        return None


def show(values) -> str:
    """A short rendering of offending values for an error message."""
    flat = np.ravel(np.asarray(values))
    if flat.size == 1:
        return str(flat[0])
    return f"{flat[:3].tolist()} ({flat.size} values)"


def _name(owner: str | None, name: str) -> str:
    """"LIF.tau_m" for a field of a class, "run: temperature" or "ClassicalHopfield.energy:
    state" for an argument of a function or method (its name starts lower-case)."""
    if not owner:
        return name
    return f"{owner}: {name}" if owner.rsplit(".", 1)[-1][:1].islower() else f"{owner}.{name}"


def check_parameter(
    owner: str,
    name: str,
    value,
    *,
    lower: float | None = None,
    upper: float | None = None,
    lower_open: bool = False,
    max_ndim: int = 1,
    shapes: str = "a scalar or a 1-D array with one value per neuron",
) -> None:
    """Raise if a concrete parameter is not numeric, not finite, or outside [lower, upper].

    With both bounds the message gives the interval ("must be in (0.0, 1.0]"), with one the
    inequality ("must be > 0.0"). Also refuses arrays of more than `max_ndim` dimensions (a
    parameter is a scalar or one value per neuron; `shapes` says what is allowed when
    `max_ndim` is not 1). Tracers (values inside jit/vmap/grad) are not checked here.
    """
    what = _name(owner, name)
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{what} must be a number or numeric array, got the string {value!r}")
    arr = concrete(value)
    if arr is None:
        return
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{what} must be a number or numeric array, got {value!r}")
    if np.any(np.isnan(arr)):
        raise ValueError(f"{what} contains NaN; it must be a finite number")
    if np.any(np.isinf(arr)):
        raise ValueError(f"{what} must be finite, got {show(arr[np.isinf(arr)])}")
    low = np.zeros(arr.shape, bool) if lower is None else (arr <= lower if lower_open else arr < lower)
    high = np.zeros(arr.shape, bool) if upper is None else arr > upper
    if lower is not None and upper is not None and np.any(low | high):
        interval = f"{'(' if lower_open else '['}{lower}, {upper}]"
        raise ValueError(f"{what} must be in {interval}, got {show(arr[low | high])}")
    if np.any(low):
        raise ValueError(f"{what} must be {'>' if lower_open else '>='} {lower}, got {show(arr[low])}")
    if np.any(high):
        raise ValueError(f"{what} must be <= {upper}, got {show(arr[high])}")
    if arr.ndim > max_ndim:
        raise ValueError(f"{what} must be {shapes}, got shape {arr.shape}")


def check_fields(model, *, positive=(), nonnegative=(), real=()) -> None:
    """`check_parameter` on named fields of a model: > 0, >= 0, or any finite number.

    The owner in the messages is the model's class name (e.g. "LIF.tau_m must be > 0.0").
    """
    owner = type(model).__name__
    for names, bounds in ((positive, {"lower": 0.0, "lower_open": True}), (nonnegative, {"lower": 0.0}), (real, {})):
        for name in names:
            check_parameter(owner, name, getattr(model, name), **bounds)


def check_greater(model, name: str, other: str) -> None:
    """Raise if a model's concrete field `name` is not > its field `other` everywhere."""
    a, b = concrete(getattr(model, name)), concrete(getattr(model, other))
    if a is not None and b is not None and np.any(a - b <= 0):
        owner = type(model).__name__
        raise ValueError(
            f"{owner}.{name} must be > {owner}.{other}, got {name}={getattr(model, name)}, "
            f"{other}={getattr(model, other)}"
        )


def check_int(name: str, value, *, lower: int | None = None, owner: str | None = None,
              allow_none: bool = False, meaning: str = "") -> int | None:
    """A Python/NumPy integer >= lower, returned as int; bools, floats and strings refused.

    A float such as 10.0 or 10.5 is refused rather than rounded: the caller chooses.
    """
    if value is None and allow_none:
        return None
    what = _name(owner, name)
    detail = f" ({meaning})" if meaning else ""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        rng = "" if lower is None else f" >= {lower}"
        raise TypeError(
            f"{what} must be an integer{rng}{detail}{' or None' if allow_none else ''}, "
            f"got {value!r} ({type(value).__name__})"
        )
    if lower is not None and value < lower:
        raise ValueError(f"{what} must be an integer >= {lower}{detail}, got {value!r}")
    return int(value)


def check_number(name: str, value, *, owner: str | None = None, unit: str = "", lower: float | None = None,
                 upper: float | None = None, lower_open: bool = False, allow_inf: bool = False,
                 allow_none: bool = False) -> float | None:
    """A real Python/NumPy number (not a string, bool, array or tracer) in [lower, upper], as float.

    NaN is refused; so is ±inf unless `allow_inf` (then only the bounds limit it). With
    `lower_open` the lower bound itself is refused (> lower).
    """
    if value is None and allow_none:
        return None
    what = _name(owner, name)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(
            f"{what} must be a Python number{f' ({unit})' if unit else ''}{' or None' if allow_none else ''}, "
            f"got {value!r} ({type(value).__name__})"
        )
    kind = f"{'a number' if allow_inf else 'a finite number'}{f' of {unit}' if unit else ''}"
    if np.isnan(value) or (np.isinf(value) and not allow_inf):
        raise ValueError(f"{what} must be {kind}{', not NaN' if allow_inf else ''}, got {value}")
    if lower is not None and (value <= lower if lower_open else value < lower):
        raise ValueError(f"{what} must be {kind} {'>' if lower_open else '>='} {lower:g}, got {value!r}")
    if upper is not None and value > upper:
        raise ValueError(f"{what} must be {kind} <= {upper:g}, got {value!r}")
    return float(value)


def check_ms(name: str, value, *, positive: bool = False) -> float:
    """A finite real number of milliseconds (> 0 with `positive`), as float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of milliseconds, got {value!r}")
    if not np.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite number of milliseconds{' > 0' if positive else ''}, got {value}")
    return float(value)


def check_finite_array(name: str, value, *, owner: str | None = None) -> None:
    """Raise if a concrete array (or number) holds NaN or inf; tracers pass."""
    arr = concrete(value)
    if arr is None or not np.issubdtype(arr.dtype, np.number):
        return
    if not np.all(np.isfinite(arr)):
        bad = arr[~np.isfinite(arr)]
        raise ValueError(f"{_name(owner, name)} must be finite (no NaN or inf), got {show(bad)}")


def check_key(name: str, key, *, allow_none: bool = True) -> None:
    """A typed PRNG key (`jax.random.key(seed)`); raw uint32 keys and integers refused."""
    if key is None and allow_none:
        return
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.ndim != 0 and not isinstance(key, jax.core.Tracer):
            raise ValueError(f"{name} must be a single PRNG key, got an array of keys of shape {key.shape}")
        return
    if isinstance(key, (jax.Array, np.ndarray)) and np.shape(key) == (2,) and key.dtype == np.uint32:
        raise TypeError(
            f"{name} must be a typed PRNG key: use jax.random.key(seed), not the raw uint32 "
            f"key of jax.random.PRNGKey (wrap it with jax.random.wrap_key_data)"
        )
    raise TypeError(f"{name} must be a PRNG key made with jax.random.key(seed), got {key!r}")


def check_symmetric(name: str, value, *, owner: str | None = None, atol: float = 0.0) -> None:
    """Raise if a concrete square matrix is not symmetric (to `atol`)."""
    arr = concrete(value)
    if arr is None:
        return
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{_name(owner, name)} must be a square matrix, got shape {arr.shape}")
    if not np.allclose(arr, arr.T, rtol=0.0, atol=atol):
        raise ValueError(
            f"{_name(owner, name)} must be symmetric (W = Wᵀ), max |W - Wᵀ| = {np.max(np.abs(arr - arr.T)):.3g}"
        )


def check_positive(name: str, value, *, owner: str | None = None, allow_zero: bool = False) -> None:
    """Raise if a concrete scalar is not a finite number > 0 (>= 0 with `allow_zero`)."""
    arr = concrete(value)
    if arr is None:
        return
    what = _name(owner, name)
    if arr.ndim != 0:
        raise ValueError(f"{what} must be a scalar, got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if not np.isfinite(arr) or (arr < 0 if allow_zero else arr <= 0):
        rel = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{what} must be a finite number {rel}, got {arr.item()}")


def check_ndim(name: str, value, ndims: tuple[int, ...], meaning: str, *, owner: str | None = None) -> None:
    """Raise if an array's number of dimensions is not one of `ndims` (shapes are static)."""
    if np.ndim(value) not in ndims:
        raise ValueError(f"{_name(owner, name)} must have shape {meaning}, got shape {np.shape(value)}")


def check_last_dim(name: str, value, size: int, meaning: str, *, owner: str | None = None) -> None:
    """Raise if an array's last axis does not have length `size`."""
    if np.shape(value)[-1:] != (size,):
        raise ValueError(
            f"{_name(owner, name)} must have a last axis of length {size} ({meaning}), "
            f"got shape {np.shape(value)}"
        )


def check_binary(name: str, value, *, owner: str | None = None) -> None:
    """Raise if a concrete array holds anything other than -1 and +1 (binary spins)."""
    arr = concrete(value)
    if arr is None or not arr.size or np.all((arr == 1) | (arr == -1)):
        return
    bad = np.unique(arr[(arr != 1) & (arr != -1)])
    shown = str(bad[:5].tolist()) + ("" if bad.size <= 5 else f" ({bad.size} distinct)")
    raise ValueError(
        f"{_name(owner, name)} must contain only -1 and +1 (binary ±1 spins), got other values {shown}"
    )
