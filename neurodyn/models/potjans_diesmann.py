"""The Potjans & Diesmann (2014) cortical microcircuit, as NEST 3's `Potjans_2014` example builds it.

77 169 current-based LIF neurons (NEST `iaf_psc_exp`) in 8 populations (L2/3, L4, L5, L6 ×
excitatory/inhibitory) under 1 mm² of cortex, about 3·10⁸ synapses, driven by Poisson
background or its DC equivalent. Sources: Potjans & Diesmann (2014), Cereb. Cortex 24:785–806
(Table 5; "PD14"), and its reference implementation, the PyNEST example
`pynest/examples/Potjans_2014` of NEST 3 (`network_params.py`, `helpers.py`, `network.py`;
authors H. Rothe, H. Bos, S. van Albada, J. Senk), whose choices are followed throughout.

Neurons (`iaf_psc_exp`, `network_params.py` `neuron_params`):
    C_m = 250 pF, τ_m = 10 ms, E_L = V_reset = −65 mV, V_th = −50 mV, t_ref = 2 ms,
    exponential current synapses with τ_syn = 0.5 ms for excitation and inhibition alike.
    Initial V ~ N(μ_p, σ_p) per population ("optimized" V0_type):
    μ = −68.28, −63.16, −63.33, −63.45, −63.11, −61.66, −66.72, −61.43 mV,
    σ = 5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48 mV.
Populations (L2/3E, L2/3I, L4E, L4I, L5E, L5I, L6E, L6I): N = 20683, 5834, 21915, 5479,
    4850, 1065, 14395, 2948.
Connectivity: `CONN_PROBS[t, s]` (target t, source s; PD14 Table 5) turned into a total
    number of synapses per pair of populations,
        N_syn = ln(1 − C) / ln(1 − 1/(N_pre·N_post))      (`helpers.num_synapses_from_conn_probs`),
    connected with NEST's `fixed_total_number` rule, autapses and multapses allowed.
Weights: a PSP of 0.15 mV is a PSC of J = 87.81 pA (`helpers.postsynaptic_potential_to_current`,
    the peak of the PSP of `iaf_psc_exp`: `psc_over_psp`); inhibitory J_I = g·J with g = −4;
    L4E → L2/3E doubled (2J); per synapse normal with SD 0.1·|J|, redrawn to keep the sign
    (`nest.math.redraw(normal, min=0)` or `max=0`).
Delays: normal, mean 1.5 ms (excitatory sources) or 0.75 ms (inhibitory), SD 0.5·mean,
    redrawn below 0.5·dt and rounded to the nearest step (so at least one step).
Background ("poisson"): K_ext = 1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100 inputs at
    8 Hz per neuron, weight J, delay 1.5 ms (one `poisson_generator` per population at
    K_ext·8 Hz, `PoissonDrive`). ("dc"): its mean as a constant current
    I_DC = K_ext · 8 Hz · τ_syn · J (`helpers.dc_input_compensating_poisson`), e.g. 562 pA
    onto L2/3E; NEST's benchmarking configuration uses DC.
Thalamic input (optional, off by default; `stimulus_params.py`): 902 parrot neurons firing
    as Poisson processes at 120 Hz between 700 and 710 ms, onto L4E, L4I, L6E, L6I with
    connection probabilities 0.0983, 0.0619, 0.0512, 0.0196, weight J (0.15 mV), SD 0.1·J,
    delays N(1.5, 0.75) ms.
Integration: dt = 0.1 ms with NEST's exact propagators (`neurodyn.network.ExactIntegration`).
Published rates at full scale (NEST example, one run; spikes/s): 0.903, 2.965, 4.414, 5.876,
7.569, 8.633, 1.105, 7.829 (`PUBLISHED_RATES`; discard the first 500 ms).

Down-scaling, as the reference implementation does it (`network.py` `__derive_parameters`):
- `scale` (NEST's `N_scaling`) multiplies the population sizes and the synapse numbers,
  N = round(N_full·scale) and N_syn = round(N_syn,full·scale·k_scale): in-degrees are kept,
  so the connection probability rises as 1/scale and the dynamics stay close to full scale.
- `k_scale` (`K_scaling`) scales the in-degrees (recurrent and K_ext); weights are then
  multiplied by 1/√k_scale and the lost mean input is restored as DC,
  ΔI_DC = 0.001·τ_syn·(1 − √k_scale)·Σ_s J_ts·K_ts,full·ν_s,full (+ the same for the
  Poisson background), with ν_full = `FULL_MEAN_RATES` = 0.943, 3.026, 4.368, 5.882, 7.733,
  8.664, 1.096, 7.851 spikes/s (`network_params.py`), so mean and variance of the input
  are approximately preserved (van Albada et al. 2015, PLoS Comput. Biol. 11:e1004490).
  Use it with background="poisson" (the NEST example's default: scale = k_scale = 0.1):
  with "dc" the compensation lowers the DC (the recurrent input it replaces is net
  inhibitory; L2/3E: 562 → 199 pA at k_scale = 0.1, below threshold), nothing is left to
  make the network fluctuate, and it falls silent: NEST 3.10 at scale = k_scale = 0.1 with
  DC fired only in L6I (3.4 Hz; all other populations 0 over 5 s; seed 1).
- With thalamic input, the number of thalamic neurons is round(902·scale) and their
  synapse numbers are scaled by scale·k_scale, keeping the thalamic in-degree (the NEST
  example keeps 902 neurons and the full-scale count, so its thalamic in-degree grows as
  1/scale below full scale; at scale = 1 the two agree).

Memory layout (what full scale needs): the 64 population pairs are stored as 8 projections,
one per source population onto all 77 169 neurons ("all"), each a padded out-degree table
(`Connectivity`: int32 target, float32 weight, uint8 delay in steps; 9 bytes per entry).
All synapses feed one current variable `i_syn`: excitatory and inhibitory synapses share
τ_syn = 0.5 ms in `iaf_psc_exp`, so signed weights into one exponential current are exact.
Why 8 and not 1 or 64: the table width is the largest out-degree of its rows. One table for
all sources would pad every row to the largest out-degree of any neuron (L4I, ≈ 6 480 + 4σ,
against a mean of ≈ 3 870: ≈ 75 % padding, 4.7 GB); 64 tables pad least but give 64
delivery calls and 64 delay rings per step. Per source population the out-degree is a sum
of 8 multinomials with one mean, so the padding is ≈ 4/√(mean out-degree) ≈ 7 %: about
3·10⁸ × 9 B × 1.07 ≈ 2.9 GB at full scale, 8 delivery calls per step, and one delay ring
shared by the 8 projections onto `i_syn` (`Network` shares a ring per synaptic variable):
(max delay ≈ 55 steps) × 77 169 floats ≈ 17 MB. `memory_estimate(scale)` states the bytes
before building: 9.56 bytes per synapse at full scale (2.86 GB of tables, 6.2 % padding),
≈ 3.5 GB at the build's peak plus the JAX runtime.

Building: each source population's table is one `fixed_total_number_blocks` call (the 8
target blocks of NEST's `fixed_total_number`, drawn on the host with NumPy seeded from the
key, on every core). Its draw is keyed by 64 fixed tiles of the 77 169 targets, not by
processes: `targets=(start, stop)` (one process's block; `process_blocks` chooses the blocks,
by default with the same number of synapses each) draws only the tiles that meet the block
and gives exactly that block's part of the one-process network, for any number of processes. Measured at full scale on 2 cores shared with other jobs
(load 10–18): 27 s wall, 15.6 s of process CPU time (the previous per-block JAX draw: 75 s
wall / 44 s CPU in one alternated pair), against NEST 3.10's `Connect` in 653 s wall /
127 s CPU (4 threads, load 15–18); peak RSS 4.4 GB for the whole run (NEST: 15.3 GB).
Each row's targets are sorted (`fixed_total_number_blocks(sort_targets=True)`: the same
law, another realisation than the unsorted draw), ≈ 3 s more CPU time at full scale: the
ring writes of a spike then ascend through each delay row, which halved the CPU time of the
timed second at full scale (25.9 → 13–14 s, alternated pairs at load 6–10), and the
compiled delivery can split a step's synapses over threads (`delivery_threads`).

    >>> import jax
    >>> from neurodyn.models import potjans_diesmann
    >>> built = potjans_diesmann(0.05, key=jax.random.key(1))
    >>> result = built.simulate(1000.0)          # DC background, ExactIntegration, dt = 0.1 ms
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from ..network import CurrentSynapse, DCCurrent, ExactIntegration, Network, PoissonDrive, PoissonGroup, Projection
from ..network.connectivity import (
    BLOCK_CHUNK,
    check_target_range,
    expected_max_out_degree,
    fixed_total_number_blocks,
)
from ..network.distributions import Normal
from ..network.partition import balanced_blocks, block_bounds
from ..neurons import IAF
from ._built import BuiltNetwork

__all__ = [
    "potjans_diesmann", "POPULATIONS", "N_FULL", "CONN_PROBS", "K_EXT", "PUBLISHED_RATES",
    "FULL_MEAN_RATES", "psc_over_psp", "full_synapse_numbers", "synapse_numbers", "weight_means",
    "dc_amplitudes", "memory_estimate", "in_degrees", "process_blocks",
]

POPULATIONS = ("L23E", "L23I", "L4E", "L4I", "L5E", "L5I", "L6E", "L6I")
N_FULL = (20683, 5834, 21915, 5479, 4850, 1065, 14395, 2948)  # PD14 Table 5
# Connection probabilities, rows = target, columns = source, order of POPULATIONS (PD14 Table 5).
CONN_PROBS = np.array([
    [0.1009, 0.1689, 0.0437, 0.0818, 0.0323, 0.0, 0.0076, 0.0],
    [0.1346, 0.1371, 0.0316, 0.0515, 0.0755, 0.0, 0.0042, 0.0],
    [0.0077, 0.0059, 0.0497, 0.1350, 0.0067, 0.0003, 0.0453, 0.0],
    [0.0691, 0.0029, 0.0794, 0.1597, 0.0033, 0.0, 0.1057, 0.0],
    [0.1004, 0.0622, 0.0505, 0.0057, 0.0831, 0.3726, 0.0204, 0.0],
    [0.0548, 0.0269, 0.0257, 0.0022, 0.0600, 0.3158, 0.0086, 0.0],
    [0.0156, 0.0066, 0.0211, 0.0166, 0.0572, 0.0197, 0.0396, 0.2252],
    [0.0364, 0.0010, 0.0034, 0.0005, 0.0277, 0.0080, 0.0658, 0.1443],
])
K_EXT = (1600, 1500, 2100, 1900, 2000, 1900, 2900, 2100)  # external in-degrees (PD14 Table 5)
V0_MEAN = (-68.28, -63.16, -63.33, -63.45, -63.11, -61.66, -66.72, -61.43)  # mV, "optimized"
V0_STD = (5.36, 4.57, 4.74, 4.94, 4.94, 4.55, 5.46, 4.48)  # mV
# Rates of the full model (spikes/s) the NEST example uses for the k_scale DC compensation.
FULL_MEAN_RATES = (0.943, 3.026, 4.368, 5.882, 7.733, 8.664, 1.096, 7.851)
# Rates at full scale reported in the NEST example (one run, spikes/s), for comparison.
PUBLISHED_RATES = (0.903, 2.965, 4.414, 5.876, 7.569, 8.633, 1.105, 7.829)

C_M, TAU_M, TAU_SYN, T_REF = 250.0, 10.0, 0.5, 2.0  # pF, ms, ms, ms
E_L, V_TH, V_RESET = -65.0, -50.0, -65.0  # mV
PSP_E, G, W_REL_SD = 0.15, -4.0, 0.1  # mV, relative inhibition, relative weight SD
DELAY_E, DELAY_I, DELAY_REL_SD, DELAY_POISSON = 1.5, 0.75, 0.5, 1.5  # ms
BG_RATE = 8.0  # Hz per external input
DT = 0.1  # ms
# Thalamus (stimulus_params.py): size, probabilities onto each population, pulse.
N_TH = 902
CONN_PROBS_TH = (0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196)
TH_START, TH_DURATION, TH_RATE = 700.0, 10.0, 120.0  # ms, ms, Hz
BACKGROUNDS = ("dc", "poisson")


def psc_over_psp(c_m: float = C_M, tau_m: float = TAU_M, tau_syn: float = TAU_SYN) -> float:
    """pA of PSC per mV of PSP peak for `iaf_psc_exp` (the NEST example's
    `postsynaptic_potential_to_current`): 1 / (τ_m τ_s/(C_m (τ_s − τ_m)) · (f^τ_m − f^τ_s)),
    f = (τ_m/τ_s)^(1/(τ_s − τ_m)). 585.4 pA/mV for the PD14 neuron (0.15 mV ↔ 87.81 pA)."""
    sub = 1.0 / (tau_syn - tau_m)
    pre = tau_m * tau_syn / c_m * sub
    frac = (tau_m / tau_syn) ** sub
    return 1.0 / (pre * (frac**tau_m - frac**tau_syn))


def full_synapse_numbers() -> np.ndarray:
    """(target, source) synapse numbers of the full model, unrounded:
    ln(1 − C) / ln(1 − 1/(N_pre·N_post)) (≈ 2.99·10⁸ in all)."""
    n = np.asarray(N_FULL, float)
    prod = np.outer(n, n)
    return np.log(1.0 - CONN_PROBS) / np.log((prod - 1.0) / prod)


def _check_scale(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number in (0, 1], got {value!r}")
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1] (1 = the full model), got {value!r}")
    return float(value)


def population_sizes(scale: float = 1.0) -> tuple[int, ...]:
    """round(N_full · scale) per population; every population needs at least one neuron."""
    scale = _check_scale("scale", scale)
    sizes = tuple(int(round(n * scale)) for n in N_FULL)
    empty = [p for p, n in zip(POPULATIONS, sizes) if n < 1]
    if empty:
        raise ValueError(
            f"scale={scale} leaves populations {empty} empty (round(N_full·scale) = 0); the smallest, "
            f"L5I (N = {min(N_FULL)}), needs scale >= {0.5 / min(N_FULL):.2e}"
        )
    return sizes


def synapse_numbers(scale: float = 1.0, k_scale: float = 1.0) -> np.ndarray:
    """(target, source) int64 numbers of synapses: round(N_syn,full · scale · k_scale)."""
    scale, k_scale = _check_scale("scale", scale), _check_scale("k_scale", k_scale)
    return np.round(full_synapse_numbers() * scale * k_scale).astype(np.int64)


def weight_means(k_scale: float = 1.0) -> tuple[np.ndarray, float]:
    """((target, source) mean PSCs in pA, external PSC in pA), divided by √k_scale."""
    k_scale = _check_scale("k_scale", k_scale)
    j = PSP_E * psc_over_psp()
    w = np.where(np.arange(8)[None, :] % 2 == 0, j, G * j) * np.ones((8, 1))
    w[0, 2] *= 2.0  # L4E -> L2/3E
    return w / math.sqrt(k_scale), j / math.sqrt(k_scale)


def dc_amplitudes(background: str = "dc", k_scale: float = 1.0) -> np.ndarray:
    """DC (pA) per population: the Poisson background's mean with "dc", 0 with "poisson",
    plus the in-degree-scaling compensation when k_scale < 1 (see the module docstring)."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    k_scale = _check_scale("k_scale", k_scale)
    w_full, j = weight_means(1.0)
    k_ext = np.asarray(K_EXT, float)
    dc = BG_RATE * k_ext * j * TAU_SYN * 0.001 if background == "dc" else np.zeros(8)
    if k_scale != 1:
        indegree = full_synapse_numbers() / np.asarray(N_FULL, float)[:, None]
        input_rec = np.sum(w_full * indegree * np.asarray(FULL_MEAN_RATES), axis=1)
        dc = dc + 0.001 * TAU_SYN * (1.0 - math.sqrt(k_scale)) * input_rec
        if background == "poisson":
            dc = dc + 0.001 * TAU_SYN * (1.0 - math.sqrt(k_scale)) * j * k_ext * BG_RATE
    return dc


