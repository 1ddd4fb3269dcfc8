"""Hopfield attractor networks: classical binary, continuous-time graded, and modern.

- `classical`: binary network (Hopfield 1982), Hebbian and Storkey rules, asynchronous /
  synchronous / Glauber dynamics, energy, run to convergence.
- `continuous`: graded-response network (Hopfield 1984), an `AbstractNeuron` integrated by
  `neurodyn.simulate`, with its Lyapunov energy.
- `modern`: modern continuous network (Ramsauer et al. 2020); one update = one attention head.
- `experiments`: capacity curve, basins, spurious states, modern retrieval, attention check.
- `plotting`: matplotlib figures for the experiments.
"""

from .classical import (
    ClassicalHopfield,
    HopfieldRun,
    asynchronous_sweep,
    closest_pattern,
    energy_trace,
    hebbian,
    overlap,
    run,
    storkey,
    synchronous_step,
)
from .continuous import ContinuousHopfield
from .experiments import (
    Basins,
    CapacityCurve,
    ModernRetrieval,
    SpuriousStates,
    attention_equivalence,
    basins,
    capacity_curve,
    critical_load,
    flip_bits,
    modern_capacity_curve,
    modern_retrieval,
    random_patterns,
    spurious_states,
)
from .modern import ModernHopfield, separation, separation_threshold, update_reference

__all__ = [
    "Basins",
    "CapacityCurve",
    "ClassicalHopfield",
    "ContinuousHopfield",
    "HopfieldRun",
    "ModernHopfield",
    "ModernRetrieval",
    "SpuriousStates",
    "asynchronous_sweep",
    "attention_equivalence",
    "basins",
    "capacity_curve",
    "closest_pattern",
    "critical_load",
    "energy_trace",
    "flip_bits",
    "hebbian",
    "modern_capacity_curve",
    "modern_retrieval",
    "overlap",
    "random_patterns",
    "run",
    "separation",
    "separation_threshold",
    "spurious_states",
    "storkey",
    "synchronous_step",
    "update_reference",
]
