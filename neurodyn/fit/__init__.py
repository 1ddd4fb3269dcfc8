"""Parameter fitting with optax: transforms, parameter selection, the optimisation loop, losses.

A fit minimises a user loss L(model) over a few parameters of an Equinox model (a neuron,
a network, anything that is a pytree); all other fields stay fixed:

    θ = T(u),   u ← u − optax_update(∇_u L(T(u)))

where T maps the unconstrained optimiser variable u to the parameter's valid range
(`Positive`: θ = s·softplus(u); `Interval(lo, hi)`: θ = lo + (hi − lo)·sigmoid(u)).
Parameters are chosen by name ("g_na", "neuron.tau_m"), by a function as in `eqx.tree_at`
(`lambda m: (m.g_na, m.g_k)`) or by an Equinox filter spec (`make_parameters`).
`fit_multistart` runs many starts, and optionally many data sets, in one vmapped call.

Modules: `transforms` (Identity, Positive, Interval), `parameters` (selection by name,
function or filter spec), `optimise` (`fit`, `fit_multistart`), `losses`; `solve_trace` and
`simulate_surrogate` live in `neurodyn._adjoint`, next to `simulate`, and are re-exported here.

Gradients and the adjoint. `loss_fn` usually calls `neurodyn.simulate`:
- clock mode (`solver.step` inside `fori_loop`/`scan`) is reverse-differentiated by JAX
  directly: it stores the loop carry of every step, so gradient memory grows linearly
  with the number of steps, O(steps · state); Diffrax's adjoint plays no part there. That
  is the fastest choice for short traces (`benchmarks/fit_hh.py`: 100 ms of HH).
- long traces: `solve_trace`, one `diffrax.diffeqsolve` over the whole trace with a chosen
  adjoint (`adjoint=`):
    `diffrax.RecursiveCheckpointAdjoint()` (the default): binomial checkpointing with
        ≈ √(2·steps) checkpoints (Equinox's default for `checkpoints=None`), so memory
        O(√steps · state) and time O(steps) forward + recomputation; gradients are exact
        for the discrete solve (samples are taken by step count: see `neurodyn._adjoint`
        for the wrong gradient that sampling at times gave).
        `RecursiveCheckpointAdjoint(checkpoints=k)` trades memory for recomputation.
    `diffrax.BacksolveAdjoint()` (the option): solves the continuous adjoint ODE backwards,
        memory O(state) in the number of steps; its gradients differ from the discrete ones
        by the solver's error, which is large through spikes at coarse dt (+62 % for HH
        at dt = 0.025 ms; `tests/test_adjoint.py` shows it shrinking with dt).
  In every path the recorded samples that the loss reads are O(records): subsample with
  `record_every` (or a window of `trace_mse`) to keep long traces bounded. The benchmark
  reports XLA's working memory of each path at 100 and 400 ms.
- exact mode (`mode="exact"`) spike times are event roots t* of g(t, y(t; θ), θ) = 0;
  Diffrax differentiates the root by the implicit function theorem,
      dt*/dθ = −(∂g/∂θ + ∂g/∂y·∂y/∂θ) / (dg/dt),
  and `simulate`'s event loop (an Equinox checkpointed while loop over segments, each a
  Diffrax solve with its own checkpointed loop) passes those gradients through resets and
  refractory periods; memory is bounded by `max_spikes`. Compiling this gradient is slow
  (tens of seconds on a 2-core CPU): `fit` compiles its step once and reuses it for later
  calls with the same `loss_fn` and `optimizer` (use fixed transform scales, e.g.
  `Positive(10.0)`, so the start does not enter the compiled function), and a
  value-only line search (`optax.scale_by_backtracking_linesearch`) avoids tracing the
  gradient twice. `tests/test_fit.py` checks these gradients against central finite
  differences.
- clock-driven threshold crossings have zero gradient almost everywhere; `spike` is a
  Heaviside step whose derivative is replaced by a smooth surrogate (SuperSpike fast
  sigmoid, sigmoid, arctan); `simulate(..., surrogate=...)` uses it for the spikes of
  any reset model or network of them (soft reset detached; a network delivers the
  differentiable spikes), and `simulate_surrogate` is that run reshaped for fitting.
"""

from __future__ import annotations

from .._adjoint import SurrogateResult, simulate_surrogate, solve_trace
from ..surrogate import spike  # re-exported: neurodyn.fit.spike
from .losses import (
    fi_curve_loss,
    rate_loss,
    rates_from_spike_times,
    spike_count_loss,
    trace_mse,
    van_rossum_distance,
)
from .optimise import FitResult, MultiStartResult, fit, fit_multistart, perturbed_starts
from .parameters import Parameters, make_parameters
from .transforms import AbstractTransform, Identity, Interval, Positive

__all__ = [
    "AbstractTransform", "FitResult", "Identity", "Interval", "MultiStartResult", "Parameters",
    "Positive", "SurrogateResult", "fi_curve_loss", "fit", "fit_multistart", "make_parameters",
    "perturbed_starts", "rate_loss", "rates_from_spike_times", "simulate_surrogate",
    "solve_trace", "spike", "spike_count_loss", "trace_mse", "van_rossum_distance",
]
