"""Pattern sets and cue corruptions shared by every memory model.

Pattern sets (rows = patterns):
- `random_patterns`: independent unbiased ±1 patterns, the ensemble of the classical
  capacity results (Amit, Gutfreund & Sompolinsky 1985).
- `digits`: scikit-learn's 8×8 handwritten digits (Alpaydin & Kaynak 1998, UCI; 1797
  images, 64 pixels with values 0..16) as shipped inside scikit-learn (no download):
  continuous in [0, 1] (pixel/16, as Millidge et al. 2022 feed images), or binarised to ±1
  (pixel ≥ 8 → +1) for the binary models. Needs the optional extra `neurodyn[memory]`.

Corruptions of a cue (each takes an explicit key and acts on the last axis):
- `flip`: flip the sign of exactly round(f·N) randomly chosen components (±1 patterns).
- `gaussian_noise`: add σ·N(0, 1) to every component.
- `mask`: set round(f·N) randomly chosen components to 0 ("unknown").
- `mask_half`: set the second half of the components (the lower half of an image) to 0,
  the masking protocol of Millidge et al. (2022).
Binary models cannot hold a 0 or a real number; `binarise_cue` turns any cue into ±1 spins
(sign, and a fair coin for exact zeros) and the harness applies it for them, saying so.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._checks import check_int, check_positive, concrete

Patterns = Float[Array, "patterns neurons"]
Cues = Float[Array, "*batch neurons"]


def random_patterns(key: PRNGKeyArray, n_patterns: int, n_neurons: int) -> Patterns:
    """P independent unbiased ±1 patterns of N components (float32)."""
    n_patterns = check_int("n_patterns", n_patterns, lower=1, owner="random_patterns")
    n_neurons = check_int("n_neurons", n_neurons, lower=1, owner="random_patterns")
    return jr.rademacher(key, (n_patterns, n_neurons), dtype=jnp.float32)


def digits(binary: bool = False, n_patterns: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 digits as (patterns (P, 64), labels (P,)), in the shipped order.

    Arguments:
        binary: ±1 (pixel ≥ 8 of 16 → +1) instead of continuous pixel/16 ∈ [0, 1].
        n_patterns: the first n images (default all 1797).

    Raises ImportError naming the extra when scikit-learn is missing (`pip install
    neurodyn[memory]`).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "neurodyn.memory.digits needs scikit-learn (its 8x8 digits ship inside the "
            "package, no download): pip install 'neurodyn[memory]'"
        ) from err
    data = load_digits()
    images, labels = np.asarray(data.data, np.float32), np.asarray(data.target)
    if n_patterns is not None:
        n = int(n_patterns)
        if not 1 <= n <= images.shape[0]:
            raise ValueError(f"digits: n_patterns must be in [1, {images.shape[0]}], got {n_patterns}")
        images, labels = images[:n], labels[:n]
    if binary:
        return np.where(images >= 8.0, 1.0, -1.0).astype(np.float32), labels
    return images / 16.0, labels


def _check_fraction(owner: str, fraction) -> None:
    f = concrete(fraction)  # None inside jit: checked by the measurement functions
    if f is not None and not np.all((f >= 0.0) & (f <= 1.0)):
        raise ValueError(f"{owner}: fraction must lie in [0, 1], got {f}")


def _chosen(key: PRNGKeyArray, shape: tuple[int, ...], fraction) -> Array:
    """True at exactly round(fraction·N) random positions of each row (last axis N)."""
    n = shape[-1]
    rows = int(np.prod(shape[:-1], dtype=int))
    count = jnp.round(jnp.asarray(fraction) * n)
    ranks = jax.vmap(lambda k: jr.permutation(k, n))(jr.split(key, max(rows, 1)))
    return (ranks[:rows] < count).reshape(shape)


def flip(key: PRNGKeyArray, pattern: Cues, fraction: float) -> Cues:
    """Flip the sign of exactly round(fraction·N) randomly chosen components of each row."""
    _check_fraction("flip", fraction)
    pattern = jnp.asarray(pattern)
    return jnp.where(_chosen(key, pattern.shape, fraction), -pattern, pattern)


def gaussian_noise(key: PRNGKeyArray, pattern: Cues, sigma: float) -> Cues:
    """pattern + σ·ε, ε ~ N(0, 1) independently per component (σ in pattern units)."""
    check_positive("sigma", sigma, owner="gaussian_noise", allow_zero=True)
    pattern = jnp.asarray(pattern)
    return pattern + sigma * jr.normal(key, pattern.shape, pattern.dtype)


def mask(key: PRNGKeyArray, pattern: Cues, fraction: float) -> Cues:
    """Set exactly round(fraction·N) randomly chosen components of each row to 0."""
    _check_fraction("mask", fraction)
    pattern = jnp.asarray(pattern)
    return jnp.where(_chosen(key, pattern.shape, fraction), 0.0, pattern)


def mask_half(key: PRNGKeyArray | None, pattern: Cues, fraction: float = 0.5) -> Cues:
    """Set the last round(fraction·N) components to 0 (fraction ½: the lower half of an
    image stored row by row, Millidge et al. 2022). `key` is unused (deterministic)."""
    del key
    _check_fraction("mask_half", fraction)
    pattern = jnp.asarray(pattern)
    n = pattern.shape[-1]
    hidden = jnp.arange(n) >= n - jnp.round(jnp.asarray(fraction) * n)
    return jnp.where(hidden, 0.0, pattern)


CORRUPTIONS = {"flip": flip, "gaussian": gaussian_noise, "mask": mask, "mask_half": mask_half}


def corrupt(key: PRNGKeyArray, pattern: Cues, kind: str, level: float) -> Cues:
    """Apply the corruption named `kind` (one of `CORRUPTIONS`) at `level`."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"corrupt: kind must be one of {sorted(CORRUPTIONS)}, got {kind!r}")
    return CORRUPTIONS[kind](key, pattern, level)


def binarise_cue(key: PRNGKeyArray, cue: Cues) -> Cues:
    """±1 spins from any cue: sign(cue), and a fair coin where the cue is exactly 0."""
    cue = jnp.asarray(cue)
    coin = jr.rademacher(key, cue.shape, dtype=cue.dtype)
    return jnp.where(cue > 0, 1.0, jnp.where(cue < 0, -1.0, coin)).astype(cue.dtype)
