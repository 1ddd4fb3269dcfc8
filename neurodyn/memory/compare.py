"""The side-by-side benchmark: every memory model on the same task, one table, figures.

`run_comparison(size)` measures, for random ±1 patterns of N components:
- capacity: fraction retrieved vs load P/N from 10 %-flipped cues, critical load (half
  fail); the classical reference 0.138 N (Amit, Gutfreund & Sompolinsky 1985) is drawn;
- robustness at a low load (P = 0.05 N): fraction retrieved vs bit flips, Gaussian noise
  and masking (a random fraction, and the second half), and the basin (largest flip
  fraction still retrieved from ≥ 90 % of cues);
- spurious rate at that load: runs from cues with half their bits flipped (overlap 0 with
  their pattern: as random a start as the set allows) that end near no stored pattern
  (nor a reversed one, for sign-symmetric models); `harness.spurious_rate` does the same
  from independent random starts;
- cost at that load from 10 %-flipped cues: update steps, simulated ms, operations (FLOPs
  or synaptic events), bytes of the stored representation, and the wall time per
  retrieval (a second run of the whole robustness batch over its number of retrievals:
  every corruption kind and level, batched as the harness does; indicative only on a
  shared machine);
- on scikit-learn's 8×8 digits (if installed): the Universal Hopfield similarities;
- the transformer trained on in-context recall: accuracy vs pairs in context and its
  recall head vs modern-Hopfield weights on the same keys.
Retrieval criterion everywhere: overlap m = cos(output, pattern) ≥ 0.95.

Sizes: "default" (N = 200, spiking N = 100, 2 trials, the recall transformer trained for
2000 steps) and "quick" (N = 100, spiking N = 60, 1 trial, 1500 steps: the transformer may
still be at chance, which the table then shows).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path

import jax.random as jr
import numpy as np

from .attention import AttentionMemory
from .classical import ClassicalMemory
from .continuous import ContinuousMemory
from .dense import DenseAssociativeMemory, UniversalHopfield, modern_hopfield
from .harness import (
    basin,
    capacity_curve,
    random_pattern_sets,
    robustness,
    robustness_many,
)
from .spiking import SpikingMemory

SIZES = {
    "default": {"n": 200, "n_spiking": 100, "trials": 2, "recall_steps": 2000, "digits": 300},
    "quick": {"n": 100, "n_spiking": 60, "trials": 1, "recall_steps": 1500, "digits": 150},
}
FLIP_LEVELS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
GAUSS_LEVELS = [0.0, 0.5, 1.0, 1.5, 2.0]
MASK_LEVELS = [0.0, 0.2, 0.4, 0.6, 0.8]
REFERENCE_LOAD = 0.05


def models() -> list[tuple[object, list[float], bool]]:
    """(model, loads P/N of its capacity curve, uses the spiking size)."""
    binary = [0.02, 0.05, 0.08, 0.11, 0.14, 0.17, 0.2, 0.25, 0.3, 0.4]
    wide = [0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16]
    return [
        (ClassicalMemory("hebbian"), binary, False),
        (ClassicalMemory("hebbian", synchronous=True), binary, False),
        (ClassicalMemory("storkey"), binary + [0.5], False),
        (ContinuousMemory(), binary, False),
        (SpikingMemory(), [0.03, 0.06, 0.1, 0.14, 0.2], True),
        (DenseAssociativeMemory(3), [0.1, 0.2, 0.5, 1, 2, 4], False),
        (UniversalHopfield("dot", "identity"), binary, False),
        (UniversalHopfield("dot", "polynomial", degree=10), [0.05, 0.1, 0.2, 0.5, 1, 2], False),
        (modern_hopfield(beta=8.0), wide, False),
        (modern_hopfield(beta=32.0), wide, False),
        (AttentionMemory(beta=32.0), wide, False),
        (UniversalHopfield("euclidean", "softmax", beta=32.0), wide, False),
        (UniversalHopfield("manhattan", "softmax", beta=32.0), wide, False),
        (UniversalHopfield("dot", "max"), wide, False),
    ]


def _nanmean(a) -> float:
    a = np.asarray(a, float)
    return float(a[np.isfinite(a)].mean()) if np.isfinite(a).any() else float("nan")


def _round(x, k=4):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return round(float(x), k)


def run_comparison(size: str = "default", *, seed: int = 0, progress: bool = True,
                   recall: bool = True, digits: bool = True, model_list=None) -> dict:
    """Run every measurement of the module docstring; returns a JSON-ready dict with
    "table" (one row per model), "curves" (for the figures), "digits" and "recall".

    `model_list` replaces `models()` (same (model, loads, uses-spiking-size) triples)."""
    if size not in SIZES:
        raise ValueError(f"run_comparison: size must be one of {sorted(SIZES)}, got {size!r}")
    cfg = SIZES[size]
    key = jr.key(seed)
    entries = models() if model_list is None else list(model_list)
    n_tasks = len(entries) + int(digits) + int(recall)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_tasks, desc="associative memory", unit="model")
    table, curves = [], {}
    t_start = time.perf_counter()
    for k, (model, loads, spiking) in enumerate(entries):
        t0 = time.perf_counter()
        n = cfg["n_spiking"] if spiking else cfg["n"]
        mkey = jr.fold_in(key, k)
        if bar is not None:
            bar.set_postfix_str(model.label)
        counts = np.unique(np.maximum(1, np.rint(np.asarray(loads) * n).astype(int)))
        sets = random_pattern_sets(jr.fold_in(mkey, 0), cfg["trials"], counts.max(), n)
        cap = capacity_curve(model, jr.fold_in(mkey, 1), sets, counts, corruption=("flip", 0.1))
        p_ref = max(2, round(REFERENCE_LOAD * n))
        ref = sets[:, :p_ref]
        rob = robustness_many(model, jr.fold_in(mkey, 2), ref, {
            "flip": FLIP_LEVELS, "gaussian": GAUSS_LEVELS, "mask": MASK_LEVELS, "mask_half": [0.5]},
            timed=True)
        wall = rob.pop("wall_s_per_retrieval")
        spur = rob["flip"].fraction_spurious[FLIP_LEVELS.index(0.5)].mean()
        flip_curve = rob["flip"]
        at10 = 1  # index of flip level 0.1
        row = {
            "model": model.label,
            "n_neurons": n,
            "critical_load": _round(cap.critical_load),
            "basin_flip_fraction": _round(basin(flip_curve)),
            "retrieved_flip_0.2": _round(flip_curve.fraction_retrieved[2].mean()),
            "retrieved_gaussian_1.0": _round(rob["gaussian"].fraction_retrieved[2].mean()),
            "retrieved_mask_0.4": _round(rob["mask"].fraction_retrieved[2].mean()),
            "retrieved_mask_half": _round(rob["mask_half"].fraction_retrieved[0].mean()),
            "spurious_rate": _round(spur),
            "steps": _round(flip_curve.mean_steps[at10].mean(), 2),
            "time_ms": _round(_nanmean(flip_curve.mean_time_ms[at10]), 2),
            "operations": _round(flip_curve.mean_operations[at10].mean(), 0),
            "operation_unit": model.operation_unit,
            "wall_us_per_retrieval": _round(wall * 1e6, 1),
            "memory_bytes": int(model.memory_bytes(p_ref, n)),
            "wall_s_measurements": round(time.perf_counter() - t0, 2),
        }
        table.append(row)
        curves[model.label] = {
            "n_neurons": n,
            "loads": np.asarray(cap.x).round(4).tolist(),
            "fraction_retrieved": cap.fraction_retrieved.mean(-1).round(4).tolist(),
            **{f"{kind}_levels": np.asarray(c.x).tolist() for kind, c in rob.items()},
            **{f"{kind}_retrieved": c.fraction_retrieved.mean(-1).round(4).tolist() for kind, c in rob.items()},
        }
        if bar is not None:
            bar.update(1)
    result = {
        "benchmark": "associative_memory",
        "size": size,
        "criterion": "overlap m = cos(output, pattern) >= 0.95",
        "capacity_cues": "10 % of the bits flipped",
        "reference_load": REFERENCE_LOAD,
        "reference_alpha_c": 0.138,
        "table": table,
        "curves": curves,
    }
    if digits:
        if bar is not None:
            bar.set_postfix_str("digits")
        result["digits"] = _digits(cfg["digits"], jr.fold_in(key, 100))
        if bar is not None:
            bar.update(1)
    if recall:
        if bar is not None:
            bar.set_postfix_str("recall transformer")
        result["recall"] = _recall(cfg["recall_steps"], seed)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    return result


def _digits(n_images: int, key) -> dict | None:
    try:
        from .patterns import digits
        x, _ = digits(n_patterns=n_images)
    except ImportError as err:
        return {"skipped": str(err)}
    xb, _ = digits(binary=True, n_patterns=n_images)
    out = {"n_images": n_images, "noise": "gaussian sigma = 0.2 (continuous) / 10 % flips (binary)"}
    for sim in ("dot", "euclidean", "manhattan"):
        for sep, beta in (("softmax", 100.0), ("max", 1.0)):
            c = robustness(UniversalHopfield(sim, sep, beta=beta), key, x, "gaussian", [0.2])
            out[f"{sim}/{sep}"] = _round(c.fraction_retrieved.mean())
    c = robustness(ClassicalMemory(), key, xb[:20], "flip", [0.1])
    out["classical hebbian (binarised, first 20)"] = _round(c.fraction_retrieved.mean())
    return out


def _recall(steps: int, seed: int) -> dict:
    from .recall import RecallConfig, recall_accuracy, recall_attention, train_recall

    cfg = RecallConfig(steps=steps, seed=seed)
    t0 = time.perf_counter()
    model, history = train_recall(cfg)
    train_s = time.perf_counter() - t0
    acc = recall_accuracy(model, cfg, jr.key(seed + 1))
    att = recall_attention(model, cfg, jr.key(seed + 2), 4)
    return {
        "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__},
        "train_s": round(train_s, 1),
        "final_train_accuracy": history["accuracy"][-1],
        "accuracy_vs_pairs": {str(p): round(a, 4) for p, a in acc.items()},
        "attention": att,
    }


# ----------------------------------------------------------------------------- outputs


def write_json(result: dict, path: str | os.PathLike) -> Path:
    """Write `result` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)
    return path