def memory_estimate(scale: float = 1.0, k_scale: float = 1.0, thalamic: bool = False) -> dict:
    """Bytes the model's tables take and the build's peak, stated before building.

    Per source population s the table is n_s × K_s entries of 9 bytes (int32 target,
    float32 weight, uint8 delay: the largest delay, ≈ 6 ms = 60 steps at dt = 0.1 ms, is
    far below 256 steps), K_s the expected largest out-degree: a row's total over the 8
    target blocks is Binomial(Σ_t N_ts, 1/n_s), so `expected_max_out_degree` applies.
    The build adds, at most, the draw's temporaries (≈ 60 bytes per synapse of a unit of
    about `BLOCK_CHUNK` synapses, per core) and `Connectivity`'s check of the largest table
    (2 bytes per entry).

    Returns:
        dict: `n_synapses`, `table_entries`, `table_bytes`, `bytes_per_synapse`,
        `padding` (entries / synapses − 1), `build_peak_bytes` (tables + temporaries; the
        process adds the JAX runtime, ≈ 0.3 GB).
    """
    sizes = population_sizes(scale)
    n_syn = synapse_numbers(scale, k_scale)
    per_source = [(sizes[s], int(n_syn[:, s].sum())) for s in range(8)]
    if thalamic:
        n = np.asarray(N_FULL, float)
        full_th = np.log(1.0 - np.asarray(CONN_PROBS_TH)) / np.log((N_TH * n - 1.0) / (N_TH * n))
        per_source.append((max(1, int(round(N_TH * scale))), int(np.round(full_th * scale * k_scale).sum())))
    entries = [n_pre * expected_max_out_degree(n, n_pre) for n_pre, n in per_source]
    total = sum(n for _, n in per_source)
    table = 9 * sum(entries)
    temporaries = 60 * BLOCK_CHUNK * (os.cpu_count() or 1) + 2 * max(entries)
    return {"n_synapses": total, "table_entries": sum(entries), "table_bytes": table,
            "bytes_per_synapse": table / total, "padding": sum(entries) / total - 1.0,
            "build_peak_bytes": table + temporaries}


