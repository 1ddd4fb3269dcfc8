"""Plots of simulation results (matplotlib; pure functions that return the figure)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ._state import SimulationResult  # noqa: E402


def traces(result: SimulationResult, names=None, neurons=None, ax=None, title=None):
    """Recorded traces against time, one panel per variable."""
    names = list(names or result.traces)
    if ax is None:
        fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True, squeeze=False)
        axes = axes[:, 0]
    else:
        axes, fig = [ax], ax.figure
    t = np.asarray(result.times)
    for a, name in zip(axes, names):
        data = np.asarray(result.traces[name])
        cols = range(data.shape[1]) if neurons is None else neurons
        for j in cols:
            a.plot(t, data[:, j], lw=0.8, label=f"neuron {int(result.recorded_neurons[j])}")
        a.set_ylabel(name)
    axes[-1].set_xlabel("time (ms)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def raster(result: SimulationResult, ax=None, max_points: int = 200_000, title=None):
    """Spike raster (time vs neuron index)."""
    times, neurons = result.spikes()
    if times.size > max_points:  # draw a uniform subsample, and say so
        keep = np.linspace(0, times.size - 1, max_points).astype(int)
        times, neurons = times[keep], neurons[keep]
        title = (title or "") + f" ({max_points} of {int(result.n_spikes_stored)} spikes shown)"
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(times, neurons, "|", ms=2, color="k")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron")
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def f_i(currents, rates, analytic=None, ax=None, xlabel="input current", title=None):
    """f–I curve: simulated rates, and the analytic curve if given."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(np.asarray(currents), np.asarray(rates), "o", ms=3, label="simulated")
    if analytic is not None:
        ax.plot(np.asarray(currents), np.asarray(analytic), "-", lw=1, label="analytic")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rate (Hz)")
    ax.legend()
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def phase_plane(X, Y, dX, dY, trajectory=None, ax=None, labels=("V (mV)", "n"), title=None):
    """Vector field (streamlines), nullclines, and an optional trajectory (x, y)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    X, Y, dX, dY = map(np.asarray, (X, Y, dX, dY))
    ax.streamplot(X, Y, dX, dY, density=0.8, color="0.7", linewidth=0.6)
    ax.contour(X, Y, dX, levels=[0], colors="C0", linewidths=1)
    ax.contour(X, Y, dY, levels=[0], colors="C1", linewidths=1)
    if trajectory is not None:
        ax.plot(np.asarray(trajectory[0]), np.asarray(trajectory[1]), "k", lw=1)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure
