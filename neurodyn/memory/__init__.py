"""Associative memory side by side: one harness, every model from a spiking attractor
network to a transformer, the same measurements.

Interface (`harness.AbstractMemory`): `store(patterns, mask) -> memory`,
`retrieve(memory, cue, key) -> Retrieval` (output, steps, simulated ms, operations,
convergence, optional trajectory). Measurements: `capacity_curve`, `robustness`, `basin`,
`spurious_rate`, `cost`. Pattern sets and corruptions: `patterns`.

Models (adapters over neurodyn's own modules):
1. `ClassicalMemory` — binary Hopfield (Hebbian, Storkey; async, sync), `neurodyn.hopfield`.
2. `ContinuousMemory` — the 1984 graded-response network run by `neurodyn.simulate`.
3. `SpikingMemory` — LIF excitatory and inhibitory populations built with
   `neurodyn.network`, Hebbian weights mapped onto E→E and E→I→E synapses.
4. `UniversalHopfield` (similarity × separation, Millidge et al. 2022; dot/softmax is the
   exponential modern Hopfield network of Ramsauer et al. 2020) and
   `DenseAssociativeMemory` (polynomial energy, Krotov & Hopfield 2016).
5. `AttentionMemory` — one attention head, K = V = patterns, Q = cue.
6. `recall` — a small transformer trained on in-context key→value recall.
"""

from .attention import AttentionMemory
from .classical import ClassicalMemory
from .continuous import ContinuousMemory
from .dense import (
    DenseAssociativeMemory,
    PatternStore,
    UniversalHopfield,
    modern_hopfield,
)
from .harness import (
    AbstractMemory,
    MemoryCurve,
    Retrieval,
    basin,
    capacity_curve,
    cost,
    overlap,
    random_pattern_sets,
    robustness,
    robustness_many,
    spurious_rate,
    wall_time_per_retrieval,
)
from .patterns import (
    binarise_cue,
    corrupt,
    digits,
    flip,
    gaussian_noise,
    mask,
    mask_half,
    random_patterns,
)
from .spiking import SpikingMemory, SpikingStore

__all__ = [
    "AbstractMemory",
    "AttentionMemory",
    "ClassicalMemory",
    "ContinuousMemory",
    "DenseAssociativeMemory",
    "MemoryCurve",
    "PatternStore",
    "Retrieval",
    "SpikingMemory",
    "SpikingStore",
    "UniversalHopfield",
    "basin",
    "binarise_cue",
    "capacity_curve",
    "corrupt",
    "cost",
    "digits",
    "flip",
    "gaussian_noise",
    "mask",
    "mask_half",
    "modern_hopfield",
    "overlap",
    "random_pattern_sets",
    "random_patterns",
    "robustness",
    "robustness_many",
    "spurious_rate",
    "wall_time_per_retrieval",
]
