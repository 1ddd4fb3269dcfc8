"""Plots of simulation results (matplotlib; pure functions that return the figure).

Every axis carries its quantity and unit (time in ms, membrane potential in mV, rates in
Hz), every line a legend entry, so that a figure reads without the code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg") if matplotlib.get_backend().lower() == "agg" else None
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from ._state import SimulationResult  # noqa: E402
from .analysis import binned_rate  # noqa: E402
from .network import Network  # noqa: E402

# axis labels of common state variables; others are labelled with their name and the
# unit given in `units=` (ge/gi are in µS for TraubMiles, in units of gL for COBA's LIF)
UNITS = {"v": "V (mV)", "u": "u (mV/ms)", "w": "w (pA)", "m": "m (gate, 0–1)", "h": "h (gate, 0–1)",
         "n": "n (gate, 0–1)"}


def _label(name: str, units: Mapping[str, str] | None) -> str:
    if units and name in units:
        return f"{name} ({units[name]})" if units[name] else name
    return UNITS.get(name, name)


def traces(result: SimulationResult, names=None, neurons=None, ax=None, title=None,
           units: Mapping[str, str] | None = None):
    """Recorded traces against time (ms), one panel per variable, one legend entry per neuron.

    `units` maps a variable to its unit for the axis label (e.g. {"ge": "µS"}); V is in mV
    and the HH gates are dimensionless by default.
    """
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
        a.set_ylabel(_label(name, units))
        if len(cols) <= 10:
            a.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("time (ms)")
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    return fig


def _population_table(populations, n: int) -> list[tuple[str, int, int]]:
    if populations is None:
        return [("neurons", 0, n)]
    if isinstance(populations, Network):
        return [tuple(p) for p in populations.populations]
    if isinstance(populations, Mapping):  # {name: size}, in order
        out, start = [], 0
        for name, size in populations.items():
            out.append((name, start, start + int(size)))
            start += int(size)
        return out
    if isinstance(populations, Sequence) and all(len(p) == 3 for p in populations):
        return [(str(a), int(b), int(c)) for a, b, c in populations]
    raise TypeError(
        "populations must be a Network, a dict {name: size} or a sequence of (name, start, stop); "
        f"got {populations!r}"
    )


def raster(
    result: SimulationResult,
    ax=None,
    max_points: int = 200_000,
    title=None,
    *,
    neurons: Sequence[int] | np.ndarray | None = None,
    t_window: tuple[float, float] | None = None,
    populations=None,
    colors: Mapping[str, str] | None = None,
):
    """Spike raster: time (ms) against neuron, coloured by population.

    Arguments:
        neurons: the neurons to show (indices, e.g. `np.r_[0:200, 3200:3250]` for some
            excitatory and some inhibitory ones); they are drawn in the given order, one
            row each, so a subset spanning several populations has no gaps. Default all.
        t_window: (t0, t1) in ms; default the whole run.
        populations: a `Network` (its populations), a dict {name: size} or a sequence of
            (name, start, stop): each population gets its own colour and legend entry, and
            a line marks where one ends and the next begins among the rows shown.
        colors: {population: matplotlib colour}; default C0, C3, C2, ...
        max_points: at most this many spikes are drawn (a uniform subsample, said in the
            title).
    """
    times, ids = result.spikes()
    n = int(result.spike_counts.shape[-1])
    rows = np.arange(n) if neurons is None else np.asarray(neurons, dtype=int).ravel()
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"neurons must be indices in [0, {n}), got {neurons!r}")
    row_of = np.full(n, -1)
    row_of[rows] = np.arange(rows.size)
    keep = row_of[ids] >= 0
    if t_window is not None:
        t0, t1 = t_window
        if not t0 < t1:
            raise ValueError(f"t_window must be (t0, t1) with t0 < t1 in ms, got {t_window}")
        keep &= (times >= t0) & (times <= t1)
    times, ids = times[keep], ids[keep]
    if times.size > max_points:  # draw a uniform subsample, and say so
        sub = np.linspace(0, times.size - 1, max_points).astype(int)
        title = (title or "") + f" ({max_points} of {times.size} spikes shown)"
        times, ids = times[sub], ids[sub]
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    table = _population_table(populations, n)
    default_colors = ["C0", "C3", "C2", "C1", "C4", "C5", "C6"]
    for k, (name, start, stop) in enumerate(table):
        color = (colors or {}).get(name, default_colors[k % len(default_colors)])
        mine = (ids >= start) & (ids < stop)
        shown = int(np.sum((rows >= start) & (rows < stop)))
        if shown:
            ax.plot(times[mine], row_of[ids[mine]], "|", ms=2, color=color,
                    label=f"{name} ({shown} neurons)" if populations is not None else None)
    if populations is not None:
        # a boundary wherever the rows shown pass from one population to another
        pop_of_row = np.searchsorted([stop for _, _, stop in table], rows, side="right")
        for b in np.nonzero(np.diff(pop_of_row))[0]:
            ax.axhline(b + 0.5, color="0.3", lw=0.6, ls="--")
        ax.legend(fontsize=8, loc="upper right", markerscale=4)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron" if neurons is None else f"neuron ({rows.size} shown)")
    ax.set_ylim(-0.5, rows.size - 0.5)
    if t_window is not None:
        ax.set_xlim(*t_window)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def population_rate(
    result: SimulationResult,
    populations=None,
    bin_ms: float = 1.0,
    t_window: tuple[float, float] | None = None,
    ax=None,
    title=None,
    colors: Mapping[str, str] | None = None,
):
    """Population rate (Hz per neuron) against time (ms), one line per population, from the
    stored spikes in bins of `bin_ms` (`neurodyn.analysis.binned_rate`).

    `populations` as in `raster` (default: all neurons as one population); `t_window`
    defaults to (t_end − a whole number of bins, t_end) with t_end the run's final time.
    """
    times, ids = result.spikes()
    n = int(result.spike_counts.shape[-1])
    if t_window is None:
        t_end = float(result.final_state.t)
        t_window = (t_end - bin_ms * np.floor(t_end / bin_ms + 1e-9), t_end)
    t0, t1 = t_window
    n_bins = int(np.floor((t1 - t0) / bin_ms + 1e-9))
    if n_bins < 1:
        raise ValueError(f"t_window {t_window} is shorter than one bin of {bin_ms} ms")
    t1 = t0 + n_bins * bin_ms
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 2.5))
    default_colors = ["C0", "C3", "C2", "C1", "C4", "C5", "C6"]
    for k, (name, start, stop) in enumerate(_population_table(populations, n)):
        mine = (ids >= start) & (ids < stop)
        centres, rate = binned_rate(times[mine], stop - start, t0, t1, bin_ms)
        color = (colors or {}).get(name, default_colors[k % len(default_colors)])
        ax.plot(centres, rate, lw=0.8, color=color, label=f"{name} (mean {rate.mean():.1f} Hz)")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(f"rate (Hz, {bin_ms:g} ms bins)")
    ax.legend(fontsize=8, loc="upper right")
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def f_i(currents, rates, analytic=None, ax=None, xlabel="I (µA/cm²)", title=None):
    """f–I curve: simulated rates (Hz), and the analytic curve if given.

    `xlabel` names the input and its unit: µA/cm² for HH, "R·I (mV)" for the LIF drive.
    """
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
    """Vector field (streamlines), the two nullclines, and an optional trajectory (x, y).

    `labels` are the axis labels with units; the legend names each nullcline by the
    variable whose derivative vanishes on it (the label's text before its unit).
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    X, Y, dX, dY = map(np.asarray, (X, Y, dX, dY))
    ax.streamplot(X, Y, dX, dY, density=0.8, color="0.7", linewidth=0.6)
    ax.contour(X, Y, dX, levels=[0], colors="C0", linewidths=1)
    ax.contour(X, Y, dY, levels=[0], colors="C1", linewidths=1)
    x_name, y_name = (lab.split(" (")[0] for lab in labels)
    handles = [
        Line2D([], [], color="0.7", lw=0.8, label="vector field"),
        Line2D([], [], color="C0", lw=1, label=f"d{x_name}/dt = 0"),
        Line2D([], [], color="C1", lw=1, label=f"d{y_name}/dt = 0"),
    ]
    if trajectory is not None:
        ax.plot(np.asarray(trajectory[0]), np.asarray(trajectory[1]), "k", lw=1)
        handles.append(Line2D([], [], color="k", lw=1, label="trajectory"))
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def population_bars(
    names: Sequence[str],
    values,
    reference=None,
    *,
    ylabel: str = "rate (Hz)",
    label: str = "neurodyn",
    reference_label: str = "reference",
    errors=None,
    ax=None,
    title=None,
):
    """One bar per population (e.g. mean rates), next to a reference bar per population
    (e.g. published values) when given; `errors` draws ± error bars on the first set."""
    values = np.asarray(values, dtype=float)
    if len(names) != values.size:
        raise ValueError(f"names has {len(names)} entries but values has {values.size}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 3.2))
    x = np.arange(values.size)
    width = 0.4 if reference is not None else 0.7
    ax.bar(x - (width / 2 if reference is not None else 0), values, width, yerr=errors, capsize=2,
           color="C0", label=label)
    if reference is not None:
        reference = np.asarray(reference, dtype=float)
        if reference.shape != values.shape:
            raise ValueError(f"reference has shape {reference.shape}, values {values.shape}")
        ax.bar(x + width / 2, reference, width, color="0.6", label=reference_label)
    ax.set_xticks(x, [str(n) for n in names])
    ax.set_xlabel("population")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    ax.figure.tight_layout()
    return ax.figure


def population_histograms(
    samples: Mapping[str, np.ndarray],
    *,
    xlabel: str,
    bins: int = 30,
    reference: Mapping[str, np.ndarray] | None = None,
    label: str = "neurodyn",
    reference_label: str = "reference",
    title=None,
):
    """A grid of histograms (probability density), one panel per population, e.g. of ISI CVs
    or pairwise correlations; a second sample per population (`reference`) is drawn as an
    outline on the same bins."""
    names = list(samples)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.4 * rows), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        x = np.asarray(samples[name], dtype=float)
        x = x[np.isfinite(x)]
        ref = None if reference is None else np.asarray(reference[name], dtype=float)
        ref = None if ref is None else ref[np.isfinite(ref)]
        both = x if ref is None else np.concatenate([x, ref])
        if both.size:
            edges = np.histogram_bin_edges(both, bins=bins)
            if x.size:
                ax.hist(x, edges, density=True, color="C0", alpha=0.7, label=f"{label} (n = {x.size})")
            if ref is not None and ref.size:
                ax.hist(ref, edges, density=True, histtype="step", color="k", label=f"{reference_label} (n = {ref.size})")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel("probability density", fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
        else:
            ax.text(0.5, 0.5, "no values", ha="center", va="center", transform=ax.transAxes, fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


__all__ = ["f_i", "phase_plane", "population_bars", "population_histograms", "population_rate", "raster", "traces"]
