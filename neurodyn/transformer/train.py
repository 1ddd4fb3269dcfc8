"""Training a GPT on a token stream with optax: AdamW, warm-up + cosine, clipping, eval,
checkpoints and resume.

    state = init_train_state(model_config, train_config, key)
    state = train(state, train_tokens, val_tokens, train_config, checkpoint_dir="run/")
    state = load_checkpoint("run/")          # ... later: resume where it stopped
    state = train(state, train_tokens, val_tokens, train_config.replace(steps=2000))

Objective: mean next-token cross-entropy L = -(1/BT) Σ log softmax(f(x)_t)[x_{t+1}] over
random windows of `context_length + 1` tokens. Optimiser (Loshchilov & Hutter 2019):
AdamW, weight decay only on matrices (nanoGPT's choice: not on biases, norms), learning
rate warmed up linearly for `warmup_steps`, then a cosine decay to `min_lr_ratio`·lr at
`steps`; gradients clipped to global norm `grad_clip`.

The hot loop is one `eqx.filter_jit` function that runs `steps_per_call` optimiser steps in a
`lax.scan`; the data array is passed as an argument (never closed over). The key of step s is
`fold_in(key, s)`, so a resumed run draws exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from neurodyn._checks import check_int, check_number, check_positive
from neurodyn.transformer.model import GPT, GPTConfig, cross_entropy


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults suit a small character/BPE model on a CPU).

    Attributes:
        steps: total optimiser steps (a resumed run continues up to this number).
        batch_size: sequences per step.
        lr: peak learning rate; min_lr_ratio: final lr / peak lr of the cosine decay.
        warmup_steps: linear warm-up steps from 0 to lr.
        weight_decay, betas: AdamW.
        grad_clip: global-norm clipping threshold (None: no clipping).
        eval_every: steps between validation-loss estimates; also steps per jitted call.
        eval_batches: batches averaged for each loss estimate.
        checkpoint_every: steps between checkpoints (a multiple of eval_every; 0: only at end).
        seed: PRNG seed for batches and dropout.
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = 1.0
    eval_every: int = 50
    eval_batches: int = 4
    checkpoint_every: int = 0
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "eval_every", "eval_batches"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lower=1, owner="TrainConfig"))  # NumPy ints -> int
        check_positive("lr", self.lr, owner="TrainConfig")
        check_number("min_lr_ratio", self.min_lr_ratio, owner="TrainConfig", lower=0.0, upper=1.0)
        check_int("warmup_steps", self.warmup_steps, lower=0, owner="TrainConfig")
        if self.grad_clip is not None:
            check_positive("grad_clip", self.grad_clip, owner="TrainConfig")
        if check_int("checkpoint_every", self.checkpoint_every, lower=0, owner="TrainConfig") % self.eval_every:
            raise ValueError(
                f"TrainConfig.checkpoint_every must be 0 or a multiple of eval_every="
                f"{self.eval_every}, got {self.checkpoint_every!r}"
            )

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["betas"] = tuple(d["betas"])
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything a run needs to continue: model, optimiser state, step, loss history.

    Host-side bookkeeping: the arrays live in `model` and `opt_state` (pytrees)."""

    model: GPT
    opt_state: optax.OptState
    step: int
    history: dict


def learning_rate_schedule(cfg: TrainConfig) -> optax.Schedule:
    """0 → lr linearly over warmup_steps, then cosine to min_lr_ratio·lr at `steps`."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        decay_steps=max(cfg.steps, cfg.warmup_steps + 1),
        end_value=cfg.lr * cfg.min_lr_ratio,
    )


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW with decay only on ≥2-D weights."""
    decay_mask = lambda params: jax.tree_util.tree_map(lambda x: x.ndim >= 2, params)  # noqa: E731
    adamw = optax.adamw(
        learning_rate_schedule(cfg), b1=cfg.betas[0], b2=cfg.betas[1],
        weight_decay=cfg.weight_decay, mask=decay_mask,
    )
    if cfg.grad_clip is None:
        return adamw
    return optax.chain(optax.clip_by_global_norm(cfg.grad_clip), adamw)


