"""`simulate`: the one simulation path, validation and dispatch.

`simulate(model, t1, dt, ...)` integrates any `AbstractNeuron` population as one vector ODE.

Clock-driven mode (default, `neurodyn._clock`): fixed steps of `dt` with any Diffrax solver
(`solver.step` inside a `lax.fori_loop` over steps, in blocks); spikes, resets and
refractory clamps are applied at step boundaries. Exact mode (`mode="exact"`, spiking
models, `neurodyn._events`): spike times are located by Diffrax event root-finding on the
solver's dense output. Long runs go in chunks (`neurodyn._chunked`).

What a run records is a list of monitors (`neurodyn.monitors`: `SpikeMonitor`,
`StateMonitor`, `RateMonitor`, `WeightMonitor`); the keyword arguments `record`,
`record_neurons`, `record_every`, `rate_every` and `max_spikes` build them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_int, check_key, check_number, concrete
from ._chunked import run_chunked
from ._clock import ClockConfig, run_clock
from ._events import run_exact
from ._noise import describe_noise, has_noise_term, is_stochastic
from ._state import NumericalBlowUpError, SimState, SimulationResult
from .inputs import AbstractInput, as_input
from .monitors import AbstractMonitor, RateMonitor, SpikeMonitor, StateMonitor, check_monitors, run_info
from .neurons.base import AbstractNeuron, AbstractSpikingNeuron, InitialState
from .surrogate import check_surrogate

# --------------------------------------------------------------------------- validation


def _validate_time(t0: float, t1: float, dt: float) -> int:
    for name, value in (("t0", t0), ("t1", t1), ("dt", dt)):
        check_number(name, value, unit="ms")
    if dt <= 0:
        raise ValueError(f"dt must be > 0 ms, got dt={dt}")
    if t1 <= t0:
        raise ValueError(f"t1 must be > t0, got t0={t0}, t1={t1}")
    steps = (t1 - t0) / dt
    n_steps = round(steps)
    if abs(steps - n_steps) > 1e-6 * max(1.0, steps):
        raise ValueError(
            f"t1 - t0 = {t1 - t0} ms is not a whole number of steps of dt = {dt} ms "
            f"({steps:.6g} steps); choose t1 or dt so that it is"
        )
    return n_steps


def _population_size(model, inp: AbstractInput, initial_state, n_neurons) -> int:
    """Infer the population size and check every neuron-axis shape against it."""
    sources: list[tuple[str, tuple[int, ...]]] = []
    if n_neurons is not None:
        check_int("n_neurons", n_neurons, lower=1)
        sources.append(("n_neurons", (int(n_neurons),)))
    cls = type(model).__name__
    sources += [(f"{cls}.{k}", s) for k, s in model.parameter_shapes().items()]
    sources.append(("input", tuple(inp.shape)))
    if initial_state is not None:
        y = initial_state.y if isinstance(initial_state, SimState) else initial_state
        sources += [(f"initial_state[{k!r}]", jnp.shape(v)) for k, v in y.items()]
    n = None
    origin = None
    for name, shape in sources:
        if len(shape) > 1:
            raise ValueError(f"{name} must be a scalar or 1-D (one value per neuron), got shape {shape}")
        if len(shape) == 1:
            if n is None:
                n, origin = shape[0], name
            elif shape[0] != n:
                raise ValueError(
                    f"{name} has {shape[0]} values but the population has {n} neurons "
                    f"(from {origin}); give one value per neuron or a scalar"
                )
    return 1 if n is None else n


def _resolve_dtype(dtype):
    dtype = jnp.dtype(dtype if dtype is not None else jnp.float32)
    if dtype not in (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.float64 and not jax.config.read("jax_enable_x64"):
        raise ValueError(
            "dtype=float64 needs 64-bit JAX: call jax.config.update('jax_enable_x64', True) "
            "at start-up (before creating arrays)"
        )
    return dtype


def _cast(tree, dtype):
    def cast(x):
        if eqx.is_inexact_array(x):
            return x.astype(dtype)
        return x

    return jax.tree.map(cast, tree)


def _restructure(buffers, model, n, dt, dtype):
    """A state read back from disk has its buffers as a flat tuple of leaves: give them the
    pytree structure of the model's `delivery_state` (e.g. plastic weights and traces)."""
    is_none = lambda x: x is None  # noqa: E731
    expected = jax.tree.structure(jax.eval_shape(lambda: model.delivery_state(n, dt, dtype)), is_leaf=is_none)
    leaves, treedef = jax.tree.flatten(buffers, is_leaf=is_none)
    if treedef != expected and len(leaves) == expected.num_leaves:
        return jax.tree.unflatten(expected, leaves)
    return buffers


