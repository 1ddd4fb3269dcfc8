"""Exact spike times: Diffrax event location on the solver's dense output.

The population is integrated as one vector ODE in segments. A segment runs from the current
time to the next refractory end (or t1) and stops early at the first threshold event of any
neuron, whose time is found by root-finding (optimistix bisection) on the dense interpolant:

    g_i(y) = v_i − θ_i − ε        for an armed neuron (next upward crossing is a spike)
    g_i(y) = −(v_i − θ_i + h)     for a disarmed one (it re-arms when v_i < θ_i − h)
    g_i(y) = −∞                   while refractory (its clamped variables do not move)

and the event function is max_i g_i, crossing zero upwards. The overshoot ε is a few ulps
of θ (1e-5 mV in float32): a neuron driven exactly at rheobase creeps up to v = θ in
floating point and would otherwise hold max_i g_i at zero, hiding other neurons' crossings;
it shifts spike times by ε/(dv/dt), far below the solver's error. Integrate-and-fire models reset
at the spike and stay armed; crossing detectors (Hodgkin–Huxley) disarm until the potential
falls `hysteresis` below threshold, so each action potential is counted once. Refractory
ends are segment boundaries, so the clamp never switches inside a solver step.

A second, boolean event stops a segment at the end of the first solver step whose state is
not finite, so a blow-up is reported at that step (its time and the lowest-numbered
non-finite neuron), not at the end of the segment.

The loop over segments is `equinox.internal.while_loop(kind="checkpointed")`: reverse-mode
differentiable, with memory bounded by `max_spikes`. Monitors see each event's spikes
(`AbstractMonitor.spikes`) and the state at their sample times (`sample_times`).
"""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import optimistix as optx

from ._clock import all_finite
from ._state import SimState, SimulationResult
from .monitors import AbstractMonitor, RunInfo, collect_results

_NEVER = -1e30  # event function value of a refractory neuron


class _ExactConfig(eqx.Module):
    t1: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    n_steps: int = eqx.field(static=True)
    max_segments: int = eqx.field(static=True)
    hysteresis: float = eqx.field(static=True)
    rtol: float = eqx.field(static=True)
    atol: float = eqx.field(static=True)


def run_exact(model, inp, state: SimState, monitors: tuple[AbstractMonitor, ...], run: RunInfo, *,
              solver, t1, dt, max_spikes, hysteresis: float = 1.0) -> SimulationResult:
    """Exact-mode simulation; see `neurodyn.simulate` for the arguments.

    `max_spikes` bounds the number of event segments (3·max_spikes + 16).
    """
    # Bisection, not Newton: max_i g_i is flat wherever a neuron that is not crossing holds
    # the maximum, so Newton's derivative can vanish; bisection needs only the sign change.
    rtol, atol = (1e-10, 1e-10) if state.t.dtype == jnp.float64 else (1e-6, 1e-5)
    cfg = _ExactConfig(
        t1=t1, dt=dt, n_steps=run.n_steps, max_segments=3 * max_spikes + 16,
        hysteresis=hysteresis, rtol=rtol, atol=atol,
    )
    return _run_exact(model, inp, state, monitors, run, solver, cfg)


def _event_values(model, y, armed, refractory, hysteresis, overshoot):
    d = model.threshold_distance(y)
    return jnp.where(refractory, _NEVER, jnp.where(armed, d - overshoot, -(d + hysteresis)))


def _vector_field(tau, y, args):
    model, inp, refractory, _, t_offset = args
    t = t_offset + tau
    dy = model.vector_field(t, y, inp(t))
    return {k: jnp.where(refractory, 0.0, v) if k in model.clamped else v for k, v in dy.items()}


