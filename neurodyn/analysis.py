"""Analysis of spike trains and simulation results: rates, ISI statistics, f–I curves,
phase planes. The one home of neurodyn's rate and CV helpers (the benchmarks, the fitting
losses and the tests call these).

Definitions (Dayan & Abbott 2001, ch. 1; Gerstner et al. 2014, ch. 7):
- rate from the inter-spike intervals (ISI): r = (n − 1)/(t_n − t_1), the inverse of the
  mean ISI; not quantised by a counting window. The f–I curve uses it by default.
- count rate: r = n/T over a window T (quantised to 1/T; robust with few spikes).
- coefficient of variation: CV = std(ISI)/mean(ISI); 0 for a regular train, 1 for a
  Poisson process.
- population rate: spikes of N neurons in bins of width Δ, divided by N·Δ (Hz per neuron).
Times are in ms, rates in Hz.
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from ._checks import check_ms
from ._simulate import simulate
from ._state import SimulationResult
from .neurons.base import AbstractNeuron, AbstractSpikingNeuron

# --------------------------------------------------------------------------- spike trains


def isi_rate(spike_times: Float[ArrayLike, " spikes"]) -> float:
    """Rate (Hz) of one spike train from its mean inter-spike interval,
    1000·(n − 1)/(t_last − t_first) with times in ms. Raises ValueError for < 2 spikes."""
    t = np.sort(np.asarray(spike_times, dtype=float).ravel())
    if t.size < 2:
        raise ValueError(f"spike_times: need at least two spikes to measure an ISI rate, got {t.size}")
    if not np.all(np.isfinite(t)):
        raise ValueError("spike_times must be finite (trim the inf padding of a spike buffer)")
    return float(1000.0 * (t.size - 1) / (t[-1] - t[0]))


def mean_rate(n_spikes: int, n_neurons: int, duration_ms: float) -> float:
    """Mean count rate (Hz) of n_neurons that fired n_spikes in duration_ms: n/(N·T)."""
    if not (isinstance(n_neurons, (int, np.integer)) and n_neurons >= 1):
        raise ValueError(f"n_neurons must be an integer >= 1, got {n_neurons!r}")
    if not (np.isfinite(duration_ms) and duration_ms > 0):
        raise ValueError(f"duration_ms must be a finite number > 0, got {duration_ms}")
    return float(n_spikes) / n_neurons / (duration_ms / 1000.0)


def isi_cvs(
    spike_times: Float[ArrayLike, " spikes"],
    spike_neurons: Int[ArrayLike, " spikes"],
    n_neurons: int,
    min_spikes: int = 3,
) -> np.ndarray:
    """CV = std(ISI)/mean(ISI) of each neuron's train (population std, ddof = 0); NaN for
    neurons with fewer than `min_spikes` spikes (>= 3: two intervals)."""
    if not (isinstance(min_spikes, (int, np.integer)) and min_spikes >= 3):
        raise ValueError(f"min_spikes must be an integer >= 3 (two intervals), got {min_spikes!r}")
    times, neurons = np.asarray(spike_times, dtype=float), np.asarray(spike_neurons)
    if times.shape != neurons.shape:
        raise ValueError(f"spike_times has shape {times.shape} but spike_neurons has {neurons.shape}")
    if neurons.size and (neurons.min() < 0 or neurons.max() >= n_neurons):
        raise ValueError(f"spike_neurons must lie in [0, {n_neurons}), got [{neurons.min()}, {neurons.max()}]")
    order = np.lexsort((times, neurons))
    t, i = times[order], neurons[order]
    same = i[1:] == i[:-1]
    isi, owner = np.diff(t)[same], i[1:][same]
    count = np.bincount(owner, minlength=n_neurons)
    s1 = np.bincount(owner, isi, minlength=n_neurons)
    s2 = np.bincount(owner, isi * isi, minlength=n_neurons)
    ok = count >= min_spikes - 1
    mean = np.where(ok, s1 / np.maximum(count, 1), np.nan)
    var = np.maximum(np.where(ok, s2 / np.maximum(count, 1), np.nan) - mean**2, 0.0)
    return np.sqrt(var) / mean


def mean_isi_cv(
    spike_times: Float[ArrayLike, " spikes"],
    spike_neurons: Int[ArrayLike, " spikes"],
    min_spikes: int = 3,
) -> float:
    """Mean over neurons with >= `min_spikes` spikes of their ISI CV; NaN if there are none."""
    neurons = np.asarray(spike_neurons)
    n = int(neurons.max()) + 1 if neurons.size else 1
    cvs = isi_cvs(spike_times, neurons, n, min_spikes)
    return float(np.nanmean(cvs)) if np.any(np.isfinite(cvs)) else float("nan")


def binned_rate(
    spike_times: Float[ArrayLike, " spikes"],
    n_neurons: int,
    t0: float,
    t1: float,
    bin_ms: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Population rate (Hz per neuron) in bins of `bin_ms` from t0 to t1 (ms): the spike
    count of each bin divided by n_neurons·bin_ms. Returns (bin centres in ms, rate)."""
    t0, t1, bin_ms = (check_ms(k, v) for k, v in (("t0", t0), ("t1", t1), ("bin_ms", bin_ms)))
    if not bin_ms > 0 or not t1 > t0:
        raise ValueError(f"need bin_ms > 0 and t1 > t0, got t0={t0}, t1={t1}, bin_ms={bin_ms}")
    if not (isinstance(n_neurons, (int, np.integer)) and n_neurons >= 1):
        raise ValueError(f"n_neurons must be an integer >= 1, got {n_neurons!r}")
    n_bins = int(round((t1 - t0) / bin_ms))
    if n_bins < 1 or abs(n_bins * bin_ms - (t1 - t0)) > 1e-6 * max(abs(t1), 1.0):
        raise ValueError(f"t1 − t0 must be a whole number of bins, got t0={t0}, t1={t1}, bin_ms={bin_ms}")
    edges = t0 + bin_ms * np.arange(n_bins + 1)
    counts, _ = np.histogram(np.asarray(spike_times, dtype=float), edges)
    return (edges[:-1] + edges[1:]) / 2, counts / (n_neurons * bin_ms / 1000.0)