def in_degrees(scale: float = 1.0, k_scale: float = 1.0) -> np.ndarray:
    """(n,) expected in-degree of every neuron (recurrent synapses; float): for a neuron of
    population t, Σ_s N_syn[t, s] / N_t with `synapse_numbers(scale, k_scale)`, which is also
    each neuron's mean number of synapses stored (`fixed_total_number`: exact in total)."""
    sizes = np.asarray(population_sizes(scale))
    per_population = synapse_numbers(scale, k_scale).sum(axis=1) / sizes
    return np.repeat(per_population, sizes)


def process_blocks(scale: float, size: int, *, balance: str = "synapses", k_scale: float = 1.0,
                   ) -> tuple[tuple[int, int], ...]:
    """Every process's block of neurons, [(start, stop)] for ranks 0 … size − 1.

    balance="synapses" (default): about the same number of synapses per process
    (`balanced_blocks` of `in_degrees`: at full scale with 2 processes, 149.4 M each, within
    one neuron's in-degree; the in-degree ranges from ≈ 2 430 (L6I) to ≈ 5 890 (L4I), so
    equal neuron blocks hold 168.0 M and 130.9 M). "neurons": the same number of neurons
    (`block_bounds`). Pass the same blocks to `potjans_diesmann(targets=blocks[rank])` and
    `partition(..., blocks=blocks)`.
    """
    if balance not in ("synapses", "neurons"):
        raise ValueError(f"balance must be 'synapses' or 'neurons', got {balance!r}")
    n = sum(population_sizes(scale))
    if balance == "neurons":
        return tuple(block_bounds(n, size, r) for r in range(size))
    return balanced_blocks(in_degrees(scale, k_scale), size)


