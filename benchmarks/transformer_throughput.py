"""Training and sampling throughput of the GPT on CPU, with the same model in PyTorch.

    python benchmarks/transformer_throughput.py --json

Config (default): vocab 460 (BPE on generated text), context 64, d_model 128, 4 heads, 4 layers, d_mlp 512, GELU,
pre-norm LayerNorm, sinusoidal positions, no dropout, float32, batch 16.
- training tokens/s: batch·context tokens per AdamW step (forward + backward + update),
  timed over --train-steps steps after warm-up/compilation. JAX runs them in one jitted
  lax.scan per --steps-per-call; PyTorch in its usual eager loop (torch.optim.AdamW).
- sampling tokens/s: new tokens per second for one sequence, no KV cache in either
  (each new token re-runs the model on its window; JAX: fixed-size window buffer in one
  lax.scan; PyTorch: nanoGPT's loop on the growing, cropped sequence, torch.no_grad()).
- BPE encoder throughput on 1 MB of generated text (cold cache).
The torch fields are null when torch is not importable (optional extra: pip install torch).
Prints one JSON object with --json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import emit, machine_summary

from neurodyn.transformer.corpus import toy_corpus
from neurodyn.transformer.model import GPT, GPTConfig, count_parameters
from neurodyn.transformer.sample import generate
from neurodyn.transformer.tokenizer import BPETokenizer, encoder_throughput
from neurodyn.transformer.train import TrainConfig, _train_chunk, init_train_state


def jax_train(mcfg, tcfg, data, steps, steps_per_call):
    state = init_train_state(mcfg, tcfg, key=jax.random.key(0))
    model, opt = state.model, state.opt_state
    key = jax.random.key(1)
    model, opt, losses, _ = _train_chunk(model, opt, data, key, jnp.asarray(0), steps_per_call, tcfg)
    losses.block_until_ready()  # compile + warm-up
    n_calls = max(1, steps // steps_per_call)
    t0 = time.perf_counter()
    for c in range(n_calls):
        model, opt, losses, _ = _train_chunk(
            model, opt, data, key, jnp.asarray((c + 1) * steps_per_call), steps_per_call, tcfg)
    losses.block_until_ready()
    dt = time.perf_counter() - t0
    return n_calls * steps_per_call * tcfg.batch_size * mcfg.context_length / dt, float(losses[-1])


def jax_sample(model, n_new):
    prompt = [1, 2, 3, 4]
    generate(model, prompt, n_new, key=jax.random.key(0)).block_until_ready()  # compile
    t0 = time.perf_counter()
    generate(model, prompt, n_new, key=jax.random.key(1)).block_until_ready()
    return n_new / (time.perf_counter() - t0)


def torch_model(mcfg):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            d = mcfg.d_model
            self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * mcfg.n_heads * mcfg.d_head)
            self.proj = nn.Linear(mcfg.n_heads * mcfg.d_head, d)
            self.fc, self.fc_out = nn.Linear(d, mcfg.d_mlp), nn.Linear(mcfg.d_mlp, d)

        def forward(self, x):
            B, T, _ = x.shape
            q, k, v = self.qkv(self.ln_1(x)).split(mcfg.n_heads * mcfg.d_head, dim=2)
            q, k, v = (t.view(B, T, mcfg.n_heads, mcfg.d_head).transpose(1, 2) for t in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(B, T, -1))
            return x + self.fc_out(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))

    class TorchGPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(mcfg.vocab_size, mcfg.d_model)
            k = np.arange(mcfg.context_length)[:, None]
            i2 = np.arange(0, mcfg.d_model, 2)[None]
            pe = np.zeros((mcfg.context_length, mcfg.d_model), np.float32)
            pe[:, 0::2], pe[:, 1::2] = np.sin(k / 1e4 ** (i2 / mcfg.d_model)), np.cos(k / 1e4 ** (i2 / mcfg.d_model))
            self.register_buffer("pe", torch.from_numpy(pe))
            self.blocks = nn.ModuleList(Block() for _ in range(mcfg.n_layers))
            self.ln_f = nn.LayerNorm(mcfg.d_model)
            self.head = nn.Linear(mcfg.d_model, mcfg.vocab_size, bias=False)

        def forward(self, idx):
            x = self.wte(idx) + self.pe[: idx.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln_f(x))

    return TorchGPT()


def torch_bench(mcfg, tcfg, data, steps, n_new):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    model = torch_model(mcfg)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, betas=tcfg.betas, weight_decay=tcfg.weight_decay)
    data_t = torch.from_numpy(np.asarray(data, np.int64))
    T, B = mcfg.context_length, tcfg.batch_size
    gen = torch.Generator().manual_seed(0)

    def step():
        ix = torch.randint(len(data_t) - T, (B,), generator=gen)
        x = torch.stack([data_t[i: i + T] for i in ix])
        y = torch.stack([data_t[i + 1: i + T + 1] for i in ix])
        loss = F.cross_entropy(model(x).view(-1, mcfg.vocab_size), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
        opt.step()
        return loss

    for _ in range(5):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    train_tps = steps * B * T / (time.perf_counter() - t0)

    model.eval()
    with torch.no_grad():
        idx = torch.tensor([[1, 2, 3, 4]])
        t0 = time.perf_counter()
        for _ in range(n_new):
            logits = model(idx[:, -T:])[:, -1, :]
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1)
            idx = torch.cat([idx, nxt], dim=1)
        sample_tps = n_new / (time.perf_counter() - t0)
    return train_tps, sample_tps, n_params, loss.item(), torch.__version__, torch.get_num_threads()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--vocab-size", type=int, default=460)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--train-steps", type=int, default=100)
    ap.add_argument("--steps-per-call", type=int, default=25)
    ap.add_argument("--sample-tokens", type=int, default=200)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    load_before = os.getloadavg()[0]
    text = toy_corpus(30_000, seed=0)
    tok = BPETokenizer.train(text[:200_000], args.vocab_size)
    mb = (text * (1 + 1_000_000 // len(text)))[:1_000_000]
    enc = encoder_throughput(tok, mb)
    data = jnp.asarray(tok.encode(text[:300_000]), jnp.int32)

    mcfg = GPTConfig(vocab_size=tok.vocab_size, context_length=args.context, d_model=args.d_model,
                     n_heads=args.heads, n_layers=args.layers)
    tcfg = TrainConfig(steps=10**6, batch_size=args.batch_size, lr=1e-3, warmup_steps=10,
                       eval_every=args.steps_per_call)
    jax_train_tps, jax_loss = jax_train(mcfg, tcfg, data, args.train_steps, args.steps_per_call)
    model = GPT(mcfg, key=jax.random.key(0))
    jax_sample_tps = jax_sample(model, args.sample_tokens)

    result = {
        "benchmark": "transformer_throughput",
        "config": {"vocab_size": mcfg.vocab_size, "context_length": mcfg.context_length,
                   "d_model": mcfg.d_model, "n_heads": mcfg.n_heads, "n_layers": mcfg.n_layers,
                   "d_mlp": mcfg.d_mlp, "batch_size": args.batch_size, "dtype": "float32",
                   "parameters": count_parameters(model)},
        "machine": machine_summary(),
        "jax_version": jax.__version__,
        "jax_train_tokens_per_s": round(jax_train_tps),
        "jax_sample_tokens_per_s": round(jax_sample_tps, 1),
        "jax_final_loss": jax_loss,
        "torch_version": None, "torch_threads": None, "torch_parameters": None,
        "torch_train_tokens_per_s": None, "torch_sample_tokens_per_s": None,
        "bpe_encode_mb_per_s": round(enc["mb_per_s"], 2),
        "bpe_encode_tokens_per_s": round(enc["tokens_per_s"]),
        "note": "no KV cache in either sampler; timings on a shared machine are noisy",
    }
    if not args.no_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            result["note"] += "; torch not importable (pip install torch): torch fields are null"
        else:
            tt, ts, tn, tl, tv, th = torch_bench(mcfg, tcfg, data, args.train_steps, args.sample_tokens)
            result.update(torch_train_tokens_per_s=round(tt), torch_sample_tokens_per_s=round(ts, 1),
                          torch_parameters=tn, torch_final_loss=tl, torch_version=tv, torch_threads=th,
                          train_speedup_jax_over_torch=round(jax_train_tps / tt, 2),
                          sample_speedup_jax_over_torch=round(jax_sample_tps / ts, 2))
    result["load_average_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    emit(result, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
