"""A small generated English corpus for tests, demos and the notebook (no downloads).

Sentences come from a tiny grammar about neurons, so the text has real structure (word
frequencies, agreement, punctuation) for BPE to find and a language model to learn.
"""

from __future__ import annotations

import numpy as np

from neurodyn._checks import check_int

_SUBJECTS = ["the neuron", "a cell", "the axon", "each synapse", "the membrane", "the network",
             "a spike", "the dendrite", "the soma", "the channel"]
_VERBS = ["fires", "integrates", "opens", "closes", "releases", "receives", "adapts", "resets",
          "depolarizes", "oscillates"]
_OBJECTS = ["a current", "the signal", "its input", "calcium", "sodium ions", "potassium ions",
            "a burst", "the threshold", "the rhythm", "glutamate"]
_ADVERBS = ["quickly", "slowly", "again", "at rest", "in silence", "every millisecond", "twice",
            "near threshold"]
_CONNECT = [", and then ", " while ", " because ", ". ", "; "]


def toy_corpus(n_sentences: int = 2000, *, seed: int = 0) -> str:
    """`n_sentences` generated sentences, e.g. "The neuron fires a current quickly."."""
    check_int("n_sentences", n_sentences, lower=1, owner="toy_corpus")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sentences):
        parts = []
        for _clause in range(rng.integers(1, 3)):
            clause = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
            if rng.random() < 0.5:
                clause += f" {rng.choice(_ADVERBS)}"
            parts.append(clause)
        text = str(rng.choice(_CONNECT)).join(parts) if len(parts) > 1 else parts[0]
        text = text[0].upper() + text[1:]
        out.append(text + ".")
    return "\n".join(out) + "\n"
