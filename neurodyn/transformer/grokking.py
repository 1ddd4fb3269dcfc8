"""Grokking on modular addition and the Fourier analysis of what the model learned.

Setting of Nanda et al. 2023 ("Progress measures for grokking via mechanistic
interpretability", arXiv 2301.05217): the task is (a + b) mod p with inputs [a, b, "="]
(the "=" token is id p), p = 113; a one-layer transformer, 4 heads, d_model 128, d_head 32,
d_mlp 512, ReLU, no LayerNorm, learned positions, untied unembedding; AdamW lr 1e-3,
weight decay 1.0, betas (0.9, 0.98); full-batch training on 30 % of the p² pairs; the loss
is the cross-entropy of the logits over the p answers at the "=" position.

The train loss falls within ~1k steps (memorisation); the test accuracy jumps to ~100 %
thousands of steps later (grokking), as weight decay favours the generalising circuit. That
circuit computes with cos/sin(2π k a / p) for a few key frequencies k, so the learned token
embedding W_E[:p] is sparse in the Fourier basis over the inputs:

    F[0] = 1/√p,  F[2k-1] = √(2/p) cos(2π k x / p),  F[2k] = √(2/p) sin(2π k x / p),  k = 1..(p-1)/2

and ‖(F W_E)[row]‖ summed over each frequency's cos and sin rows is large for a handful of k.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

from neurodyn._checks import check_int, check_number
from neurodyn.transformer.model import GPT, GPTConfig


@dataclasses.dataclass(frozen=True)
class GrokkingConfig:
    """Task, model and optimiser settings; defaults are Nanda et al. 2023.

    Attributes:
        p: the (prime) modulus; the vocabulary is 0..p-1 plus "=" (id p).
        train_fraction: fraction of the p² pairs used for training (full batch).
        d_model, n_heads, d_head, d_mlp, n_layers: model sizes.
        lr, weight_decay, betas: AdamW; `warmup_steps` of linear warm-up, then constant.
        max_steps: upper limit on training steps.
        eval_every: steps between test evaluations (also the steps per jitted `lax.scan`).
        stop_at_test_accuracy: stop once the test accuracy reaches this (None: never) ...
        extra_steps: ... after this many further steps (to see the clean-up phase).
        seed: seeds the data split and the initialisation.
        init_std: weight initialisation std; 0.8/√d_model is TransformerLens's default,
            which Nanda et al. used.
    """

    p: int = 113
    train_fraction: float = 0.3
    d_model: int = 128
    n_heads: int = 4
    d_head: int = 32
    d_mlp: int = 512
    n_layers: int = 1
    lr: float = 1e-3
    weight_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 10
    max_steps: int = 25_000
    eval_every: int = 100
    stop_at_test_accuracy: float | None = 0.99
    extra_steps: int = 0
    seed: int = 0
    init_std: float | None = None

    def __post_init__(self):
        check_int("p", self.p, lower=3, owner="GrokkingConfig")
        if not 0.0 < check_number("train_fraction", self.train_fraction, owner="GrokkingConfig") < 1.0:
            raise ValueError(
                f"GrokkingConfig.train_fraction must be in (0, 1), got {self.train_fraction!r}"
            )
        for name in ("max_steps", "eval_every"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), lower=1, owner="GrokkingConfig"))  # NumPy ints -> int

    def model_config(self) -> GPTConfig:
        return GPTConfig(
            vocab_size=self.p + 1,
            context_length=3,
            d_model=self.d_model,
            n_heads=self.n_heads,
            d_head=self.d_head,
            d_mlp=self.d_mlp,
            n_layers=self.n_layers,
            activation="relu",
            layer_norm=False,
            positional="learned",
            dropout=0.0,
            tie_weights=False,
            init_std=self.init_std if self.init_std is not None else 0.8 / np.sqrt(self.d_model),
        )


def modular_addition_data(
    p: int, train_fraction: float, *, key: PRNGKeyArray
) -> tuple[Int[Array, "n_train 3"], Int[Array, " n_train"], Int[Array, "n_test 3"], Int[Array, " n_test"]]:
    """All p² inputs [a, b, p] with labels (a + b) mod p, randomly split into train/test."""
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    a, b = a.ravel(), b.ravel()
    x = np.stack([a, b, np.full_like(a, p)], axis=1).astype(np.int32)
    y = ((a + b) % p).astype(np.int32)
    perm = np.asarray(jax.random.permutation(key, p * p))
    n_train = int(round(train_fraction * p * p))
    tr, te = perm[:n_train], perm[n_train:]
    return jnp.asarray(x[tr]), jnp.asarray(y[tr]), jnp.asarray(x[te]), jnp.asarray(y[te])


def answer_logits(model: GPT, x: Int[Array, "batch 3"], p: int) -> Float[Array, "batch p"]:
    """Logits over the p answers at the "=" position (only that position is computed)."""
    return jax.vmap(lambda t: model(t, last_only=True)[0, :p])(x)


def loss_and_accuracy(
    model: GPT, x: Int[Array, "batch 3"], y: Int[Array, " batch"], p: int
) -> tuple[Float[Array, ""], Float[Array, ""]]:
    """Mean cross-entropy (float32 logits) and accuracy of the argmax answer."""
    logits = answer_logits(model, x, p)
    logp = jax.nn.log_softmax(logits, axis=-1)
    loss = -jnp.take_along_axis(logp, y[:, None], axis=-1).mean()
    return loss, (logits.argmax(-1) == y).mean()


def make_train_chunk(cfg: GrokkingConfig, optimizer: optax.GradientTransformation) -> Callable:
    """One jitted function that runs `eval_every` full-batch AdamW steps in a `lax.scan`
    and then evaluates on the test set: one host call per `eval_every` steps."""
    p = cfg.p

    @eqx.filter_jit
    def chunk(model, opt_state, x_train, y_train, x_test, y_test):
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def loss_fn(params):
            return loss_and_accuracy(eqx.combine(params, static), x_train, y_train, p)

        def step(carry, _):
            params, opt_state = carry
            (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            return (params, opt_state), (loss, acc)

        (params, opt_state), (train_loss, train_acc) = jax.lax.scan(
            step, (params, opt_state), None, length=cfg.eval_every
        )
        model = eqx.combine(params, static)
        test_loss, test_acc = loss_and_accuracy(model, x_test, y_test, p)
        return model, opt_state, train_loss, train_acc, test_loss, test_acc

    return chunk


def make_optimizer(cfg: GrokkingConfig) -> optax.GradientTransformation:
    """AdamW with weight decay on all parameters and a short linear warm-up (Nanda et al.)."""
    schedule = optax.linear_schedule(0.0, cfg.lr, max(cfg.warmup_steps, 1))
    return optax.adamw(schedule, b1=cfg.betas[0], b2=cfg.betas[1], weight_decay=cfg.weight_decay)


def train_grokking(cfg: GrokkingConfig, *, progress: bool = False) -> dict:
    """Train the one-layer model full-batch on modular addition.

    Returns a dict with the trained `model`, `history` (per-step train loss/accuracy,
    test loss/accuracy at every `eval_every` steps), `steps_to_test_accuracy` (first
    evaluation at which test accuracy >= the threshold, or None), `wall_time_s`
    (training only, compilation included) and `compile_time_s`.
    """
    key = jax.random.key(cfg.seed)
    k_data, k_model = jax.random.split(key)
    x_tr, y_tr, x_te, y_te = modular_addition_data(cfg.p, cfg.train_fraction, key=k_data)
    model = GPT(cfg.model_config(), key=k_model)
    optimizer = make_optimizer(cfg)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    chunk = make_train_chunk(cfg, optimizer)

    hist = {"step": [], "train_loss": [], "train_accuracy": [], "eval_step": [],
            "test_loss": [], "test_accuracy": []}
    threshold = cfg.stop_at_test_accuracy if cfg.stop_at_test_accuracy is not None else 0.99
    reached = None
    stop_at = cfg.max_steps
    n_chunks = -(-cfg.max_steps // cfg.eval_every)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks * cfg.eval_every, unit="step", desc=f"grokking p={cfg.p}")
    t0 = time.perf_counter()
    compile_time = None
    step = 0
    while step < stop_at:
        model, opt_state, trl, tra, tel, tea = chunk(model, opt_state, x_tr, y_tr, x_te, y_te)
        trl, tra, tel, tea = map(np.asarray, (trl, tra, tel, tea))
        if compile_time is None:
            compile_time = time.perf_counter() - t0
        hist["step"].extend(range(step + 1, step + cfg.eval_every + 1))
        hist["train_loss"].extend(trl.tolist())
        hist["train_accuracy"].extend(tra.tolist())
        step += cfg.eval_every
        hist["eval_step"].append(step)
        hist["test_loss"].append(float(tel))
        hist["test_accuracy"].append(float(tea))
        if not np.isfinite(trl[-1]):
            raise FloatingPointError(f"grokking: train loss is {trl[-1]} at step {step}")
        if reached is None and tea >= threshold:
            reached = step
            if cfg.stop_at_test_accuracy is not None:
                stop_at = min(stop_at, step + cfg.extra_steps)
        if bar is not None:
            bar.update(cfg.eval_every)
            bar.set_postfix(train_loss=f"{trl[-1]:.3g}", test_loss=f"{float(tel):.3g}",
                            test_acc=f"{float(tea):.3f}")
    wall = time.perf_counter() - t0
    if bar is not None:
        bar.close()
    return {
        "model": model,
        "config": cfg,
        "history": hist,
        "steps": step,
        "steps_to_test_accuracy": reached,
        "test_accuracy_threshold": threshold,
        "wall_time_s": wall,
        "compile_time_s": compile_time,
        "n_train": int(x_tr.shape[0]),
        "n_test": int(x_te.shape[0]),
    }


def fourier_basis(p: int) -> Float[np.ndarray, "p p"]:
    """Orthonormal Fourier basis over Z_p: rows 1/√p, then √(2/p) cos, √(2/p) sin for k = 1..."""
    x = np.arange(p)
    rows = [np.ones(p) / np.sqrt(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows.append(np.sqrt(2 / p) * np.cos(2 * np.pi * k * x / p))
        rows.append(np.sqrt(2 / p) * np.sin(2 * np.pi * k * x / p))
    return np.stack(rows)


def embedding_fourier_norms(model: GPT, p: int) -> Float[np.ndarray, " n_freq"]:
    """Norm of the token embedding W_E[:p] in each frequency k = 0..(p-1)/2 (cos and sin
    combined): ‖(F W_E)[2k-1]‖² + ‖(F W_E)[2k]‖², square-rooted."""
    w_e = np.asarray(model.token_embedding[:p], dtype=np.float64)
    coeff = fourier_basis(p) @ w_e
    sq = (coeff**2).sum(1)
    per_freq = np.concatenate([[sq[0]], sq[1::2] + sq[2::2]])
    return np.sqrt(per_freq)


def key_frequencies(norms: Float[np.ndarray, " n_freq"], *, fraction: float = 0.7) -> list[int]:
    """The fewest frequencies (k >= 1, largest first) holding `fraction` of the squared norm."""
    sq = np.asarray(norms)[1:] ** 2
    order = np.argsort(sq)[::-1]
    cum = np.cumsum(sq[order]) / sq.sum()
    n = int(np.searchsorted(cum, fraction) + 1)
    return sorted(int(k) + 1 for k in order[:n])


def plot_grokking(result: dict, path=None, *, ax=None):
    """Train/test loss (log scale) and accuracy against step."""
    import matplotlib.pyplot as plt

    h = result["history"]
    if ax is None:
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    else:
        fig = ax[0].figure
    ax[0].semilogy(h["step"], h["train_loss"], label="train")
    ax[0].semilogy(h["eval_step"], h["test_loss"], label="test")
    ax[0].set(xlabel="step", ylabel="cross-entropy (nats)", title=f"loss, p={result['config'].p}")
    ax[0].legend()
    ax[1].plot(h["step"], h["train_accuracy"], label="train")
    ax[1].plot(h["eval_step"], h["test_accuracy"], label="test")
    if result.get("steps_to_test_accuracy"):
        ax[1].axvline(result["steps_to_test_accuracy"], color="gray", ls=":",
                      label=f"test ≥ {result['test_accuracy_threshold']:.0%}")
    ax[1].set(xlabel="step", ylabel="accuracy", title="accuracy", ylim=(-0.02, 1.02))
    ax[1].legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def plot_fourier(norms, p: int, path=None, *, ax=None):
    """Bar plot of the embedding's norm per Fourier frequency, key frequencies marked."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.5))
    else:
        fig = ax.figure
    keys = key_frequencies(norms)
    colors = ["C3" if k in keys else "C0" for k in range(len(norms))]
    ax.bar(np.arange(len(norms)), norms, color=colors)
    ax.set(xlabel="frequency k", ylabel="‖W_E in cos/sin(2πkx/p)‖",
           title=f"token embedding in the Fourier basis (p={p}); key k = {keys}")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