def init_train_state(model_config: GPTConfig, cfg: TrainConfig, *, key: PRNGKeyArray) -> TrainState:
    """A fresh model (initialised from `key`) and optimiser state at step 0."""
    model = GPT(model_config, key=key)
    opt_state = make_optimizer(cfg).init(eqx.filter(model, eqx.is_inexact_array))
    return TrainState(model, opt_state, 0, {"step": [], "train_loss": [], "lr": [],
                                            "eval_step": [], "val_loss": [], "eval_train_loss": []})


def get_batch(
    key: PRNGKeyArray, data: Int[Array, " n"], batch_size: int, context_length: int
) -> tuple[Int[Array, "batch seq"], Int[Array, "batch seq"]]:
    """Random windows: inputs data[i:i+T] and targets data[i+1:i+T+1]."""
    starts = jax.random.randint(key, (batch_size,), 0, data.shape[0] - context_length)
    window = jax.vmap(lambda s: jax.lax.dynamic_slice(data, (s,), (context_length + 1,)))(starts)
    return window[:, :-1], window[:, 1:]


def batch_loss(
    model: GPT, x: Int[Array, "batch seq"], y: Int[Array, "batch seq"], key: PRNGKeyArray | None = None
) -> Float[Array, ""]:
    """Mean next-token cross-entropy of a batch (dropout on when a key is given)."""
    if key is None:
        logits = jax.vmap(lambda t: model(t))(x)
    else:
        logits = jax.vmap(lambda t, k: model(t, key=k))(x, jax.random.split(key, x.shape[0]))
    return cross_entropy(logits, y)


def _check_data(name: str, data, model_config: GPTConfig) -> jax.Array:
    data = jnp.asarray(data)
    if data.ndim != 1 or not jnp.issubdtype(data.dtype, jnp.integer):
        raise ValueError(f"{name} must be a 1-D array of integer token ids, got {data.dtype}{data.shape}")
    need = model_config.context_length + 2
    if data.shape[0] < need:
        raise ValueError(
            f"{name} has {data.shape[0]} tokens; it needs at least context_length + 2 = {need}"
        )
    lo, hi = int(data.min()), int(data.max())
    if lo < 0 or hi >= model_config.vocab_size:
        raise ValueError(
            f"{name} holds token ids in [{lo}, {hi}], outside [0, vocab_size="
            f"{model_config.vocab_size})"
        )
    return data.astype(jnp.int32)


