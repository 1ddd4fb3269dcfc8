"""Plots for the Hopfield experiments (matplotlib; each returns the Axes it drew on)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

AMIT_CAPACITY = 0.138  # Amit, Gutfreund & Sompolinsky 1985


def _axes(ax):
    return plt.subplots(figsize=(5, 3.5))[1] if ax is None else ax


def plot_capacity(curves: dict, ax=None, *, modern: tuple | None = None):
    """Fraction of patterns retrieved vs load α = P/N, one line per CapacityCurve.

    `curves` maps a label to a `CapacityCurve`; `modern` is an optional (loads, accuracy,
    label) for the modern network. The dashed line marks α_c = 0.138.
    """
    ax = _axes(ax)
    for label, c in curves.items():
        frac = np.asarray(c.fraction_retrieved)
        err = frac.std(-1) / np.sqrt(max(frac.shape[-1], 1))
        ax.errorbar(np.asarray(c.loads), frac.mean(-1), yerr=err, marker="o", ms=3,
                    capsize=2, label=f"{label} (α_c≈{c.critical_load:.3f})")
    if modern is not None:
        loads, acc, label = modern
        ax.plot(loads, acc, "s-", ms=3, label=label)
    ax.axvline(AMIT_CAPACITY, ls="--", c="gray", lw=1, label="0.138 (Amit et al. 1985)")
    ax.axhline(0.5, ls=":", c="gray", lw=1)
    ax.set(xlabel="load α = P/N", ylabel="fraction retrieved (m ≥ 0.95)", ylim=(-0.03, 1.03))
    ax.legend(fontsize=7)
    return ax


def plot_basins(basins: dict, ax=None):
    """Fraction retrieved vs fraction of flipped cue bits, one line per `Basins`."""
    ax = _axes(ax)
    for label, b in basins.items():
        ax.plot(np.asarray(b.flip_fractions), np.asarray(b.fraction_retrieved), "o-", ms=3, label=label)
    ax.set(xlabel="fraction of cue bits flipped", ylabel="fraction retrieved", ylim=(-0.03, 1.03))
    ax.legend(fontsize=7)
    return ax


def plot_energy(traces: dict, ax=None, *, xlabel: str = "single-neuron updates"):
    """Energy traces (label -> 1-D array, or (x, E) pair)."""
    ax = _axes(ax)
    for label, tr in traces.items():
        x, e = tr if isinstance(tr, tuple) else (np.arange(len(tr)), tr)
        ax.plot(np.asarray(x), np.asarray(e), label=label)
    ax.set(xlabel=xlabel, ylabel="energy E (dimensionless)")
    ax.legend(fontsize=7)
    return ax


def plot_glyphs(rows: dict, shape: tuple[int, int], *, fig=None):
    """A grid of ±1 images: `rows` maps a row label to a (k, H·W) array."""
    labels = list(rows)
    n_cols = max(np.asarray(v).shape[0] for v in rows.values())
    fig = fig or plt.figure(figsize=(1.1 * n_cols, 1.2 * len(labels)))
    axes = fig.subplots(len(labels), n_cols, squeeze=False)
    for r, label in enumerate(labels):
        imgs = np.asarray(rows[label])
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < imgs.shape[0]:
                ax.imshow(imgs[c].reshape(shape), cmap="gray_r", vmin=-1, vmax=1)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, fontsize=8)
    return fig


def plot_modern_beta(result, ax=None):
    """Modern Hopfield one-step accuracy and error vs β (log axis)."""
    ax = _axes(ax)
    ax.semilogx(np.asarray(result.betas), np.asarray(result.accuracy), "o-", label="exact retrieval")
    ax.semilogx(np.asarray(result.betas), np.asarray(result.mean_overlap), "s--", label="mean overlap")
    ax.set(xlabel="β (inverse temperature)", ylabel="fraction after one update", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7)
    return ax
