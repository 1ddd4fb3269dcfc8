"""A decoder-only transformer in neurodyn's functional Equinox style.

tokenizer.py (byte-level BPE), model.py (GPT), train.py (optax training, checkpoints),
sample.py (sampling, attention maps), grokking.py (modular addition, Fourier analysis),
corpus.py (generated demo text), cli.py (`neurodyn gpt train/sample`).
"""

from neurodyn.transformer.grokking import (
    GrokkingConfig,
    embedding_fourier_norms,
    fourier_basis,
    key_frequencies,
    modular_addition_data,
    train_grokking,
)
from neurodyn.transformer.model import GPT, GPTConfig, count_parameters, sinusoidal_positional_encoding
from neurodyn.transformer.sample import attention_maps, generate, plot_attention
from neurodyn.transformer.tokenizer import BPETokenizer
from neurodyn.transformer.train import (
    TrainConfig,
    TrainState,
    init_train_state,
    load_checkpoint,
    plot_loss_curves,
    save_checkpoint,
    train,
)

__all__ = [
    "BPETokenizer", "GPT", "GPTConfig", "GrokkingConfig", "TrainConfig", "TrainState",
    "attention_maps", "count_parameters", "embedding_fourier_norms", "fourier_basis",
    "generate", "init_train_state", "key_frequencies", "load_checkpoint",
    "modular_addition_data", "plot_attention", "plot_loss_curves", "save_checkpoint",
    "sinusoidal_positional_encoding", "train", "train_grokking",
]
