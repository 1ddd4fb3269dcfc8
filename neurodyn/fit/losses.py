"""Losses for fitting: voltage traces, rates, spike counts, spike-train distances, f–I curves.

All are JAX-traceable and differentiable in their first argument.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ..analysis import rates_from_spike_times


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
    if jnp.size(predicted) == 0:
        raise ValueError(f"trace_mse: predicted and target are empty (shape {jnp.shape(predicted)})")
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


def fi_curve_loss(
    rates: Float[Array, " currents"], target_rates: Float[ArrayLike, " currents"]
) -> Float[Array, ""]:
    """Mean squared relative f–I error (1/K) Σ_k ((r_k − r_k*)/r_k*)² over currents with
    r_k* > 0, plus (r_k/1 Hz)² where the target is silent."""
    target = jnp.asarray(target_rates, dtype=float)
    firing = target > 0
    rel = jnp.where(firing, (rates - target) / jnp.where(firing, target, 1.0), rates)
    return jnp.mean(rel**2)



__all__ = [
    "fi_curve_loss", "rate_loss", "rates_from_spike_times", "spike_count_loss", "trace_mse",
    "van_rossum_distance",
]