def _source_table(key, n_pre: int, blocks, n_total: int, weight_mean: np.ndarray, delay_mean: float, dt: float,
                  targets: tuple[int, int] | None = None):
    """One source population's synapses onto every neuron (or onto `targets` only), as one `Connectivity`.

    `blocks` is [(n_synapses, target offset, target size)] per target population; block t
    is NEST's `fixed_total_number` onto target population t (`fixed_total_number_blocks`:
    multinomial out-degrees, uniform targets, block t's entries after block t−1's in each
    row). Weight ~ N(J_t, 0.1·|J_t|) redrawn to keep the sign of J_t; delay ~ N(d, d/2)
    redrawn below dt/2, rounded to steps.
    """
    weights = [Normal(float(m), W_REL_SD * abs(float(m)), **({"low": 0.0} if m > 0 else {"high": 0.0}))
               if m != 0 else 0.0 for m in weight_mean]
    delay = Normal(delay_mean, DELAY_REL_SD * delay_mean, low=0.5 * dt)
    return fixed_total_number_blocks(key, n_pre, blocks, n_total, weights, delay=delay, dt=dt, targets=targets,
                                     sort_targets=True)


def potjans_diesmann(
    scale: float = 1.0,
    *,
    key: PRNGKeyArray,
    background: str = "dc",
    k_scale: float = 1.0,
    thalamic: bool = False,
    dt: float = DT,
    delivery: str | None = None,
    delivery_threads: int | None = None,
    targets: tuple[int, int] | None = None,
) -> BuiltNetwork:
    """The PD14 microcircuit (see the module docstring for every parameter and its source).

    Arguments:
        scale: fraction of the population sizes, in (0, 1] (NEST's `N_scaling`); in-degrees
            are kept, so synapse numbers scale with it too.
        key: PRNG key; `fold_in(key, 0)` draws the connectivity (`fold_in(·, s)` for
            source population s, `fixed_total_number_blocks`), `fold_in(key, 1)` the
            initial potentials (one draw for all neurons), `fold_in(key, 2)` the thalamic
            connectivity. Poisson background and thalamic
            spikes are drawn in the run from the `key` given to `.simulate(key=...)`.
        background: "dc" (constant current, NEST's benchmarking setting) or "poisson"
            (K_ext Poisson inputs at 8 Hz per neuron).
        k_scale: in-degree scaling in (0, 1] (NEST's `K_scaling`) with weights × 1/√k_scale
            and compensating DC; 1 keeps the published in-degrees.
        thalamic: add the thalamic pulse (902·scale Poisson sources at 120 Hz during
            700–710 ms onto L4 and L6).
        dt: step (ms) the delays are rounded to and the run uses; published 0.1 ms.
        delivery: spike delivery ("ffi", "jax" or None for the default; `Network`).
        delivery_threads: the most threads the compiled delivery may split a step's
            synapses over (None: `$NEURODYN_DELIVERY_THREADS`, else 1; `Network`). The tables'
            rows are sorted by target, which this needs; the spikes do not depend on it.
        targets: (start, stop): draw only the synapses onto neurons start … stop − 1 (one
            process's block: `process_blocks(scale, size)[rank]`, then `partition(...,
            blocks=...)` with the same blocks); only the target tiles that meet the block
            are drawn (`fixed_total_number_blocks(targets=)`), and the tables are bit for
            bit the whole network's restricted to the block, so the blocks together are
            the one-process network, whatever their number.

    Returns:
        A `BuiltNetwork`: populations `POPULATIONS` in that order, one `CurrentSynapse`
        "i_syn" (τ = 0.5 ms, pA), 8 projections (one per source population onto "all"),
        V(0) per population, `ExactIntegration()` and `dt`.
    """
    sizes = population_sizes(scale)
    k_scale = _check_scale("k_scale", k_scale)
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {BACKGROUNDS}, got {background!r}")
    if not isinstance(thalamic, bool):
        raise ValueError(f"thalamic must be True or False, got {thalamic!r}")
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a finite number of ms > 0, got {dt!r}")
    if abs(DELAY_POISSON / dt - round(DELAY_POISSON / dt)) > 1e-6:
        raise ValueError(f"dt must divide the 1.5 ms background delay into whole steps, got dt={dt}")
    dt = float(dt)
    n_syn = synapse_numbers(scale, k_scale)
    w_mean, w_ext = weight_means(k_scale)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    n_total = int(offsets[-1])
    check_target_range(targets, n_total, f"{n_total} (the neurons at scale {scale})")  # before any draw
    k_conn = jax.random.fold_in(key, 0)
    projections = []
    for s, source in enumerate(POPULATIONS):
        blocks = [(int(n_syn[t, s]), int(offsets[t]), sizes[t]) for t in range(8)]
        conn = _source_table(jax.random.fold_in(k_conn, s), sizes[s], blocks, n_total, w_mean[:, s],
                             DELAY_E if s % 2 == 0 else DELAY_I, dt, targets)
        projections.append(Projection(source, "all", conn, "i_syn"))
    sources = []
    if thalamic:
        n_th = max(1, int(round(N_TH * scale)))
        n = np.asarray(N_FULL, float)
        full_th = np.log(1.0 - np.asarray(CONN_PROBS_TH)) / np.log((N_TH * n - 1.0) / (N_TH * n))
        blocks = [(int(round(full_th[t] * scale * k_scale)), int(offsets[t]), sizes[t]) for t in range(8)]
        j_th = PSP_E * psc_over_psp() / math.sqrt(k_scale)
        conn = _source_table(jax.random.fold_in(key, 2), n_th, blocks, n_total, np.full(8, j_th), DELAY_E, dt, targets)
        sources.append(PoissonGroup("TH", n_th, TH_RATE, start=TH_START, stop=TH_START + TH_DURATION))
        projections.append(Projection("TH", "all", conn, "i_syn"))
    dc = dc_amplitudes(background, k_scale)
    drives = []
    for p, pop in enumerate(POPULATIONS):
        if dc[p] != 0:
            drives.append(DCCurrent(pop, float(dc[p])))
        if background == "poisson":
            k_ext = int(round(K_EXT[p] * k_scale))
            drives.append(PoissonDrive(pop, "i_syn", k_ext, BG_RATE, w_ext, delay=DELAY_POISSON))
    neuron = IAF(c_m=C_M, tau_m=TAU_M, e_l=E_L, threshold=V_TH, v_reset=V_RESET, refractory_period=T_REF)
    net = Network(neuron, [CurrentSynapse("i_syn", tau=TAU_SYN)], dict(zip(POPULATIONS, sizes)),
                  projections, sources=sources, drives=drives, delivery=delivery, delivery_threads=delivery_threads)
    # one draw for all neurons (one compilation), shifted and scaled per population
    mean, sd = (jnp.asarray(np.repeat(np.asarray(x, np.float32), sizes)) for x in (V0_MEAN, V0_STD))
    v0 = mean + sd * jax.random.normal(jax.random.fold_in(key, 1), (n_total,))
    return BuiltNetwork(net, {"v": v0, "i_syn": jnp.zeros(n_total)}, 0.0, dt, ExactIntegration())