def spike_count_correlations(
    spike_times: Float[ArrayLike, " spikes"],
    spike_neurons: Int[ArrayLike, " spikes"],
    neurons: Int[ArrayLike, " sample"],
    t0: float,
    t1: float,
    bin_ms: float = 2.0,
) -> np.ndarray:
    """Pearson correlation coefficients of the spike counts of every pair of `neurons` in
    bins of `bin_ms` over [t0, t1) (ms): the upper triangle, pairs in row-major order.

    Pairs with a neuron whose count has zero variance (silent in the window, or firing in
    every bin) have no correlation coefficient and are left out, so the result may be
    shorter than n(n − 1)/2. The measure of the microcircuit validations (2 ms bins, a
    fixed subsample per population: van Albada et al. 2018, Front. Neurosci. 12:291;
    Dasbach et al. 2021, Front. Neurosci. 15:757790).
    """
    t0, t1, bin_ms = (check_ms(k, v) for k, v in (("t0", t0), ("t1", t1), ("bin_ms", bin_ms)))
    if not bin_ms > 0 or not t1 > t0:
        raise ValueError(f"need bin_ms > 0 and t1 > t0, got t0={t0}, t1={t1}, bin_ms={bin_ms}")
    ids = np.asarray(neurons).ravel()
    if ids.size < 2 or np.unique(ids).size != ids.size:
        raise ValueError(f"neurons must be at least two distinct indices, got {ids.size} ({np.unique(ids).size} distinct)")
    times, who = np.asarray(spike_times, dtype=float), np.asarray(spike_neurons)
    if times.shape != who.shape:
        raise ValueError(f"spike_times has shape {times.shape} but spike_neurons has {who.shape}")
    n_bins = int(np.floor((t1 - t0) / bin_ms + 1e-9))
    if n_bins < 2:
        raise ValueError(f"[t0, t1) must hold at least two bins of {bin_ms} ms, got t0={t0}, t1={t1}")
    row = np.full(int(max(ids.max(), who.max() if who.size else 0)) + 1, -1)
    row[ids] = np.arange(ids.size)
    keep = (times >= t0) & (times < t0 + n_bins * bin_ms)
    r = row[who[keep]] if who.size else np.zeros(0, int)
    sel = r >= 0
    b = ((times[keep][sel] - t0) / bin_ms).astype(int)
    counts = np.zeros((ids.size, n_bins))
    np.add.at(counts, (r[sel], np.minimum(b, n_bins - 1)), 1.0)
    counts -= counts.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.sum(counts * counts, axis=1))
    ok = norm > 0
    c = counts[ok] / norm[ok, None]
    cc = c @ c.T
    return cc[np.triu_indices(cc.shape[0], k=1)]