def _initial_sim_state(model, initial_state, n, t0, dt, dtype) -> SimState:
    if isinstance(initial_state, SimState):
        y = initial_state.y
        refr = initial_state.refractory_until
        t = initial_state.t
        step, buffers = initial_state.step, initial_state.buffers
        if isinstance(model, AbstractSpikingNeuron):
            buffers = _restructure(buffers, model, n, dt, dtype)
    else:
        y = model.initial_state(n) if initial_state is None else dict(initial_state)
        refr = jnp.full((n,), -jnp.inf)
        t = t0
        step = 0
        buffers = model.delivery_state(n, dt, dtype) if isinstance(model, AbstractSpikingNeuron) else ()
    missing = set(model.state_names) - set(y)
    extra = set(y) - set(model.state_names)
    if missing or extra:
        raise ValueError(
            f"initial_state must have exactly the variables {model.state_names}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    y = {k: jnp.broadcast_to(jnp.asarray(y[k], dtype=dtype), (n,)) for k in model.state_names}
    for k, v in y.items():
        arr = concrete(v)  # NumPy, so that the check also works while a jit is tracing
        if arr is not None and not np.all(np.isfinite(arr)):
            raise ValueError(f"initial_state[{k!r}] contains NaN or inf")
    return SimState(
        t=jnp.asarray(t, dtype=dtype),
        y=y,
        refractory_until=jnp.broadcast_to(jnp.asarray(refr, dtype=dtype), (n,)),
        step=jnp.asarray(step, jnp.int32),
        buffers=_cast(buffers, dtype),
    )


def _default_spike_block(model, dt: float, requested: int | None) -> int:
    """Steps per spike-compaction block: short enough that a neuron spikes at most once."""
    if requested is not None:
        return check_int("spike_block", requested, lower=1, meaning="steps per spike block")
    if not isinstance(model, AbstractSpikingNeuron):
        return 64
    refr = model.refractory_period
    min_isi = 1.0  # ms: no neuron model here fires faster than 1 kHz
    if isinstance(refr, (int, float)) and refr > min_isi:
        min_isi = float(refr)
    return int(max(1, min(64, math.floor(min_isi / dt + 1e-9))))


# --------------------------------------------------------------------------- public entry


def simulate(
    model: AbstractNeuron,
    t1: float,
    dt: float,
    *,
    t0: float = 0.0,
    input=0.0,
    solver: diffrax.AbstractSolver | None = None,
    mode: str = "clock",
    record: Sequence[str] = ("v",),
    record_neurons=None,
    record_every: int = 1,
    rate_every: int | None = None,
    n_neurons: int | None = None,
    initial_state: InitialState | SimState | None = None,
    max_spikes: int | None = None,
    spike_block: int | None = None,
    dtype=None,
    key: jax.Array | None = None,
    unroll: int = 2,
    check: bool = True,
    progress: bool | int = False,
    stream_to=None,
    surrogate: str | None = None,
    surrogate_slope: float = 1.0,
    monitors: Sequence[AbstractMonitor] | None = None,
    throw: bool = True,
) -> SimulationResult:
    """Simulate a neuron population from t0 to t1 (ms) with step dt (ms).

    Arguments:
        model: any `AbstractNeuron`; parameters may be scalars or one value per neuron.
        t1, dt, t0: time span and step in ms; (t1 - t0)/dt must be a whole number.
        input: input current: a number, one value per neuron, a function of t (ms), or an
            `neurodyn.inputs` module (Step, Ramp, TimeSeries, ...).
        solver: any Diffrax solver (default Euler in clock mode, Tsit5 in exact mode).
        mode: "clock" (threshold/reset at step boundaries) or "exact" (event-located spike
            times; spiking models only).
        record: state variables to record; () records none (with record_neurons and
            record_every: a `StateMonitor`).
        record_neurons: indices (or a slice) of the neurons to record; default all.
        record_every: record every k-th step (the state at t0 + j·k·dt).
        rate_every: population rate monitor: count the spikes of each population (a
            network's, else the whole) in bins of k steps (`result.population_rate()`).
            Its memory, like the spike buffer's, is fixed before the run starts:
            4·bins·groups bytes; every spike is counted even if the buffer is full.
        n_neurons: population size, if not implied by the parameters or the input.
        initial_state: a state dict, or the `final_state` of an earlier result to continue
            it (then t0 is taken from it); default the model's resting state.
        max_spikes: capacity of the spike buffer (a `SpikeMonitor`), an integer >= 1;
            overflow is counted and warned about. Default: 500 Hz per neuron, plus 64.
        spike_block: steps per spike-compaction block (clock mode; see `neurodyn._clock`):
            default the refractory period or 1 ms in steps, at most 64.
        dtype: float32 (default) or float64 (needs jax_enable_x64).
        key: PRNG key of the run's randomness (noisy inputs, Poisson sources). Each step
            draws from `fold_in(key, step)`, so chunked, continued and uninterrupted runs
            draw the same numbers.
        unroll: `lax.fori_loop` unroll of the step loop (2 avoids a per-step carry copy on CPU).
        check: warn about dropped spikes; `check=False` also implies `throw=False`.
        progress: show a progress bar (tqdm): the run is split into chunks (about 20, or
            the number given; each a whole number of spike blocks, records and rate bins)
            that continue from each other's final state; results are bit-identical to one
            call. Ignored under jit/vmap (clock mode only).
        stream_to: a directory: run in chunks and write each chunk's spikes, traces and
            rate counts there as it finishes, with the state to resume from
            (`neurodyn.monitors.load_stream`, `load_state`). Host memory then stays
            independent of the simulated time: the returned result keeps counts, rates
            and the final state, not the spikes and traces (those are on disk).
        surrogate: make the spikes of a reset model (or a network of them) differentiable:
            "fast_sigmoid", "sigmoid" or "arctan" (`neurodyn.surrogate.spike`, slope
            `surrogate_slope` per unit of V − V_th). Each step's spikes become
            s = H(V − V_th) with that surrogate derivative; the reset is applied with s
            detached (no gradient through the reset, as Zenke & Vogels 2021 advise) and a
            network delivers s·w, so the forward pass is the same run (same spikes) and
            `result.surrogate_counts` = Σ_t s (float) carries the gradient. Clock mode,
            unchunked runs only.
        monitors: what to record, as monitor objects (`SpikeMonitor`, `StateMonitor`,
            `RateMonitor`, `WeightMonitor`; at most one of each of the first three). When
            given, they replace `record`, `record_neurons`, `record_every`, `rate_every` and
            `max_spikes` (which must then keep their defaults).
        throw: if the state becomes NaN or infinite, raise. Called outside jit/vmap: a
            `NumericalBlowUpError` naming the step, time and first neuron. Under
            jit/vmap/grad (e.g. inside `fit`): an `eqx.error_if` runtime error. With
            `throw=False` nothing raises and the result carries the status:
            `result.blew_up()`, `blowup_step`, `blowup_time`, `blowup_neuron`.

    Returns:
        A `SimulationResult`.
    """
    if not isinstance(model, AbstractNeuron):
        raise TypeError(f"model must be an AbstractNeuron, got {type(model).__name__}")
    if mode not in ("clock", "exact"):
        raise ValueError(f"mode must be 'clock' or 'exact', got {mode!r}")
    if mode == "exact" and not isinstance(model, AbstractSpikingNeuron):
        raise ValueError(f"mode='exact' needs a spiking model; {type(model).__name__} does not spike")
    if isinstance(initial_state, SimState) and not isinstance(initial_state.t, jax.core.Tracer):
        t0 = float(initial_state.t)
        if t1 <= t0:
            raise ValueError(f"t1 must be > the initial state's time {t0}, got t1={t1}")
    n_steps = _validate_time(t0, t1, dt)
    check_int("record_every", record_every, lower=1, meaning="steps per record")
    check_int("rate_every", rate_every, lower=1, allow_none=True, meaning="steps per bin")
    check_int("max_spikes", max_spikes, lower=1, allow_none=True)
    check_int("unroll", unroll, lower=1)
    if not isinstance(progress, bool):
        check_int("progress", progress, lower=1, meaning="number of chunks, or True/False")
    check_key("key", key)
    for name, flag in (("throw", throw), ("check", check)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    dtype = _resolve_dtype(dtype)
    inp = as_input(input)
    stochastic = is_stochastic(model, inp)
    if stochastic and key is None:
        raise ValueError(
            f"this run draws random numbers ({describe_noise(model, inp)}): pass key=jax.random.key(seed)"
        )
    if stochastic and mode == "exact":
        raise ValueError("noisy inputs and Poisson sources need mode='clock' (fixed steps)")
    if isinstance(model, AbstractSpikingNeuron) and model.delivers and mode == "exact":
        raise ValueError(f"{type(model).__name__} delivers spikes between steps: use mode='clock'")
    solver = _check_solver(solver, inp, model, mode)
    if surrogate is not None:
        check_surrogate(surrogate, surrogate_slope, "surrogate_slope")
        if mode != "clock" or not (isinstance(model, AbstractSpikingNeuron) and model.resets):
            raise ValueError(
                f"surrogate= needs mode='clock' and a reset (integrate-and-fire) model or network, "
                f"got {type(model).__name__} in mode={mode!r}"
            )
        if progress or stream_to is not None:
            raise ValueError("surrogate= runs in one piece: drop progress= and stream_to=")
    n = _population_size(model, inp, initial_state, n_neurons)
    run = run_info(model, n, n_steps, dt, t1 - t0, mode)
    if monitors is None:
        monitors = [SpikeMonitor(max_spikes), StateMonitor(record, record_neurons, record_every)]
        if rate_every is not None:
            monitors.append(RateMonitor(rate_every))
    else:
        shorthand = dict(record=(record, ("v",)), record_neurons=(record_neurons, None),
                         record_every=(record_every, 1), rate_every=(rate_every, None),
                         max_spikes=(max_spikes, None))
        given = [k for k, (v, default) in shorthand.items() if v is not default and v != default]
        given = [k for k in given if not (k == "record" and record in ((), []))]  # nothing asked
        if given:
            raise ValueError(
                f"pass either monitors= or the shorthand {given}, not both: add the matching "
                f"monitor (StateMonitor, RateMonitor, SpikeMonitor) to monitors="
            )
    monitors = check_monitors(monitors, run)
    if max_spikes is None:
        spike_monitors = [m for m in monitors if isinstance(m, SpikeMonitor)]
        max_spikes = spike_monitors[0].max_spikes if spike_monitors else SpikeMonitor().prepare(run).max_spikes

    model, inp = _cast(model, dtype), _cast(inp, dtype)
    state = _initial_sim_state(model, initial_state, n, t0, dt, dtype)

    if mode == "exact":
        result = run_exact(model, inp, state, monitors, run, solver=solver, t1=float(t1), dt=float(dt),
                           max_spikes=int(max_spikes))
    else:
        config = ClockConfig(
            dt=float(dt), block=_default_spike_block(model, dt, spike_block), unroll=int(unroll),
            surrogate=None if surrogate is None else (surrogate, float(surrogate_slope)),
        )
        # every step's time is t_origin + step·dt, however the run is split into calls
        t_origin = state.t - state.step.astype(dtype) * dtype.type(dt)
        chunked = (progress or stream_to is not None) and not isinstance(state.t, jax.core.Tracer)
        if chunked:
            result = run_chunked(
                model, inp, state, monitors, solver, key, t_origin, config, run,
                chunks=20 if isinstance(progress, bool) else int(progress),
                show_progress=bool(progress), stream_to=stream_to,
            )
        else:
            result = run_clock(model, inp, state, monitors, solver, key, t_origin, config, run)
    if throw and check:
        result = _throw_on_blowup(result)
    if check:
        check_result(result)
    return result


def _throw_on_blowup(result: SimulationResult) -> SimulationResult:
    """Raise if the run blew up: on the host with details, or (traced) via eqx.error_if."""
    if isinstance(result.blowup_time, jax.core.Tracer):
        arrays, rest = eqx.partition(result, eqx.is_array)
        arrays = eqx.error_if(
            arrays, result.blew_up(),
            "neurodyn.simulate: the state became NaN or infinite (simulate with throw=False "
            "and read result.blowup_step / blowup_time / blowup_neuron to locate it)",
        )
        return eqx.combine(arrays, rest)
    if jnp.ndim(result.blowup_time) == 0 and bool(result.blew_up()):
        raise NumericalBlowUpError(
            f"the simulation blew up: neuron {int(result.blowup_neuron)} had a NaN or infinite "
            f"state at t = {float(result.blowup_time):.6g} ms (state {int(result.blowup_step)} of "
            f"the run: the first non-finite one; the lowest-numbered neuron then); reduce dt, use "
            f"a more stable solver, or check the parameters and input"
        )
    return result


def check_result(result: SimulationResult) -> None:
    """Warn about dropped spikes (host side; no-op under tracing)."""
    if isinstance(result.spikes_dropped, jax.core.Tracer) or jnp.ndim(result.spikes_dropped) > 0:
        return
    if int(result.spikes_dropped) > 0:
        warnings.warn(
            f"{int(result.spikes_dropped)} of {int(result.n_spikes)} spikes were not stored "
            f"(spike buffer of {result.spike_times.shape[-1]} full, or several spikes of one "
            f"neuron within one spike block); spike_counts is still exact. Raise max_spikes "
            f"or lower spike_block.",
            RuntimeWarning,
            stacklevel=3,
        )


def _check_solver(solver, inp, model, mode):
    if solver is None:
        return diffrax.Euler() if mode == "clock" else diffrax.Tsit5()
    if not isinstance(solver, diffrax.AbstractSolver):
        raise TypeError(f"solver must be a Diffrax solver, got {type(solver).__name__}")
    if has_noise_term(model, inp) and not isinstance(solver, diffrax.Euler):
        raise ValueError(
            f"noise is integrated as an Ito SDE with Euler-Maruyama: use solver=diffrax.Euler(), "
            f"got {type(solver).__name__}"
        )
    return solver