@eqx.filter_jit
def _run_exact(model, inp, state: SimState, monitors, run: RunInfo, solver, cfg: _ExactConfig) -> SimulationResult:
    n = state.refractory_until.shape[0]
    dtype = state.t.dtype
    t_start = state.t
    t_final = jnp.asarray(cfg.t1, dtype)
    grids = [m.sample_times(run, t_start) for m in monitors]
    term = diffrax.ODETerm(_vector_field)
    hyst = cfg.hysteresis
    overshoot = 10 * jnp.finfo(dtype).eps * (1.0 + jnp.abs(jnp.asarray(model.threshold, dtype)))

    def cond_fn(t, y, args, **kwargs):
        model_, _, refractory, armed, _ = args
        return jnp.max(_event_values(model_, y, armed, refractory, hyst, overshoot))

    event = diffrax.Event(
        cond_fn,
        # under vmap every member runs the root find, also those whose step has no sign
        # change; expanding (instead of raising) keeps them harmless, their result is unused
        root_finder=optx.Bisection(rtol=cfg.rtol, atol=cfg.atol, expand_if_necessary=True),
        direction=True,
    )
    max_steps = cfg.n_steps + 8

    def store(c, t, fired):
        """Give the monitors the neurons in `fired` with spike time t; count them."""
        counts = fired.astype(jnp.int32)
        times = jnp.broadcast_to(t, (n,))
        return dict(
            c,
            monitors=tuple(m.spikes(mc, run, times, counts) for m, mc in zip(monitors, c["monitors"])),
            n_spikes=c["n_spikes"] + jnp.sum(counts, dtype=jnp.int32),
            counts=c["counts"] + counts,
        )

    def fire(c, t, fired):
        """Spikes at time t: store, reset, start refractory periods, disarm detectors."""
        c = store(c, t, fired)
        y = model.reset(c["y"], fired) if model.resets else c["y"]
        return dict(
            c,
            y=y,
            refr=jnp.where(fired, t + model.refractory_period, c["refr"]),
            armed=c["armed"] if model.resets else c["armed"] & ~fired,
        )

    def segment(c):
        t = c["t"]
        refractory = c["refr"] > t
        if model.resets:  # neurons at or above threshold when the segment starts fire now
            now = ~refractory & (model.threshold_distance(c["y"]) - overshoot >= 0)
            c = fire(c, t, now)
            refractory = c["refr"] > t
        else:  # a detector whose neuron fell back below threshold while refractory (where
            # its re-arming crossing is not watched) is re-armed once the period is over
            below = model.threshold_distance(c["y"]) + hyst < 0
            c = dict(c, armed=c["armed"] | (~refractory & below))
        t_b = jnp.minimum(t_final, jnp.min(jnp.where(refractory, c["refr"], jnp.inf)))
        # Each segment runs in local time tau = t' - t, so that float32 keeps full
        # precision for the root find however late the segment starts.
        args = (model, inp, refractory, c["armed"], t)
        c["segment_start"] = (t, c["y"], refractory, c["armed"], t_b)  # to locate a blow-up
        subs = [diffrax.SubSaveAt(t1=True)]
        subs += [diffrax.SubSaveAt(ts=jnp.clip(g - t, 0.0, t_b - t)) for g in grids if g is not None]
        sol = diffrax.diffeqsolve(
            term, solver, 0.0, t_b - t, cfg.dt, c["y"], args,
            saveat=diffrax.SaveAt(subs=subs),
            stepsize_controller=diffrax.ConstantStepSize(),
            event=event, max_steps=max_steps, throw=False,
        )
        t_stop = t + sol.ts[0][-1]
        y = jax.tree.map(lambda a: a[-1], sol.ys[0])
        c = dict(c, t=t_stop, y=y)
        carried, j = list(c["monitors"]), 1
        for i, (m, g) in enumerate(zip(monitors, grids)):
            if g is not None:
                carried[i] = m.record_samples(carried[i], run, (g >= t) & (g <= t_stop), sol.ys[j])
                j += 1
        c["monitors"] = tuple(carried)
        threshold_event = jnp.asarray(sol.event_mask)
        triggered = threshold_event & (t_stop < t_b)
        values = _event_values(model, y, c["armed"], refractory, hyst, overshoot)
        winner = (jnp.arange(n) == jnp.argmax(values)) & triggered
        spike = winner & c["armed"]
        c = fire(c, t_stop, spike)
        c["armed"] = c["armed"] | (winner & ~spike)
        c["segments"] = c["segments"] + 1
        # An event whose root find stopped at float precision is still a located event.
        solved = (
            (sol.result == diffrax.RESULTS.successful)
            | (sol.result == diffrax.RESULTS.event_occurred)
            | threshold_event
        )
        ok = all_finite(y) & solved
        first = jnp.isnan(c["blowup_t"]) & ~jnp.all(ok)
        c["blowup_t"] = jnp.where(first, t_stop, c["blowup_t"])
        c["blowup_i"] = jnp.where(first, jnp.argmin(ok).astype(jnp.int32), c["blowup_i"])
        # a failed solve would not advance; stop rather than spin
        c["t"] = jnp.where(jnp.all(ok), c["t"], t_final)
        return c

    def not_done(c):
        return c["t"] < t_final

    def body(c):
        new = segment(c)
        done = ~not_done(c)  # under vmap, finished members still run the body
        return jax.tree.map(lambda old, upd: jnp.where(done, old, upd), c, new)

    d0 = model.threshold_distance(state.y)
    carry = dict(
        t=t_start,
        y=state.y,
        refr=state.refractory_until,
        armed=jnp.ones((n,), bool) if model.resets else d0 < 0,
        monitors=tuple(m.init(run, dtype) for m in monitors),
        n_spikes=jnp.zeros((), jnp.int32),
        counts=jnp.zeros((n,), jnp.int32),
        segments=jnp.zeros((), jnp.int32),
        blowup_t=jnp.asarray(jnp.nan, dtype),
        blowup_i=jnp.asarray(-1, jnp.int32),
        segment_start=(t_start, state.y, jnp.zeros((n,), bool), jnp.zeros((n,), bool), t_start),
    )
    carry = eqxi.while_loop(
        not_done, body, carry, max_steps=cfg.max_segments, kind="checkpointed",
        checkpoints=max(1, int(math.sqrt(cfg.max_segments))),
    )
    # Running out of segments before t1 would silently truncate the run: refuse instead.
    carry = dict(carry, t=eqx.error_if(
        carry["t"], carry["t"] < t_final,
        "exact mode ran out of event segments before t1: raise max_spikes",
    ))
    blown = ~jnp.isnan(carry["blowup_t"])

    def locate(seg):
        """Re-solve the segment that blew up, stopping after the first non-finite step."""
        t, y, refractory, armed, t_b = seg
        sol = diffrax.diffeqsolve(
            term, solver, 0.0, t_b - t, cfg.dt, y, (model, inp, refractory, armed, t),
            saveat=diffrax.SaveAt(t1=True), stepsize_controller=diffrax.ConstantStepSize(),
            event=diffrax.Event(lambda t, y, args, **kw: ~jnp.all(all_finite(y))),
            max_steps=max_steps, throw=False,
        )
        ok = all_finite(jax.tree.map(lambda a: a[-1], sol.ys))
        found = ~jnp.all(ok)
        return (jnp.where(found, t + sol.ts[-1], carry["blowup_t"]),
                jnp.where(found, jnp.argmin(ok).astype(jnp.int32), carry["blowup_i"]))

    blowup_t, blowup_i = jax.lax.cond(
        blown, locate, lambda seg: (carry["blowup_t"], carry["blowup_i"]), carry["segment_start"]
    )
    carry = dict(carry, blowup_t=blowup_t, blowup_i=blowup_i)
    return collect_results(
        monitors, carry["monitors"], run, t_start,
        n_spikes=carry["n_spikes"],
        spike_counts=carry["counts"],
        final_state=SimState(t=carry["t"], y=carry["y"], refractory_until=carry["refr"]),
        blowup_time=carry["blowup_t"],
        blowup_neuron=carry["blowup_i"],
        # solver steps start at event times here: report the clock step (of dt from the
        # start) during which the state became non-finite
        blowup_step=jnp.where(
            blown, jnp.ceil((carry["blowup_t"] - t_start) / cfg.dt - 1e-3).astype(jnp.int32), -1
        ),
    )
