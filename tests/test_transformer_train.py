"""Training: overfitting a tiny batch, schedule, checkpoint/restore, resume, bad data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.transformer.model import GPTConfig
from neurodyn.transformer.train import (
    TrainConfig,
    init_train_state,
    learning_rate_schedule,
    load_checkpoint,
    plot_loss_curves,
    save_checkpoint,
    train,
)

MCFG = GPTConfig(vocab_size=40, context_length=16, d_model=32, n_heads=2, n_layers=2)


@pytest.fixture(scope="module")
def data():
    return jax.random.randint(jax.random.key(0), (200,), 0, 40)


def test_overfits_a_tiny_batch():
    # 18 random tokens hold exactly two windows of 16 + 1: a model with 27k parameters
    # must memorise them, driving the loss from ln(40) = 3.69 nats to ~0.
    tiny = jax.random.randint(jax.random.key(1), (18,), 0, 40)
    cfg = TrainConfig(steps=200, batch_size=4, lr=1e-2, warmup_steps=10, weight_decay=0.0,
                      eval_every=100, min_lr_ratio=0.1)
    state = train(init_train_state(MCFG, cfg, key=jax.random.key(2)), tiny, None, cfg, progress=False)
    h = state.history
    assert h["train_loss"][0] == pytest.approx(np.log(40), abs=0.3)
    assert h["eval_train_loss"][-1] < 0.02
    assert len(h["step"]) == 200 and h["step"][-1] == 200


def test_schedule_warmup_and_cosine():
    cfg = TrainConfig(steps=100, lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    lr = learning_rate_schedule(cfg)
    assert float(lr(0)) == 0.0
    assert float(lr(10)) == pytest.approx(1e-3)
    assert float(lr(55)) == pytest.approx(1e-4 + 0.5 * 9e-4, rel=1e-4)  # half-way down the cosine
    assert float(lr(100)) == pytest.approx(1e-4)


def test_checkpoint_restore_identical_and_resume_continues(tmp_path, data):
    cfg = TrainConfig(steps=40, batch_size=4, eval_every=20, warmup_steps=5, seed=3)
    key = jax.random.key(4)
    straight = train(init_train_state(MCFG, cfg, key=key), data[:150], data[150:], cfg, progress=False)

    half = train(init_train_state(MCFG, cfg, key=key), data[:150], data[150:],
                 cfg, progress=False, stop_after=20)
    save_checkpoint(tmp_path, half, cfg)
    restored, cfg2, _ = load_checkpoint(tmp_path)
    assert cfg2 == cfg and restored.step == 20 and restored.model.config == MCFG
    tokens = data[:16]
    np.testing.assert_array_equal(restored.model(tokens), half.model(tokens))  # identical logits
    for a, b in zip(jax.tree_util.tree_leaves(restored.opt_state), jax.tree_util.tree_leaves(half.opt_state)):
        np.testing.assert_array_equal(a, b)

    resumed = train(restored, data[:150], data[150:], cfg, progress=False)
    # Same batches (key of step s is fold_in(key, s)) and same optimiser state: the resumed
    # curve continues the first half and matches the uninterrupted run.
    assert resumed.history["step"] == list(range(1, 41))
    np.testing.assert_allclose(resumed.history["train_loss"], straight.history["train_loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed.model(tokens), straight.model(tokens), atol=1e-5)
    fig = plot_loss_curves(resumed.history, tmp_path / "loss.png")
    assert (tmp_path / "loss.png").stat().st_size > 0
    fig.clf()


def test_bad_data_and_config(data):
    cfg = TrainConfig(steps=10, eval_every=5)
    state = init_train_state(MCFG, cfg, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"train_tokens has 10 tokens; it needs at least context_length \+ 2 = 18"):
        train(state, data[:10], None, cfg, progress=False)
    with pytest.raises(ValueError, match=r"outside \[0, vocab_size=40\)"):
        train(state, jnp.arange(100), None, cfg, progress=False)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="checkpoint_every must be 0 or a multiple of eval_every=50"):
        TrainConfig(checkpoint_every=30)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint("/nonexistent/dir")
