"""In-context associative recall with the GPT (neurodyn.memory.recall).

Fast: the sequences are what the task says (distinct keys, the query is one of them, the
target is its value) and the attention read-out adds up. Slow: training reaches ≈ 100 %
recall for few pairs and degrades with more pairs than it was trained on, and the head
that does the recall concentrates on the matching pair, as the modern Hopfield network
does on the matching key.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

from neurodyn.memory.recall import (
    RecallConfig,
    recall_attention,
    recall_sequences,
    train_recall,
)
from neurodyn.transformer import GPT


def test_recall_sequences_hold_distinct_keys_and_the_queried_value():
    cfg = RecallConfig()
    n_pairs = jnp.array([1, 3, 6, 12])
    tokens, targets, j = recall_sequences(jr.key(0), cfg, n_pairs)
    for b, p in enumerate(np.asarray(n_pairs)):
        seq = np.asarray(tokens[b])
        keys, values = seq[: 2 * p: 2], seq[1: 2 * p: 2]
        assert np.all((keys >= 1) & (keys <= cfg.n_keys)) and len(set(keys.tolist())) == p
        assert np.all(values > cfg.n_keys) and np.all(values < cfg.vocab_size)
        assert seq[2 * p] == keys[j[b]] and targets[b] == values[j[b]]
        assert np.all(seq[2 * p + 1:] == 0)  # right padding after the query


def test_recall_attention_of_an_untrained_model_is_spread_and_hopfield_is_sharp():
    cfg = RecallConfig()
    model = GPT(cfg.model_config(), key=jr.key(0))
    att = recall_attention(model, cfg, jr.key(1), 4, n_sequences=64, beta=8.0)
    # softmax(8·onehot·q) over 4 one-hot keys: e^8 / (e^8 + 3)
    assert att["hopfield_weight_on_match"] == pytest.approx(np.exp(8) / (np.exp(8) + 3), rel=1e-5)
    assert att["attention_on_match"] < 0.5  # nothing learned yet: ≈ uniform over 4 pairs + query
    assert sum(att["example_attention"]) == pytest.approx(1.0, abs=1e-5)


def test_recall_config_rejects_bad_sizes():
    with pytest.raises(ValueError, match="train_pairs .* must be <= max_pairs"):
        RecallConfig(train_pairs=13)
    with pytest.raises(ValueError, match="max_pairs .* must be <= n_keys"):
        RecallConfig(n_keys=8)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        RecallConfig(steps=0)


@pytest.mark.slow
def test_trained_transformer_recalls_few_pairs_and_degrades_with_more():
    from neurodyn.memory.recall import recall_accuracy

    cfg = RecallConfig()
    model, _ = train_recall(cfg)
    acc = recall_accuracy(model, cfg, jr.key(5))
    assert min(acc[p] for p in (1, 2, 3)) >= 0.95
    assert acc[12] < acc[1] - 0.3  # beyond the 6 trained pairs the look-up breaks down
    att = recall_attention(model, cfg, jr.key(6), 3)
    assert att["attention_on_match"] > 0.5
    assert att["hopfield_weight_on_match"] > 0.99
    jax.clear_caches()