def ks_distance(a: Float[ArrayLike, " n"], b: Float[ArrayLike, " m"]) -> float:
    """Two-sample Kolmogorov–Smirnov distance sup_x |F_a(x) − F_b(x)| of the empirical
    CDFs (NaN values dropped); NaN if either sample is empty."""
    a = np.sort(np.asarray(a, dtype=float).ravel())
    b = np.sort(np.asarray(b, dtype=float).ravel())
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    x = np.concatenate([a, b])
    fa = np.searchsorted(a, x, side="right") / a.size
    fb = np.searchsorted(b, x, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def population_statistics(
    spike_times: Float[ArrayLike, " spikes"],
    spike_neurons: Int[ArrayLike, " spikes"],
    populations,
    t0: float,
    t1: float,
    *,
    n_sample: int = 200,
    bin_ms: float = 2.0,
) -> dict[str, dict[str, np.ndarray]]:
    """Per population over [t0, t1) ms: `rates` (Hz, every neuron, silent ones as 0),
    `cvs` (ISI CV of the neurons with >= 3 spikes in the window) and `correlations`
    (`spike_count_correlations` among the first `n_sample` neurons of the population).

    `populations`: a sequence of (name, start, stop) neuron ranges (`Network.populations`).
    """
    t0, t1 = check_ms("t0", t0), check_ms("t1", t1)
    if not t1 > t0:
        raise ValueError(f"need t1 > t0, got t0={t0}, t1={t1}")
    if isinstance(n_sample, bool) or not isinstance(n_sample, (int, np.integer)) or n_sample < 2:
        raise ValueError(f"n_sample must be an integer >= 2, got {n_sample!r}")
    times, who = np.asarray(spike_times, dtype=float), np.asarray(spike_neurons)
    keep = (times >= t0) & (times < t1)
    times, who = times[keep], who[keep]
    out = {}
    for name, start, stop in populations:
        mine = (who >= start) & (who < stop)
        t, i = times[mine], who[mine] - start
        n = stop - start
        rates = np.bincount(i, minlength=n) / ((t1 - t0) / 1000.0)
        cvs = isi_cvs(t, i, n)
        sample = np.arange(min(n_sample, n))
        corr = (spike_count_correlations(t, i, sample, t0, t1, bin_ms) if sample.size >= 2
                else np.zeros(0))
        out[name] = {"rates": rates, "cvs": cvs[np.isfinite(cvs)], "correlations": corr}
    return out


# --------------------------------------------------------------------------- results


def firing_rates(result: SimulationResult, t_start: float | None = None) -> np.ndarray:
    """Rate (Hz) of each neuron from its mean inter-spike interval after `t_start` (ms).

    Neurons with fewer than two spikes in the window get 0.
    """
    rates = []
    for train in result.spike_trains():
        if t_start is not None:
            train = train[train >= t_start]
        rates.append(isi_rate(train) if train.size >= 2 else 0.0)
    return np.asarray(rates)


def isi_cv(result: SimulationResult) -> np.ndarray:
    """Coefficient of variation of the inter-spike intervals per neuron (NaN if < 3 spikes)."""
    times, neurons = result.spikes()
    return isi_cvs(times, neurons, result.spike_counts.shape[-1])


def population_rate_histogram(
    result: SimulationResult, t0: float, t1: float, bin_ms: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres in ms, population rate in Hz per neuron) from the stored spikes of a
    result, binned after the run (`binned_rate`). `SimulationResult.population_rate` is the
    other way: the counts of the `rate_every` monitor, binned during the run."""
    times, _ = result.spikes()
    return binned_rate(times, int(result.spike_counts.shape[-1]), t0, t1, bin_ms)


def f_i_curve(
    model: AbstractSpikingNeuron,
    currents: Float[ArrayLike, " currents"],
    *,
    t1: float = 1000.0,
    dt: float = 0.01,
    t_start: float = 200.0,
    solver: diffrax.AbstractSolver | None = None,
    mode: str = "clock",
    rate: str = "isi",
) -> Float[Array, " currents"]:
    """Steady firing rate (Hz) for each constant current, in one compiled call.

    The currents are one heterogeneous population (one vector ODE). With `rate="isi"`
    (default) a neuron's rate is 1/mean ISI of its spikes after `t_start` (ms), the
    definition the literature uses (e.g. Hodgkin & Huxley's 68.3 Hz at 10 µA/cm²); 0 with
    fewer than two spikes there. `rate="count"` is the spike count after `t_start` divided by
    the window t1 − t_start, quantised to 1/window (1.25 Hz for an 800 ms window).
    """
    if rate not in ("isi", "count"):
        raise ValueError(f"rate must be 'isi' or 'count', got {rate!r}")
    t1, t_start = check_ms("t1", t1), check_ms("t_start", t_start)
    if not 0 <= t_start < t1:
        raise ValueError(f"t_start must satisfy 0 <= t_start < t1 = {t1}, got {t_start}")
    currents = jnp.asarray(currents)
    if currents.ndim != 1:
        raise ValueError(f"currents must be a 1-D array, got shape {currents.shape}")
    result = simulate(model, t1=t1, dt=dt, input=currents, solver=solver, mode=mode, record=())
    times, neurons = result.spikes()
    late = times >= t_start
    if rate == "count":
        counts = np.bincount(neurons[late], minlength=currents.shape[0])
        return jnp.asarray(counts * 1000.0 / (t1 - t_start))
    t, i = times[late], neurons[late]
    out = np.zeros(currents.shape[0])
    for k in range(currents.shape[0]):
        train = t[i == k]
        out[k] = isi_rate(train) if train.size >= 2 else 0.0
    return jnp.asarray(out)


def phase_plane(
    model: AbstractNeuron,
    x_name: str,
    y_name: str,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    *,
    clamp: dict | None = None,
    input_current: float = 0.0,
    resolution: int = 25,
):
    """The vector field of two state variables on a grid, the others fixed.

    Variables not plotted are taken from `clamp`, or from the model's resting state.
    Returns (X, Y, dX, dY) arrays of shape (resolution, resolution).
    """
    rest = {k: float(v[0]) for k, v in model.initial_state(1).items()}
    rest.update(clamp or {})
    xs = jnp.linspace(*x_range, resolution)
    ys = jnp.linspace(*y_range, resolution)
    X, Y = jnp.meshgrid(xs, ys)
    state = {k: jnp.full(X.size, v) for k, v in rest.items()}
    state[x_name], state[y_name] = X.ravel(), Y.ravel()
    d = jax.jit(model.vector_field)(0.0, state, input_current)
    return X, Y, d[x_name].reshape(X.shape), d[y_name].reshape(X.shape)


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


__all__ = [
    "binned_rate", "f_i_curve", "firing_rates", "isi_cv", "isi_cvs", "isi_rate", "mean_isi_cv",
    "ks_distance", "mean_rate", "phase_plane", "population_rate_histogram", "population_statistics",
    "rates_from_spike_times", "spike_count_correlations",
]
