"""A tiny GPT training run with checkpoints, for the crash tests (tests/test_checkpoints.py).

    python train_run.py DIRECTORY [--resume]

Trains a 1-layer, 16-wide GPT on 200 random tokens for 20 steps, checkpointing every 5
steps to DIRECTORY; with --resume it continues from the checkpoint there. With
NEURODYN_CRASH_AT set, the checkpoint writer SIGKILLs the process at that point.
"""

import sys

import jax

from neurodyn.transformer.model import GPTConfig
from neurodyn.transformer.train import TrainConfig, init_train_state, load_checkpoint, train

MCFG = GPTConfig(vocab_size=40, context_length=8, d_model=16, n_heads=2, n_layers=1)
CFG = TrainConfig(steps=20, batch_size=4, eval_every=5, checkpoint_every=5, eval_batches=2, warmup_steps=2, seed=3)


def run(directory, resume: bool = False):
    data = jax.random.randint(jax.random.key(0), (200,), 0, 40)
    state = load_checkpoint(directory)[0] if resume else init_train_state(MCFG, CFG, key=jax.random.key(4))
    return train(state, data[:150], data[150:], CFG, checkpoint_dir=directory, progress=False)


if __name__ == "__main__":
    run(sys.argv[1], resume="--resume" in sys.argv)