def _save(fig, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def plot_comparison(result: dict, out: str | os.PathLike) -> list[Path]:
    """Figures: capacity curves on one axes (with 0.138), retrieval vs corruption,
    accuracy vs cost, and the recall transformer. Returns the PNG paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    curves, table = result["curves"], result["table"]
    colours = plt.cm.tab20(np.linspace(0, 1, max(len(curves), 2)))
    paths = []

    fig, ax = plt.subplots(figsize=(8.5, 5))
    for c, (label, cur) in zip(colours, curves.items()):
        ax.plot(cur["loads"], cur["fraction_retrieved"], "o-", ms=3, color=c, label=f"{label} (N={cur['n_neurons']})")
    rec = result.get("recall")
    if rec:
        d = rec["config"]["d_model"]
        pairs = [int(p) for p in rec["accuracy_vs_pairs"]]
        ax.plot(np.asarray(pairs) / d, list(rec["accuracy_vs_pairs"].values()), "k*--",
                label=f"transformer in-context recall (x = pairs / d_model = {d}; accuracy)")
    ax.axvline(0.138, color="grey", ls=":", label="0.138 N (Amit et al. 1985)")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("load P/N (stored patterns per neuron)")
    ax.set_ylabel("fraction retrieved (m ≥ 0.95, 10 % flipped cues)")
    ax.set_title("Capacity of every memory model")
    ax.legend(fontsize=6.5, loc="lower left")
    fig.tight_layout()
    paths.append(out / "capacity.png")
    _save(fig, paths[-1])
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for ax, kind, xlabel in zip(axes, ("flip", "gaussian", "mask"),
                                ("fraction of bits flipped", "Gaussian noise σ (pattern units)",
                                 "fraction of components masked (set to 0)")):
        for c, (label, cur) in zip(colours, curves.items()):
            ax.plot(cur[f"{kind}_levels"], cur[f"{kind}_retrieved"], "o-", ms=3, color=c, label=label)
        ax.set_xlabel(xlabel)
        ax.set_title(f"retrieval vs {kind} (P = {result['reference_load']} N)")
    axes[0].set_ylabel("fraction retrieved (m ≥ 0.95)")
    axes[-1].legend(fontsize=6.5)
    fig.tight_layout()
    paths.append(out / "robustness.png")
    _save(fig, paths[-1])
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 5))
    for c, row in zip(colours, table):
        marker = "s" if row["operation_unit"] == "synaptic event" else "o"
        y = row["retrieved_flip_0.2"]
        if row["operations"] and y is not None:
            ax.scatter(row["operations"], y, color=c, marker=marker, s=40,
                       label=f"{row['model']} ({row['operation_unit']}s)")
    ax.set_xscale("log")
    ax.set_xlabel("operations per retrieval (FLOPs; spiking: synaptic events)")
    ax.set_ylabel("fraction retrieved, 20 % flipped cues")
    ax.set_title(f"Accuracy vs cost at P = {result['reference_load']} N")
    ax.legend(fontsize=6.5)
    fig.tight_layout()
    paths.append(out / "accuracy_vs_cost.png")
    _save(fig, paths[-1])
    plt.close(fig)

    if rec:
        att = rec["attention"]
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        pairs = [int(p) for p in rec["accuracy_vs_pairs"]]
        axes[0].plot(pairs, list(rec["accuracy_vs_pairs"].values()), "o-", label="transformer")
        axes[0].plot(pairs, [1.0 / p for p in pairs], ":", color="grey", label="guessing among the P values (1/P)")
        axes[0].axvline(rec["config"]["train_pairs"], color="grey", ls="--", label="most pairs seen in training")
        axes[0].set_xlabel("key-value pairs in context")
        axes[0].set_ylabel("recall accuracy")
        axes[0].legend(fontsize=8)
        i = np.arange(att["n_pairs"])
        axes[1].bar(i - 0.2, att["example_attention"], 0.4, label=f"recall head {att['recall_head']} (last layer)")
        axes[1].bar(i + 0.2, att["example_hopfield"], 0.4, label="modern Hopfield softmax(β K q), β = 8")
        axes[1].set_xlabel(f"pair in context (queried pair: {att['example_match']})")
        axes[1].set_ylabel("attention weight (key + value token)")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        paths.append(out / "recall_transformer.png")
        _save(fig, paths[-1])
        plt.close(fig)
    return paths


def format_table(result: dict) -> str:
    """The model table as aligned text."""
    cols = [("model", 34), ("n_neurons", 5), ("critical_load", 8), ("basin_flip_fraction", 6),
            ("retrieved_flip_0.2", 6), ("retrieved_gaussian_1.0", 6), ("retrieved_mask_0.4", 6),
            ("retrieved_mask_half", 6), ("spurious_rate", 6), ("steps", 7), ("time_ms", 7),
            ("operations", 10), ("wall_us_per_retrieval", 9), ("memory_bytes", 9)]
    heads = ["model", "N", "alpha_c", "basin", "flip.2", "gauss1", "mask.4", "half", "spur",
             "steps", "ms", "ops", "us/ret", "bytes"]
    lines = [" ".join(h.rjust(w) if i else h.ljust(w) for i, (h, (_, w)) in enumerate(zip(heads, cols)))]
    for row in result["table"]:
        cells = []
        for i, (name, w) in enumerate(cols):
            v = row[name]
            s = "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))
            cells.append(s.ljust(w) if i == 0 else s.rjust(w))
        lines.append(" ".join(cells))
    return "\n".join(lines)