@eqx.filter_jit
def _train_chunk(model, opt_state, data, key, first_step, n_steps: int, cfg: TrainConfig):
    """`n_steps` AdamW steps in one lax.scan; returns per-step losses and learning rates."""
    optimizer = make_optimizer(cfg)
    schedule = learning_rate_schedule(cfg)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    T = model.config.context_length

    def step(carry, s):
        params, opt_state = carry
        k_batch, k_drop = jax.random.split(jax.random.fold_in(key, s))
        x, y = get_batch(k_batch, data, cfg.batch_size, T)
        drop_key = k_drop if model.config.dropout > 0 else None
        loss, grads = jax.value_and_grad(
            lambda p: batch_loss(eqx.combine(p, static), x, y, drop_key)
        )(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (params, opt_state), (loss, schedule(s))

    steps = first_step + jnp.arange(n_steps)
    (params, opt_state), (losses, lrs) = jax.lax.scan(step, (params, opt_state), steps)
    return eqx.combine(params, static), opt_state, losses, lrs


@eqx.filter_jit
def estimate_loss(model: GPT, data: Int[Array, " n"], key: PRNGKeyArray, n_batches: int, batch_size: int):
    """Mean loss over `n_batches` random batches (no dropout)."""
    keys = jax.random.split(key, n_batches)
    T = model.config.context_length
    losses = jax.lax.map(lambda k: batch_loss(model, *get_batch(k, data, batch_size, T)), keys)
    return losses.mean()


def train(
    state: TrainState,
    train_tokens: Int[Array, " n"],
    val_tokens: Int[Array, " m"] | None,
    cfg: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    extra: dict | None = None,
    progress: bool = True,
    stop_after: int | None = None,
) -> TrainState:
    """Train from `state.step` up to `cfg.steps`, evaluating every `cfg.eval_every` steps.

    Arguments:
        state: from `init_train_state` or `load_checkpoint` (resume).
        train_tokens, val_tokens: 1-D token-id arrays (val may be None: no val loss).
        cfg: TrainConfig; `cfg.steps` is the total, so a resumed run continues the curve.
        checkpoint_dir: where to write checkpoints (every `checkpoint_every` steps and at
            the end); `extra` (e.g. the tokenizer file name) is stored in its metadata.
        progress: show a tqdm progress bar.
        stop_after: stop at this step although the schedule runs to `cfg.steps` (an
            interruption: a later `train` call resumes the same curve).

    Returns the final TrainState; `state.history` holds the loss curves.
    """
    mcfg = state.model.config
    train_tokens = _check_data("train_tokens", train_tokens, mcfg)
    if val_tokens is not None:
        val_tokens = _check_data("val_tokens", val_tokens, mcfg)
    if state.step % cfg.eval_every:
        raise ValueError(
            f"state.step={state.step} is not a multiple of eval_every={cfg.eval_every}: "
            "resume with the eval_every the run was started with"
        )
    key = jax.random.key(cfg.seed)
    k_train, k_eval = jax.random.split(key)
    history = {k: list(v) for k, v in state.history.items()}
    model, opt_state, step = state.model, state.opt_state, state.step

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, unit="step", desc="train")
    end = cfg.steps if stop_after is None else min(stop_after, cfg.steps)
    while step < end:
        n = min(cfg.eval_every, end - step)
        model, opt_state, losses, lrs = _train_chunk(
            model, opt_state, train_tokens, k_train, jnp.asarray(step), n, cfg
        )
        losses = np.asarray(losses)
        if not np.all(np.isfinite(losses)):
            bad = step + 1 + int(np.argmin(np.isfinite(losses)))
            raise FloatingPointError(f"training loss became {losses[bad - step - 1]} at step {bad}")
        history["step"].extend(range(step + 1, step + n + 1))
        history["train_loss"].extend(losses.tolist())
        history["lr"].extend(np.asarray(lrs).tolist())
        step += n
        k = jax.random.fold_in(k_eval, step)
        history["eval_step"].append(step)
        history["eval_train_loss"].append(
            float(estimate_loss(model, train_tokens, k, cfg.eval_batches, cfg.batch_size)))
        history["val_loss"].append(
            float(estimate_loss(model, val_tokens, k, cfg.eval_batches, cfg.batch_size))
            if val_tokens is not None else float("nan"))
        state = TrainState(model, opt_state, step, history)
        if bar is not None:
            bar.update(n)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", val=f"{history['val_loss'][-1]:.3f}")
        if checkpoint_dir is not None and (
            step == end or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0)
        ):
            save_checkpoint(checkpoint_dir, state, cfg, extra=extra)
    if bar is not None:
        bar.close()
    return TrainState(model, opt_state, step, history)


# ----------------------------------------------------------------------- checkpoints
CHECKPOINT_FILE = "checkpoint.ckpt"
_MAGIC = b"NEURODYN-GPT-CHECKPOINT-2\n"


