"""Grokking reproduction (Nanda et al. 2023): steps to 99 % test accuracy and wall time.

    python benchmarks/grokking.py --json                 # p = 113, the paper's settings
    python benchmarks/grokking.py --p 31 --json          # a quick, reduced run

Trains the one-layer transformer full-batch on 30 % of the (a + b) mod p pairs with AdamW
(lr 1e-3, weight decay 1.0, betas (0.9, 0.98)), stops `--extra-steps` after the test
accuracy first reaches 99 % (or at --max-steps), and writes to --out:
    grokking_p{p}.json          curves, steps to 99 %, wall time, machine, key frequencies
    grokking_p{p}_curves.png    train/test loss and accuracy
    grokking_p{p}_fourier.png   the token embedding's norm per Fourier frequency
Prints one JSON object (the summary) with --json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from _common import emit, machine_summary  # noqa: E402

from neurodyn.transformer.grokking import (  # noqa: E402
    GrokkingConfig,
    embedding_fourier_norms,
    key_frequencies,
    plot_fourier,
    plot_grokking,
    train_grokking,
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p", type=int, default=113, help="modulus (default 113)")
    ap.add_argument("--train-fraction", type=float, default=0.3)
    ap.add_argument("--max-steps", type=int, default=25_000)
    ap.add_argument("--extra-steps", type=int, default=1_000,
                    help="steps to keep training after reaching 99%% test accuracy")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    cfg = GrokkingConfig(
        p=args.p, train_fraction=args.train_fraction, max_steps=args.max_steps,
        extra_steps=args.extra_steps, eval_every=args.eval_every, seed=args.seed,
        stop_at_test_accuracy=0.99,
    )
    result = train_grokking(cfg, progress=not args.no_progress and not args.json)
    norms = embedding_fourier_norms(result["model"], cfg.p)
    keys = key_frequencies(norms)
    h = result["history"]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"grokking_p{cfg.p}"
    summary = {
        "benchmark": "grokking",
        "p": cfg.p,
        "train_fraction": cfg.train_fraction,
        "n_train": result["n_train"],
        "n_test": result["n_test"],
        "model": "1 layer, 4 heads, d_model 128, d_head 32, d_mlp 512, ReLU, no LayerNorm",
        "optimizer": f"AdamW lr {cfg.lr}, weight decay {cfg.weight_decay}, betas {list(cfg.betas)}, full batch",
        "seed": cfg.seed,
        "steps_to_99pct_test_accuracy": result["steps_to_test_accuracy"],
        "steps_run": result["steps"],
        "first_step_train_accuracy_99pct": next(
            (s for s, a in zip(h["step"], h["train_accuracy"]) if a >= 0.99), None),
        "final_train_loss": h["train_loss"][-1],
        "final_test_loss": h["test_loss"][-1],
        "final_test_accuracy": h["test_accuracy"][-1],
        "wall_time_s": round(result["wall_time_s"], 1),
        "compile_time_s": round(result["compile_time_s"], 1),
        "ms_per_step": round(1e3 * result["wall_time_s"] / result["steps"], 2),
        "key_frequencies": keys,
        "fourier_norm_fraction_in_key_frequencies": float(
            (norms[keys] ** 2).sum() / (norms[1:] ** 2).sum()),
        "machine": machine_summary(),
        "files": [f"{stem.name}.json", f"{stem.name}_curves.png", f"{stem.name}_fourier.png"],
    }
    full = dict(summary, history=h, fourier_norms=norms.tolist())
    Path(f"{stem}.json").write_text(json.dumps(full, indent=1))
    plot_grokking(result, f"{stem}_curves.png")
    plot_fourier(norms, cfg.p, f"{stem}_fourier.png")
    emit(summary, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
