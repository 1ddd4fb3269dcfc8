"""`neurodyn gpt ...`: train a small GPT on a text file, and sample from it.

    neurodyn gpt train --text corpus.txt --out runs/tiny --steps 500
    neurodyn gpt train --text corpus.txt --out runs/tiny --steps 1000 --resume
    neurodyn gpt sample --checkpoint runs/tiny --prompt "The neuron" --max-new-tokens 80

`train` fits a byte-level BPE tokenizer to the text (or reuses the one in --out when
resuming), splits the tokens 90/10 into train/validation, trains, and writes to --out:
tokenizer.json, checkpoint.ckpt (weights, optimiser state and metadata, one checksummed
file replaced atomically) and loss.png.
`sample` prints the prompt and its continuation; --attention-plot saves attention maps.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="neurodyn gpt", description="Train a small GPT and sample from it.")
    sub = ap.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train on a UTF-8 text file")
    t.add_argument("--text", type=Path, required=True, help="UTF-8 text file to train on")
    t.add_argument("--out", type=Path, required=True, help="directory for checkpoint and plots")
    t.add_argument("--vocab-size", type=int, default=512, help="BPE vocabulary size (>= 257)")
    t.add_argument("--context", type=int, default=64, help="context length in tokens")
    t.add_argument("--d-model", type=int, default=64)
    t.add_argument("--heads", type=int, default=4)
    t.add_argument("--layers", type=int, default=2)
    t.add_argument("--dropout", type=float, default=0.0)
    t.add_argument("--positional", choices=["sinusoidal", "learned"], default="sinusoidal")
    t.add_argument("--activation", choices=["gelu", "relu"], default="gelu")
    t.add_argument("--no-layer-norm", action="store_true")
    t.add_argument("--tie-weights", action="store_true")
    t.add_argument("--steps", type=int, default=500, help="total optimiser steps")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=3e-3)
    t.add_argument("--warmup", type=int, default=50)
    t.add_argument("--weight-decay", type=float, default=0.1)
    t.add_argument("--eval-every", type=int, default=50)
    t.add_argument("--checkpoint-every", type=int, default=0, help="0: only at the end")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true", help="continue the run in --out up to --steps")
    t.add_argument("--no-progress", action="store_true")

    s = sub.add_parser("sample", help="sample from a trained checkpoint")
    s.add_argument("--checkpoint", type=Path, required=True, help="directory written by `train`")
    s.add_argument("--prompt", default="\n", help="text to continue")
    s.add_argument("--max-new-tokens", type=int, default=100)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=None)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--num-samples", type=int, default=1)
    s.add_argument("--attention-plot", type=Path, default=None, help="PNG of layer-0 attention on the prompt")
    return ap


def _train(args) -> int:
    import jax
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np

    from neurodyn.transformer.model import GPTConfig, count_parameters
    from neurodyn.transformer.tokenizer import BPETokenizer
    from neurodyn.transformer.train import (
        TrainConfig,
        init_train_state,
        load_checkpoint,
        plot_loss_curves,
        train,
    )

    if not args.text.is_file():
        raise SystemExit(f"--text: no such file: {args.text}")
    text = args.text.read_text(encoding="utf-8")
    if not text:
        raise SystemExit(f"--text: {args.text} is empty; give a file with some text to train on")
    args.out.mkdir(parents=True, exist_ok=True)
    tok_path = args.out / "tokenizer.json"

    if args.resume:
        state, old_cfg, _ = load_checkpoint(args.out)
        tokenizer = BPETokenizer.load(tok_path)
        cfg = old_cfg.replace(steps=args.steps)
        print(f"resuming from step {state.step} of {args.out}")
    else:
        tokenizer = BPETokenizer.train(text, args.vocab_size, special_tokens=["<|endoftext|>"])
        tokenizer.save(tok_path)
        mcfg = GPTConfig(
            vocab_size=tokenizer.vocab_size, context_length=args.context, d_model=args.d_model,
            n_heads=args.heads, n_layers=args.layers, dropout=args.dropout,
            positional=args.positional, activation=args.activation,
            layer_norm=not args.no_layer_norm, tie_weights=args.tie_weights,
        )
        cfg = TrainConfig(
            steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup,
            weight_decay=args.weight_decay, eval_every=args.eval_every,
            checkpoint_every=args.checkpoint_every, seed=args.seed,
        )
        state = init_train_state(mcfg, cfg, key=jax.random.key(args.seed))
    ids = np.asarray(tokenizer.encode(text), dtype=np.int32)
    n_val = max(len(ids) // 10, state.model.config.context_length + 2)
    if len(ids) - n_val < state.model.config.context_length + 2:
        raise SystemExit(
            f"--text: {len(ids)} tokens is too short for --context {state.model.config.context_length}; "
            "use more text or a shorter context"
        )
    print(f"{len(text)} characters -> {len(ids)} tokens (vocab {tokenizer.vocab_size}); "
          f"model: {count_parameters(state.model):,} parameters")
    state = train(state, ids[:-n_val], ids[-n_val:], cfg, checkpoint_dir=args.out,
                  extra={"tokenizer": "tokenizer.json"}, progress=not args.no_progress)
    plot_loss_curves(state.history, args.out / "loss.png")
    print(f"step {state.step}: train loss {state.history['eval_train_loss'][-1]:.4f}, "
          f"val loss {state.history['val_loss'][-1]:.4f}; saved to {args.out}")
    return 0


def _sample(args) -> int:
    import jax
    import matplotlib

    matplotlib.use("Agg")

    from neurodyn.transformer.sample import attention_maps, generate, plot_attention
    from neurodyn.transformer.tokenizer import BPETokenizer
    from neurodyn.transformer.train import load_checkpoint

    state, _, _ = load_checkpoint(args.checkpoint)
    tokenizer = BPETokenizer.load(args.checkpoint / "tokenizer.json")
    prompt = tokenizer.encode(args.prompt)
    if not prompt:
        raise SystemExit("--prompt: give at least one character")
    key = jax.random.key(args.seed)
    for i, k in enumerate(jax.random.split(key, args.num_samples)):
        out = generate(state.model, prompt, args.max_new_tokens, key=k,
                       temperature=args.temperature, top_k=args.top_k)
        if args.num_samples > 1:
            print(f"--- sample {i}")
        print(tokenizer.decode(out.tolist()))
    if args.attention_plot is not None:
        window = prompt[-state.model.config.context_length:]
        import jax.numpy as jnp

        maps = attention_maps(state.model, jnp.asarray(window))
        plot_attention(maps[0], tokenizer.token_strings(window), args.attention_plot, title="layer 0")
        print(f"attention maps saved to {args.attention_plot}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `neurodyn gpt`: `main(["train", "--text", "f.txt", "--out", "d"])`."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return _train(args) if args.command == "train" else _sample(args)
    except ValueError as e:  # bad sizes or values: one line, not a traceback
        print(f"neurodyn gpt {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