def save_checkpoint(directory: str | Path, state: TrainState, cfg: TrainConfig, *, extra: dict | None = None) -> Path:
    """Write a checkpoint: `directory/checkpoint.ckpt`, one file replaced atomically.

    The file holds the metadata (step, model and train configs (incl. the seed that keys
    every batch), loss history, `extra`) as JSON, the model and optimiser leaves
    (`eqx.tree_serialise_leaves`) and a sha256 of everything before it. It is written to a
    temporary name, fsynced and renamed over the previous checkpoint, which stays intact
    until the new one is complete: a run killed at any moment leaves one consistent
    checkpoint (weights, optimiser state and step always from the same step).
    """
    import io as _io

    from neurodyn.io._atomic import write_atomic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = _io.BytesIO()
    eqx.tree_serialise_leaves(payload, (state.model, state.opt_state))
    meta = {
        "format": "neurodyn-gpt-2",
        "model_config": state.model.config.to_dict(),
        "train_config": cfg.to_dict(),
        "step": state.step,
        "history": state.history,
        "extra": extra or {},
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    header = json.dumps(meta, allow_nan=True).encode()
    body = _MAGIC + len(header).to_bytes(8, "little") + header + payload.getvalue()
    path = directory / CHECKPOINT_FILE
    write_atomic(path, body + hashlib.sha256(body).digest(), crash="checkpoint", index=state.step)
    return path


def load_checkpoint(directory: str | Path) -> tuple[TrainState, TrainConfig, dict]:
    """Read a checkpoint: (TrainState, the TrainConfig it was saved with, extra).

    The file's sha256 is verified first: a truncated or altered checkpoint raises
    `neurodyn.io.DamagedFileError` naming it.
    """
    from neurodyn.io import DamagedFileError

    directory = Path(directory)
    path = directory / CHECKPOINT_FILE
    if not path.exists():
        if (directory / "state.json").exists():
            return _load_legacy_checkpoint(directory)
        raise FileNotFoundError(f"no checkpoint in {directory} (missing {CHECKPOINT_FILE})")
    data = path.read_bytes()
    body, digest = data[:-32], data[-32:]
    if not data.startswith(_MAGIC):
        raise DamagedFileError(f"{path} is not a neurodyn GPT checkpoint (or its start is damaged)")
    if len(data) < len(_MAGIC) + 40 or hashlib.sha256(body).digest() != digest:
        raise DamagedFileError(
            f"{path} is damaged (truncated or altered: its sha256 does not match); "
            f"no consistent checkpoint to resume from"
        )
    n = int.from_bytes(body[len(_MAGIC):len(_MAGIC) + 8], "little")
    start = len(_MAGIC) + 8
    meta = json.loads(body[start:start + n])
    return _restore(meta, body[start + n:], path)


def _restore(meta: dict, payload, path) -> tuple[TrainState, TrainConfig, dict]:
    import io as _io

    mcfg = GPTConfig.from_dict(meta["model_config"])
    cfg = TrainConfig.from_dict(meta["train_config"])
    like = init_train_state(mcfg, cfg, key=jax.random.key(0))
    source = _io.BytesIO(payload) if isinstance(payload, bytes) else payload
    model, opt_state = eqx.tree_deserialise_leaves(source, (like.model, like.opt_state))
    return TrainState(model, opt_state, meta["step"], meta["history"]), cfg, meta["extra"]


def _load_legacy_checkpoint(directory: Path) -> tuple[TrainState, TrainConfig, dict]:
    """A checkpoint of neurodyn <= 0.1.0 (state.eqx + state.json, no checksum)."""
    import warnings

    from neurodyn.io import DamagedFileError

    meta_path = directory / "state.json"
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as e:
        raise DamagedFileError(f"{meta_path} is damaged: {e}") from None
    if meta.get("format") != "neurodyn-gpt-1":
        raise ValueError(f"{meta_path} is not a neurodyn GPT checkpoint")
    warnings.warn(f"{directory} holds an old checkpoint without a checksum (state.eqx + state.json); "
                  f"the next save writes {CHECKPOINT_FILE}", RuntimeWarning, stacklevel=3)
    try:
        return _restore(meta, directory / "state.eqx", directory / "state.eqx")
    except (OSError, ValueError, RuntimeError) as e:
        raise DamagedFileError(f"{directory / 'state.eqx'} is damaged: {e}") from None


def plot_loss_curves(history: dict, path: str | Path | None = None, *, ax=None):
    """Train loss per step (light), and train/val loss estimates at eval steps."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    ax.plot(history["step"], history["train_loss"], alpha=0.3, color="C0", label="train (batch)")
    ax.plot(history["eval_step"], history["eval_train_loss"], "o-", color="C0", ms=3, label="train (estimate)")
    if not all(math.isnan(v) for v in history["val_loss"]):
        ax.plot(history["eval_step"], history["val_loss"], "o-", color="C1", ms=3, label="validation")
    ax.set(xlabel="step", ylabel="cross-entropy (nats/token)", title="loss")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
