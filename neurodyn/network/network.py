"""Networks of spiking neurons coupled by sparse projections, and their step loop.

A `Network` is `n` neurons split into named populations (e.g. "E" = neurons 0..3199, "I" =
the rest, as Brian2 does with subgroups), of one spiking model (parameters may differ per
neuron) or of one model per population (e.g. AdEx excitatory cells and LIF interneurons),
plus receptor types (`synapses`: exponential, alpha or delta, each one or two state
variables per neuron) and `projections` (pre population → post population, a
`Connectivity` table, a receptor, a delay). Its vector field is the neurons' with the
synaptic currents added to the input:

    d(neuron state)/dt = f_neuron(t, state, I_ext(t) + I_DC + Σ_r I_r(g_r, v)),   dg_r/dt = −g_r/τ_r

Several models: every state variable is one array over all n neurons (the clock loop's
layout); a population's model reads and writes its slice of the variables it has, and the
entries of variables it lacks (e.g. AdEx's w on LIF neurons) stay 0. A receptor's weights
are in the input units of the population it targets (AdEx: pA, LIF with R = 1: mV), so give
each model its own receptors when the units differ. A one-model network takes exactly the
code path it took before populations could differ (no slicing).

A `Network` is a spiking model: `neurodyn.simulate` runs it with the one clock loop
(threshold, reset and refractory clamp at step boundaries) and calls `Network.deliver`
after each step. Delivery is event-driven (`neurodyn.network.delivery`: a compiled C++
kernel on CPU, pure JAX elsewhere) and costs O(spiking × out-degree), never
O(n_pre × n_post). Delays are whole steps: delivery writes into a ring buffer of D rows
(memory O(D × n_post), not a history of the run), and the row written d steps earlier is
added to g. A spike detected at the end of step s (time t_s) changes g at t_s + delay:
with delay 0, from the next step on (Brian2's order: update, threshold, synapses, reset).
Every delayed projection onto one synaptic variable, with one delay
(`Projection(delay=...)`) or per-synapse delays (a `Connectivity` built with `delay=...,
dt=...`), shares one ring of D rows (D the largest of their delays, covering the span of
their postsynaptic populations): synapse k's share of a spike of step s is added to g at
step s + d_k. One ring per variable instead of one per projection is 1/7 of the memory and
of the per-step arrival work for the Potjans-Diesmann microcircuit (55 projections onto 8
populations), and its random writes stay in a smaller part of the caches. A one-delay
projection adds each spiking row to the one ring row d steps ahead, in place (the kernel's
scalar-delay mode), as fast as a projection without delay.
A projection with `short_term` plasticity (`neurodyn.network.short_term`: NEST's
`tsodyks_synapse`, or the u·x model) scales each spike's weights by the released fraction
u·x; its state is part of the projection's delivery state (and it keeps a ring of its own).

Random inputs: `PoissonGroup` sources (spike trains feeding projections), `PoissonInput`
(Brian2's: binomial counts onto a receptor, nothing stored), `PoissonDrive` (NEST's
`poisson_generator` background: K_ext inputs at ν as one Poisson process of rate K_ext·ν,
exact Poisson counts per step) and `OUCurrent` receptors (an Ornstein–Uhlenbeck current
integrated as an SDE); they draw from the run's `key`, one subkey per step, so chunked and
resumed runs reproduce uninterrupted ones. `DCCurrent` adds a constant current to one
population (NEST's `dc_generator`, or `I_e`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import ClassVar, final

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from .._checks import check_int, check_number, check_parameter, concrete
from .._simulate import simulate
from .._state import SimState, SimulationResult
from ..neurons.base import AbstractSpikingNeuron, InitialState, State
from .connectivity import Connectivity, check_nonnegative_weights
from .delivery import deliver, deliver_delayed, deliver_delayed_group, resolve_method, resolve_threads
from .drives import DCCurrent, PoissonDrive
from .exact import ExactIntegration, WithJumps
from .plasticity import (
    AbstractPlasticity,
    PlasticState,
    delay_offsets,
    delayed_plastic_step,
    plastic_step,
    reverse_index,
)
from .short_term import AbstractShortTermPlasticity, deliver_short_term
from .synapses import AbstractSynapse, DeltaSynapse


class Projection(eqx.Module):
    """Synapses from population `pre` to population `post` onto receptor `receptor`.

    Attributes:
        pre, post: population names (keys of `Network.populations`, or "all").
        connectivity: a `Connectivity` with n_pre = size of pre, n_post = size of post.
        receptor: the `name` of the synapse (receptor type) the spikes are added to.
        delay: one transmission delay in ms for every synapse: 0 or a whole number (>= 1)
            of steps dt. None (default): the connectivity's per-synapse delays
            (`Connectivity.delay`, built with `delay=..., dt=...`), or 0 if it has none.
            Giving both is refused (say the delay once).
        short_term: a short-term plasticity rule (`neurodyn.network.TsodyksSynapse` or
            `UXSynapse`) scaling each spike's weights by the released fraction u·x, or None.
            Its state (per presynaptic neuron, or per synapse with per-synapse parameters)
            is part of the run's delivery state.
        plasticity: None (static weights) or a rule (`neurodyn.network.STDP`,
            `TripletSTDP`): the weights are then state, starting from `connectivity.weight`
            (per synapse, within [0, w_max]); see `neurodyn.network.plasticity`. With
            `short_term` too, each spike delivers its synapses' plastic weights times the
            release u·x (the two compose: STDP changes w, short-term plasticity scales
            what a spike transmits; Brian2 users write it as `ge += w * u * x`).
    """

    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    connectivity: Connectivity
    receptor: str = eqx.field(static=True)
    delay: float | None = eqx.field(static=True, default=None)
    short_term: AbstractShortTermPlasticity | None = None
    plasticity: AbstractPlasticity | None = None

    def __check_init__(self):
        if self.plasticity is not None and not isinstance(self.plasticity, AbstractPlasticity):
            raise TypeError(
                f"Projection.plasticity must be None or a plasticity rule (e.g. STDP()), got "
                f"{type(self.plasticity).__name__}"
            )
        if self.short_term is not None:
            if not isinstance(self.short_term, AbstractShortTermPlasticity):
                raise TypeError(
                    f"Projection {self.pre}->{self.post}: short_term must be a TsodyksSynapse or UXSynapse "
                    f"(or None), got {type(self.short_term).__name__}"
                )
            self.short_term.check_layout(self.connectivity, f"Projection {self.pre}->{self.post}")
        if self.delay is None:
            return
        check_number("delay", self.delay, owner="Projection", unit="ms", lower=0.0)
        if self.connectivity.delay is not None:
            raise ValueError(
                f"Projection {self.pre}->{self.post}: delay={self.delay} ms given, but the connectivity "
                f"already holds per-synapse delays; leave Projection.delay at None"
            )

    @property
    def per_synapse_delays(self) -> bool:
        return self.connectivity.delay is not None

    def delay_steps(self, dt: float) -> int:
        """The ring-buffer depth in steps: the one delay, or the largest per-synapse delay.

        Raises if the one delay is not a whole number of steps, or if per-synapse delays
        were rounded to another step than `dt`.
        """
        if self.per_synapse_delays:
            c = self.connectivity
            if abs(c.dt - dt) > 1e-9 * max(abs(dt), 1.0):
                raise ValueError(
                    f"Projection {self.pre}->{self.post}: its per-synapse delays were rounded to steps "
                    f"of dt = {c.dt} ms but the simulation runs with dt = {dt} ms; rebuild the "
                    f"connectivity with dt={dt}"
                )
            return c.max_delay
        delay = 0.0 if self.delay is None else self.delay
        steps = delay / dt
        n = round(steps)
        if delay > 0 and steps < 1 - 1e-6:
            raise ValueError(
                f"Projection {self.pre}->{self.post}: delay {delay} ms is shorter than "
                f"dt = {dt} ms; use 0 (effect from the next step) or at least one step"
            )
        if abs(steps - n) > 1e-6 * max(1.0, steps):
            raise ValueError(
                f"Projection {self.pre}->{self.post}: delay {delay} ms is not a whole "
                f"number of steps of dt = {dt} ms ({steps:.6g} steps)"
            )
        return int(n)


def _check_plastic(proj: Projection, where: str, models, pops, sources) -> None:
    """Refuse plastic projections the rules cannot run on, naming what to change."""
    c, rule = proj.connectivity, proj.plasticity
    name = type(rule).__name__
    if np.ndim(c.weight) == 0:
        raise ValueError(
            f"{where}: plasticity={name}(...) needs one weight per synapse (the weights become state), but "
            f"the connectivity has one shared scalar weight {c.weight}; build it with a per-synapse "
            f"weight table, e.g. Connectivity(post_idx, jnp.full(post_idx.shape, w), ...)"
        )
    if proj.per_synapse_delays and rule.delay == "axonal":
        raise ValueError(
            f"{where}: plasticity={name}(delay='axonal') with per-synapse delays is not supported (each "
            f"synapse would need its own presynaptic trace); use delay='dendritic' (NEST's convention: "
            f"each synapse's delay is dendritic) or one delay for the projection (Projection(delay=...))"
        )
    idx, w, w_max = concrete(c.post_idx), concrete(c.weight), concrete(rule.w_max)
    if idx is None:
        raise TypeError(f"{where}: a plastic projection needs a concrete connectivity (its reverse index is built once)")
    if w is not None and w_max is not None:
        valid = idx < c.n_post
        bad = valid & ((w < 0) | (w > w_max) | ~np.isfinite(w))
        if bad.any():
            raise ValueError(
                f"{where}: the initial weights must lie in [0, w_max = {float(w_max)}] for {name}'s hard "
                f"bounds, got {w[bad][:3].tolist()} ({int(bad.sum())} outside)"
            )
    by_source = {src.name: src for src in sources}
    if proj.pre in by_source:
        rate = concrete(by_source[proj.pre].rate)
        if rate is not None and np.all(rate == 0):
            raise ValueError(
                f"{where}: plasticity={name}(...) on a projection whose presynaptic source {proj.pre!r} "
                f"has rate 0: it never spikes, so there are no pre spikes to pair"
            )
        return
    names = [p[0] for p in pops]
    pre_models = models if proj.pre == "all" or len(models) == 1 else (models[names.index(proj.pre)],)
    for m in pre_models:
        th = concrete(m.threshold)
        if th is not None and np.all(np.isposinf(th)):
            raise ValueError(
                f"{where}: plasticity={name}(...) on a projection whose presynaptic population {proj.pre!r} "
                f"cannot spike ({type(m).__name__}.threshold = inf): there are no pre spikes to pair"
            )


def _reverse_tables(proj: Projection):
    """What a plastic projection's updates index with (built once, host NumPy); None if static."""
    if proj.plasticity is None:
        return None
    c = proj.connectivity
    if not proj.per_synapse_delays:
        return jnp.asarray(reverse_index(c.post_idx, c.n_post))
    delay = np.asarray(c.delay).astype(np.int32)
    rev = reverse_index(c.post_idx, c.n_post, delay)
    return jnp.asarray(rev), jnp.asarray(delay_offsets(rev, delay, c.max_delay)), jnp.asarray(delay)


class PoissonGroup(eqx.Module):
    """A population of independent Poisson spike sources (Brian2's PoissonGroup).

    Each source fires in each step with probability rate·dt (rate in Hz, scalar or one per
    source). rate·dt > 1 is invalid (a source cannot fire more than once per step): the
    run refuses it at its start, naming rate and dt; use `PoissonDrive` for inputs whose
    expected count per step exceeds 1. Sources are not neurons of the network: they have no
    state and are not recorded, they only feed projections whose `pre` is their `name`.
    Their spikes come from the run's PRNG key, step by step (reproducible and identical in
    chunked and uninterrupted runs).
    """

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True)
    rate: Float[ArrayLike, "*sources"]  # Hz
    start: float = eqx.field(static=True, default=0.0)  # ms: active from the step starting at `start`
    stop: float = eqx.field(static=True, default=math.inf)  # ms: silent from the step starting at `stop`

    def __check_init__(self):
        check_int("size", self.size, lower=1, owner="PoissonGroup")
        check_parameter("PoissonGroup", "rate", self.rate, lower=0.0)
        shape = np.shape(self.rate)
        if shape not in ((), (self.size,)):
            raise ValueError(f"PoissonGroup.rate must be a scalar or have {self.size} values, got shape {shape}")
        for name in ("start", "stop"):
            check_number(name, getattr(self, name), owner="PoissonGroup", unit="ms", lower=0.0, allow_inf=True)
        if not math.isfinite(self.start) or not self.start < self.stop:
            raise ValueError(f"PoissonGroup needs a finite start < stop, got start={self.start}, stop={self.stop}")

    def check_step(self, dt: float) -> None:
        """Raise ValueError if rate·dt > 1 for this step dt (ms)."""
        _check_probability(f"PoissonGroup {self.name!r}", self.rate, dt)

    def spikes(self, key, dt: float, step=None) -> Bool[Array, " sources"]:
        """This step's spikes; with `start`/`stop`, only in steps whose start time step·dt
        lies in [start, stop) (NEST's `poisson_generator` start/stop)."""
        fired = jax.random.uniform(key, (self.size,)) < self.rate * (dt / 1000.0)
        if step is None or (self.start == 0 and self.stop == math.inf):
            return fired
        t = step * dt
        return fired & (t >= self.start - 1e-6 * dt) & (t < self.stop - 1e-6 * dt)


def _check_probability(owner: str, rate, dt: float) -> None:
    r = concrete(rate)
    if r is not None and np.max(r) * dt / 1000.0 > 1.0:
        raise ValueError(
            f"{owner}: rate·dt must be <= 1 (at most one spike per source and step), got "
            f"rate = {np.max(r):.6g} Hz and dt = {dt} ms (rate·dt = {np.max(r) * dt / 1000.0:.4g}); "
            f"lower the rate or dt, or use PoissonDrive (Poisson counts, no such limit)"
        )


class PoissonInput(eqx.Module):
    """`n_inputs` independent Poisson sources at `rate` Hz onto every neuron of `target`.

    Brian2's PoissonInput: each step, receptor += weight × Binomial(n_inputs, rate·dt),
    drawn per target neuron, so no source population or synapse table is stored.
    """

    target: str = eqx.field(static=True)  # population name or "all"
    receptor: str = eqx.field(static=True)
    n_inputs: int = eqx.field(static=True)
    rate: Float[ArrayLike, ""]  # Hz
    weight: Float[ArrayLike, ""]

    def __check_init__(self):
        check_int("n_inputs", self.n_inputs, lower=1, owner="PoissonInput")
        check_parameter("PoissonInput", "rate", self.rate, lower=0.0)
        check_parameter("PoissonInput", "weight", self.weight)

    def check_step(self, dt: float) -> None:
        """Raise ValueError if rate·dt > 1 for this step dt (ms)."""
        _check_probability(f"PoissonInput onto {self.target!r}", self.rate, dt)

    def increments(self, key, n: int, dt: float, dtype) -> Float[Array, " neurons"]:
        p = self.rate * (dt / 1000.0)
        counts = jax.random.binomial(key, self.n_inputs, p, shape=(n,), dtype=dtype)
        return self.weight * counts


@final
class Network(AbstractSpikingNeuron):
    """Spiking populations coupled by projections (see the module docstring).

    A `Network` is itself a spiking model: `neurodyn.simulate` integrates it like any
    population (same loop, recording, chunking, progress bar, continuation), calling its
    `deliver` after each step's threshold and reset.

    Arguments:
        neuron: the spiking model of all `n` neurons (parameters scalar or one per neuron),
            or a mapping {population name: model} giving every population its own model
            (parameters scalar or one per neuron of that population). All models must
            share the spike variable ("v").
        synapses: receptor types, each with a distinct `name` (new state variables; alpha
            synapses add `<name>_rise` too); an `OUCurrent` here adds an Ornstein-Uhlenbeck
            noise current; a `DeltaSynapse` makes spikes jump its `target` (e.g. "v").
        populations: ordered {name: size}; neurons are numbered population by population.
        projections: the `Projection`s; their sizes, receptors and weight signs are checked.
        sources: `PoissonGroup`s that projections may use as `pre`.
        poisson_inputs: `PoissonInput`s (Brian2's binomial drive per neuron, nothing stored).
        drives: `PoissonDrive`s (NEST's Poisson background) and `DCCurrent`s.
        delivery: spike-delivery implementation, "ffi" (compiled kernel), "jax" or None
            (`$NEURODYN_DELIVERY`, else the kernel on CPU when it builds); resolved once
            here (`neurodyn.network.delivery.resolve_method`), not while tracing.
        delivery_threads: the most threads the compiled kernel splits a per-synapse-delay
            delivery call over (int >= 1, or None: `$NEURODYN_DELIVERY_THREADS`, else 1;
            `neurodyn.network.delivery.resolve_threads`). A call
            uses several only with rows sorted by target and enough work (≥
            `THREAD_MIN_EVENTS` synaptic events per thread), so small networks stay on one;
            the spikes are the same bit for bit whatever the setting.
    """

    neuron: AbstractSpikingNeuron | tuple[AbstractSpikingNeuron, ...]
    synapses: tuple[AbstractSynapse, ...]
    projections: tuple[Projection, ...]
    sources: tuple[PoissonGroup, ...]
    poisson_inputs: tuple[PoissonInput, ...]
    drives: tuple[PoissonDrive | DCCurrent, ...]
    # per projection: (n_post, in-degree) reverse index for plastic ones; with per-synapse
    # delays (delay-sorted reverse index, its delay_offsets, int32 delays)
    reverse_indices: tuple[Array | tuple[Array, Array, Array] | None, ...]
    populations: tuple[tuple[str, int, int], ...] = eqx.field(static=True)  # (name, start, stop)
    n: int = eqx.field(static=True)
    neuron_state_names: tuple[str, ...] = eqx.field(static=True)
    delivery: str = eqx.field(static=True)  # "ffi" or "jax"
    delivery_threads: int = eqx.field(static=True)

    delivers: ClassVar[bool] = True

    def __init__(
        self,
        neuron: AbstractSpikingNeuron | Mapping[str, AbstractSpikingNeuron],
        synapses: Sequence[AbstractSynapse],
        populations: Mapping[str, int],
        projections: Sequence[Projection] = (),
        sources: Sequence[PoissonGroup] = (),
        poisson_inputs: Sequence[PoissonInput] = (),
        drives: Sequence[PoissonDrive | DCCurrent] = (),
        delivery: str | None = None,
        delivery_threads: int | None = None,
    ):
        pops, start = [], 0
        for name, size in populations.items():
            check_int(f"populations[{name!r}]", size, lower=1, meaning="neurons")
            pops.append((str(name), start, start + int(size)))
            start += int(size)
        if not pops:
            raise ValueError("populations must name at least one population")
        if "all" in populations:
            raise ValueError('"all" is reserved for the whole network; rename that population')
        if isinstance(neuron, Mapping):
            missing = [p[0] for p in pops if p[0] not in neuron]
            extra = [k for k in neuron if k not in populations]
            if missing or extra:
                raise ValueError(
                    f"neuron: give one model per population {[p[0] for p in pops]}; "
                    f"missing {missing}, unknown {extra}"
                )
            models = tuple(neuron[p[0]] for p in pops)
            sizes_of = [p[2] - p[1] for p in pops]
        else:
            models, sizes_of = (neuron,), [start]
        state_names: list[str] = []
        for model, size in zip(models, sizes_of):
            if not isinstance(model, AbstractSpikingNeuron) or isinstance(model, Network):
                raise TypeError(f"neuron must be a spiking neuron model, got {type(model).__name__}")
            if model.spike_variable != models[0].spike_variable:
                raise ValueError(
                    f"neuron: every population's model must spike on the same variable, got "
                    f"{models[0].spike_variable!r} and {model.spike_variable!r}"
                )
            for pname, shape in model.parameter_shapes().items():
                if shape != (size,):
                    what = "the network" if len(models) == 1 else "its population"
                    raise ValueError(
                        f"{type(model).__name__}.{pname} has shape {shape}; {what} has {size} "
                        f"neurons: give a scalar or one value per neuron"
                    )
            state_names += [k for k in model.state_names if k not in state_names]
        synapses = tuple(synapses)
        for syn in synapses:
            if not isinstance(syn, AbstractSynapse):
                raise TypeError(f"synapses must be AbstractSynapse objects, got {type(syn).__name__}")
        names = [s.name for s in synapses]
        variables = [k for s in synapses for k in s.state_names]
        clash = set(variables) & set(state_names)
        if len(set(variables)) != len(variables) or clash:
            raise ValueError(
                f"synapse names must be distinct and differ from the neuron's state "
                f"variables {tuple(state_names)}, got {names} (state variables {variables})"
            )
        for syn in synapses:
            if isinstance(syn, DeltaSynapse) and syn.target not in state_names:
                raise ValueError(
                    f"DeltaSynapse {syn.name!r}: unknown target {syn.target!r}; the neurons' state "
                    f"variables are {tuple(state_names)}"
                )
        sources = tuple(sources)
        for src in sources:
            if not isinstance(src, PoissonGroup):
                raise TypeError(f"sources must be PoissonGroup objects, got {type(src).__name__}")
            if src.name in populations or src.name == "all":
                raise ValueError(f"source name {src.name!r} is also a population name")
        if len({src.name for src in sources}) != len(sources):
            raise ValueError(f"source names must be distinct, got {[src.name for src in sources]}")
        sizes = {p[0]: p[2] - p[1] for p in pops}
        sizes["all"] = start
        pre_sizes = {**sizes, **{src.name: src.size for src in sources}}
        by_name = {s.name: s for s in synapses}
        for proj in projections:
            if not isinstance(proj, Projection):
                raise TypeError(f"projections must be Projection objects, got {type(proj).__name__}")
            where = f"Projection {proj.pre}->{proj.post}"
            for end, known in ((proj.pre, pre_sizes), (proj.post, sizes)):
                if end not in known:
                    raise ValueError(f"{where}: unknown population {end!r}; have {list(known)}")
            c = proj.connectivity
            if (c.n_pre, c.n_post) != (pre_sizes[proj.pre], sizes[proj.post]):
                raise ValueError(
                    f"{where}: connectivity is {c.n_pre} -> {c.n_post} neurons but the "
                    f"populations have {pre_sizes[proj.pre]} -> {sizes[proj.post]}"
                )
            if proj.receptor not in by_name:
                raise ValueError(f"{where}: unknown receptor {proj.receptor!r}; synapses are {names}")
            if by_name[proj.receptor].nonnegative_weights:
                check_nonnegative_weights(c, f"{where} onto conductance receptor {proj.receptor!r}")
            if proj.plasticity is not None:
                _check_plastic(proj, where, models, pops, sources)
        poisson_inputs = tuple(poisson_inputs)
        for pin in poisson_inputs:
            if not isinstance(pin, PoissonInput):
                raise TypeError(f"poisson_inputs must be PoissonInput objects, got {type(pin).__name__}")
        drives = tuple(drives)
        for drv in drives:
            if not isinstance(drv, (PoissonDrive, DCCurrent)):
                raise TypeError(f"drives must be PoissonDrive or DCCurrent objects, got {type(drv).__name__}")
        for drv in poisson_inputs + drives:
            kind = type(drv).__name__
            if drv.target not in sizes:
                raise ValueError(f"{kind}: unknown target population {drv.target!r}; have {list(sizes)}")
            if isinstance(drv, DCCurrent):
                shape = np.shape(drv.amplitude)
                if shape not in ((), (sizes[drv.target],)):
                    raise ValueError(
                        f"DCCurrent.amplitude onto {drv.target!r} must be a scalar or have "
                        f"{sizes[drv.target]} values, got shape {shape}"
                    )
                continue
            if drv.receptor not in by_name:
                raise ValueError(f"{kind}: unknown receptor {drv.receptor!r}; synapses are {names}")
            if by_name[drv.receptor].nonnegative_weights:
                check_parameter(f"{kind} onto a conductance receptor", "weight", drv.weight, lower=0.0)
        self.neuron = models[0] if len(models) == 1 else models
        self.synapses = synapses
        self.projections = tuple(projections)
        self.sources = sources
        self.poisson_inputs = poisson_inputs
        self.drives = drives
        self.reverse_indices = tuple(_reverse_tables(p) for p in self.projections)
        self.populations = tuple(pops)
        self.n = start
        self.neuron_state_names = tuple(state_names)
        self.delivery = resolve_method(delivery)
        self.delivery_threads = resolve_threads(
            check_int("delivery_threads", delivery_threads, lower=1, allow_none=True, meaning="delivery threads"))

    # ------------------------------------------------------------------ the spiking model

    @property
    def models(self) -> tuple[AbstractSpikingNeuron, ...]:
        """The neuron model of each population (one model: a 1-tuple for all)."""
        return self.neuron if isinstance(self.neuron, tuple) else (self.neuron,)

    @property
    def mixed(self) -> bool:
        """Whether populations have their own models (else one model for all neurons)."""
        return isinstance(self.neuron, tuple)

    def per_neuron(self, values) -> Float[Array, " neurons"]:
        """One value per neuron from one (scalar or per-neuron) value per population."""
        return jnp.concatenate([
            jnp.broadcast_to(jnp.asarray(v, float), (b - a,)) for v, (_, a, b) in zip(values, self.populations)
        ])

    @property
    def synapse_state_names(self) -> tuple[str, ...]:
        return tuple(k for s in self.synapses for k in s.state_names)

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.neuron_state_names + self.synapse_state_names

    @property
    def threshold(self):
        if not self.mixed:
            return self.neuron.threshold
        return self.per_neuron([m.threshold for m in self.models])

    @property
    def refractory_period(self):
        if not self.mixed:
            return self.neuron.refractory_period
        periods = [m.refractory_period for m in self.models]
        if all(isinstance(p, (int, float)) and p == 0 for p in periods):
            return 0.0  # static zero: the loop then skips refractoriness entirely
        return self.per_neuron(periods)

    @property
    def spike_variable(self) -> str:
        return self.models[0].spike_variable

    @property
    def resets(self) -> bool:
        return any(m.resets for m in self.models)

    @property
    def clamped(self) -> tuple[str, ...]:
        out: list[str] = []
        for m in self.models:
            out += [k for k in m.clamped if k not in out]
        return tuple(out)

    @property
    def random_events(self) -> bool:
        return bool(self.sources or self.poisson_inputs or any(isinstance(d, PoissonDrive) for d in self.drives))

    @property
    def noisy_variables(self) -> tuple[str, ...]:
        out: list[str] = []
        for m in self.models:
            out += [k for k in m.noisy_variables if k not in out]
        return tuple(out) + tuple(s.name for s in self.synapses if s.noisy)

    @property
    def delta_synapses(self) -> tuple[DeltaSynapse, ...]:
        return tuple(s for s in self.synapses if isinstance(s, DeltaSynapse))

    def _neuron_part(self, y: State) -> State:
        return {k: y[k] for k in self.neuron_state_names}

    def _map_populations(self, fn, y: State, *per_neuron, fill=None) -> State:
        """Apply fn(model, model's slice of y, slices of per_neuron...) per population and join.

        Variables a population's model lacks are `fill` there (default: kept from y).
        """
        parts = []
        for model, (_, a, b) in zip(self.models, self.populations):
            parts.append(fn(model, {k: y[k][a:b] for k in model.state_names}, *(x[a:b] for x in per_neuron)))
        names = [k for k in self.neuron_state_names if any(k in part for part in parts)]
        out = {}
        for k in names:
            pieces = []
            for part, (_, a, b) in zip(parts, self.populations):
                if k in part:
                    pieces.append(jnp.broadcast_to(part[k], (b - a,)))
                else:
                    pieces.append(y[k][a:b] if fill is None else jnp.full((b - a,), fill, y[k].dtype))
            out[k] = jnp.concatenate(pieces)
        return out

    def threshold_distance(self, state: State):
        if not self.mixed:
            return self.neuron.threshold_distance(self._neuron_part(state))
        return jnp.concatenate([
            jnp.broadcast_to(m.threshold_distance({k: state[k][a:b] for k in m.state_names}), (b - a,))
            for m, (_, a, b) in zip(self.models, self.populations)
        ])

    def spiked(self, before: State, after: State):
        if not self.mixed:
            return self.neuron.spiked(self._neuron_part(before), self._neuron_part(after))
        return jnp.concatenate([
            m.spiked({k: before[k][a:b] for k in m.state_names}, {k: after[k][a:b] for k in m.state_names})
            for m, (_, a, b) in zip(self.models, self.populations)
        ])

    def reset(self, state: State, spiked) -> State:
        if not self.mixed:
            return {**state, **self.neuron.reset(self._neuron_part(state), spiked)}
        return {**state, **self._map_populations(lambda m, y, s: m.reset(y, s), state, spiked)}

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"n": (self.n,)}

    def population(self, name: str) -> slice:
        """The neuron indices of population `name` as a slice ("all": every neuron)."""
        if name == "all":
            return slice(0, self.n)
        for pname, start, stop in self.populations:
            if pname == name:
                return slice(start, stop)
        raise KeyError(f"no population {name!r}; have {[p[0] for p in self.populations]}")

    def external_current(self, input_current):
        """The input plus the `DCCurrent`s (a scalar or one value per neuron)."""
        current = input_current
        for drv in self.drives:
            if isinstance(drv, DCCurrent):
                sl = self.population(drv.target)
                amp = jnp.broadcast_to(jnp.asarray(drv.amplitude), (sl.stop - sl.start,))
                current = jnp.broadcast_to(current, (self.n,)).at[sl].add(amp)
        return current

    def vector_field(self, t, y: State, input_current) -> State:
        """d(state)/dt: the neuron's field with the synaptic currents added to its input."""
        v = y[self.spike_variable]
        current = self.external_current(input_current)
        for syn in self.synapses:
            if not isinstance(syn, DeltaSynapse):
                current = current + syn.current(y[syn.name], v)
        if not self.mixed:
            dy = self.neuron.vector_field(t, self._neuron_part(y), current)
        else:
            current = jnp.broadcast_to(current, (self.n,))
            dy = self._map_populations(lambda m, ys, c: m.vector_field(t, ys, c), y, current, fill=0.0)
        for syn in self.synapses:
            dy.update(syn.vector_field({k: y[k] for k in syn.state_names}))
        return dy

    def diffusion(self, t, y: State) -> State:
        if not self.mixed:
            out = self.neuron.diffusion(t, self._neuron_part(y)) if self.neuron.noisy_variables else {}
        else:
            out = self._map_populations(lambda m, ys: m.diffusion(t, ys), y, fill=0.0)
            out = {k: out.get(k, jnp.zeros_like(y[k])) for k in self.noisy_variables if k in self.neuron_state_names}
        for syn in self.synapses:
            if syn.noisy:
                out[syn.name] = jnp.broadcast_to(syn.noise_amplitude(), y[syn.name].shape)
        return out

    def initial_state(self, n_neurons: int | None = None) -> State:
        """The neurons' resting state with every synaptic variable at its resting value."""
        if not self.mixed:
            y = dict(self.neuron.initial_state(self.n))
        else:
            parts = [m.initial_state(b - a) for m, (_, a, b) in zip(self.models, self.populations)]
            y = {
                k: jnp.concatenate([
                    jnp.broadcast_to(jnp.asarray(part[k], float), (b - a,)) if k in part else jnp.zeros((b - a,))
                    for part, (_, a, b) in zip(parts, self.populations)
                ])
                for k in self.neuron_state_names
            }
        for syn in self.synapses:
            for k, value in syn.initial_state().items():
                y[k] = jnp.broadcast_to(jnp.asarray(value, float), (self.n,))
        return y

    # ------------------------------------------------------------------ delta jumps

    def land_jumps(self, y: State) -> State:
        """Add the delta-synapse jumps waiting in their variables to their targets; clear them."""
        y = dict(y)
        for syn in self.delta_synapses:
            y[syn.target] = y[syn.target] + y[syn.name]
            y[syn.name] = jnp.zeros_like(y[syn.name])
        return y

    # ------------------------------------------------------------------ delivery

    def delivery_state(self, n_neurons: int, dt: float, dtype) -> tuple:
        """One entry per projection: a ring buffer or None (no delay, or a shared ring).

        Delayed projections (one delay, or per-synapse delays not all 0) onto one variable
        share a ring, held by the first of them (the others' entries are None): D rows for
        the largest delay D among them, one column per neuron of the span of their
        postsynaptic populations, so the memory is O(D × span) whatever the spread of the
        delays. Also checks, at the start of a run, that every Poisson source has
        rate·dt <= 1.
        A projection with `short_term` plasticity has the dict {"ring": its own ring or
        None, "short_term": the rule's state}; a plastic projection (`plasticity`) has a
        `PlasticState`: its weights (from the connectivity), zero traces, and with a delay
        the ring of conductances (dendritic delay) and a ring of the spikes still on their
        way to the synapses.
        """
        self.check_step(dt)
        groups = self._shared_rings(dt)
        rings = []
        for j, proj in enumerate(self.projections):
            d = proj.delay_steps(dt)
            if j in groups:
                rows, origin, stop, _ = groups[j]
                rings.append(jnp.zeros((rows, stop - origin), dtype))
                continue
            if self._shares_ring(proj, dt):
                rings.append(None)  # its group's first projection holds the ring
                continue
            size = self.population(proj.post).stop - self.population(proj.post).start
            ring = jnp.zeros((d, size), dtype) if d > 0 else None
            rule = proj.plasticity
            stp = None
            if proj.short_term is not None:
                shape = proj.short_term.check_layout(proj.connectivity, f"Projection {proj.pre}->{proj.post}")
                stp = proj.short_term.initial_state(shape, dtype)
            if rule is None and stp is not None:
                ring = {"ring": ring, "short_term": stp}
            elif rule is not None and proj.per_synapse_delays:
                c = proj.connectivity
                ring = PlasticState(
                    weight=jnp.asarray(c.weight, dtype),
                    pre_trace=jnp.zeros((c.n_pre, rule.n_traces), dtype),
                    post_trace=jnp.zeros((c.n_post, rule.n_traces), dtype),
                    ring=jnp.zeros((max(1, d), c.n_post), dtype),
                    spike_ring=jnp.zeros((d + 1, c.n_post), dtype),
                    post_history=jnp.zeros((d + 1, c.n_post, rule.n_traces), dtype),
                    short_term=stp,
                )
            elif rule is not None:
                c = proj.connectivity
                axonal = rule.delay == "axonal"
                ring = PlasticState(
                    weight=jnp.asarray(c.weight, dtype),
                    pre_trace=jnp.zeros((c.n_pre, rule.n_traces), dtype),
                    post_trace=jnp.zeros((c.n_post, rule.n_traces), dtype),
                    ring=None if axonal else ring,
                    spike_ring=jnp.zeros((d, c.n_pre if axonal else c.n_post), dtype) if d > 0 else None,
                    short_term=stp,
                )
            rings.append(ring)
        return tuple(rings)

    @staticmethod
    def _shares_ring(proj: Projection, dt: float) -> bool:
        """Whether `proj` delivers through its variable's shared ring: per-synapse delays
        (not all 0) or one delay of at least one step, and no short-term or long-term
        plasticity (those keep their own state)."""
        return proj.delay_steps(dt) > 0 and proj.short_term is None and proj.plasticity is None

    @staticmethod
    def _one_delay(proj: Projection, dt: float) -> int | None:
        """The one delay in steps of a projection without per-synapse delays (None with them)."""
        return None if proj.per_synapse_delays else proj.delay_steps(dt)

    def _shared_rings(self, dt: float) -> dict[int, tuple[int, int, int, tuple[int, ...]]]:
        """{index of the first ring-sharing (delayed, static) projection onto each variable: (rows, first
        column, end column) of the ring its group shares, and the group's projections} (static)."""
        groups: dict[str, list[int]] = {}
        for j, proj in enumerate(self.projections):
            if self._shares_ring(proj, dt):
                groups.setdefault(self._spike_target(proj.receptor), []).append(j)
        out = {}
        for members in groups.values():
            pops = [self.population(self.projections[j].post) for j in members]
            rows = max(self.projections[j].delay_steps(dt) for j in members)
            out[members[0]] = (rows, min(p.start for p in pops), max(p.stop for p in pops), tuple(members))
        return out

    def check_step(self, dt: float) -> None:
        """Raise ValueError naming rate and dt if a PoissonGroup or PoissonInput has rate·dt > 1."""
        for drv in self.sources + self.poisson_inputs:
            drv.check_step(dt)
        for drv in self.drives:
            if isinstance(drv, PoissonDrive):
                drv.delay_steps(dt)

    def _spike_target(self, receptor: str) -> str:
        """The state variable that spikes onto `receptor` add to (alpha: its rise variable)."""
        return next(s.spike_variable for s in self.synapses if s.name == receptor)

    def deliver(self, y: State, rings, spiked, step, key, dt: float):
        """Add this step's spikes to the synaptic variables (delay 0) or the ring buffers.

        Delayed projections (one delay or per-synapse delays) onto one variable share a
        ring of R rows: the first of them adds row `step % R` to g and clears it
        (`deliver_delayed(arrive=True)`), and each projection adds each synapse to row
        `(step + d) % R` (one delay: every spiking row to the one row `(step + d) % R`).
        Poisson sources and inputs draw from `key`, one subkey per source.
        Delta-synapse variables must be empty here (the step's solver landed the jumps):
        a run whose solver does not land them (plain `simulate` with a Diffrax solver not
        wrapped in `WithJumps`) stops with an error instead of silently dropping them.
        """
        y = dict(y)
        for syn in self.delta_synapses:
            y[syn.name] = eqx.error_if(
                y[syn.name], jnp.any(y[syn.name] != 0),
                f"delta synapse {syn.name!r}: its jumps were not applied; step the network with "
                f"neurodyn.network.ExactIntegration() or WithJumps(solver), as simulate_network does",
            )
        source_spikes = {
            src.name: src.spikes(jax.random.fold_in(key, j), dt, step) for j, src in enumerate(self.sources)
        } if self.sources else {}
        new_rings = list(rings)
        groups = self._shared_rings(dt)
        shared = {self._spike_target(self.projections[j].receptor): j for j in groups}  # var -> holder
        for j, (proj, ring, rev) in enumerate(zip(self.projections, rings, self.reverse_indices)):
            if proj.pre in source_spikes:  # spikes of a source, or of the network from pre_start
                pre_spiked, pre_start = source_spikes[proj.pre], None
            else:
                pre_spiked, pre_start = spiked, self.population(proj.pre).start
            post = self.population(proj.post)
            var = self._spike_target(proj.receptor)
            g = y[var]
            if self._shares_ring(proj, dt):
                holder = shared[var]  # the group's ring; the holder's call lets this step's row arrive
                origin, members = groups[holder][1], groups[holder][3]
                # Pure JAX (GPU): the group's projections from the network's own neurons in one
                # scatter per step (`deliver_delayed_group`); sources' projections one by one.
                batched = [m for m in members if self.projections[m].pre not in source_spikes]
                grouped = self.delivery == "jax" and spiked.dtype == jnp.bool_ and batched
                if grouped and j == holder:
                    g, new_rings[holder] = deliver_delayed_group(
                        g, new_rings[holder], [self.projections[m].connectivity for m in batched], spiked, step,
                        [self.population(self.projections[m].post).start for m in batched],
                        [self.population(self.projections[m].pre).start for m in batched], ring_origin=origin,
                        delays=[self._one_delay(self.projections[m], dt) for m in batched],
                    )
                if not grouped or proj.pre in source_spikes:
                    g, new_rings[holder] = deliver_delayed(
                        g, new_rings[holder], proj.connectivity, pre_spiked, step, post.start, pre_start=pre_start,
                        ring_origin=origin, arrive=j == holder and not grouped, delay=self._one_delay(proj, dt),
                        method=self.delivery, threads=self.delivery_threads,
                    )
                y[var] = g
                continue
            if proj.plasticity is not None:
                if pre_start is not None:
                    pre_spiked = pre_spiked[pre_start:pre_start + proj.connectivity.n_pre]
                y[var], ring = self._deliver_plastic(proj, rev, g, ring, pre_spiked, spiked[post], step, dt)
            elif proj.short_term is not None:
                y[var], ring = self._deliver_short_term(proj, g, ring, pre_spiked, pre_start or 0, step, dt)
            else:  # no delay (delayed static projections share their variable's ring, above)
                y[var] = deliver(g, proj.connectivity, pre_spiked, post.start, pre_start=pre_start,
                                 method=self.delivery)
            new_rings[j] = ring
        for j, pin in enumerate(self.poisson_inputs):
            post = self.population(pin.target)
            k = jax.random.fold_in(key, len(self.sources) + j)
            var = self._spike_target(pin.receptor)
            y[var] = y[var].at[post].add(pin.increments(k, post.stop - post.start, dt, y[var].dtype))
        offset = len(self.sources) + len(self.poisson_inputs)
        for j, drv in enumerate(self.drives):
            if isinstance(drv, PoissonDrive):
                post = self.population(drv.target)
                k = jax.random.fold_in(key, offset + j)
                var = self._spike_target(drv.receptor)
                y[var] = y[var].at[post].add(drv.increments(k, post.stop - post.start, step, dt, y[var].dtype))
        return y, tuple(new_rings)

    def _deliver_short_term(self, proj: Projection, g, entry, pre_spiked, pre_start: int, step, dt: float):
        """`deliver` for a projection with short-term plasticity: (g, {"ring", "short_term"})."""
        post = self.population(proj.post)
        ring, stp = entry["ring"], entry["short_term"]
        common = dict(pre_start=pre_start, method=self.delivery)
        if ring is None:
            g, stp = deliver_short_term(g, proj.connectivity, proj.short_term, stp, pre_spiked, step, dt, post.start,
                                        **common)
        elif proj.per_synapse_delays:
            g, ring, stp = deliver_short_term(g, proj.connectivity, proj.short_term, stp, pre_spiked, step, dt,
                                              post.start, ring=ring, **common)
        else:
            slot = step % ring.shape[0]
            g = g.at[post].add(ring[slot])
            row, stp = deliver_short_term(jnp.zeros_like(ring[slot]), proj.connectivity, proj.short_term, stp,
                                          pre_spiked, step, dt, 0, **common)
            ring = jax.lax.dynamic_update_index_in_dim(ring, row, slot, 0)
        return g, {"ring": ring, "short_term": stp}

    def _deliver_plastic(self, proj: Projection, reverse, g, st: PlasticState, pre_now, post_now, step, dt: float):
        """One step of a plastic projection: (g, new PlasticState); see `plasticity`.

        With a delay of D steps, the spikes of D steps ago come out of `st.spike_ring`
        (dendritic: post spikes reaching the synapses; axonal: pre spikes reaching them).
        """
        rule = proj.plasticity
        post = self.population(proj.post)
        coef = rule.coefficients(dt, g.dtype)
        d = proj.delay_steps(dt)
        nearest = rule.pairing == "nearest"
        if proj.per_synapse_delays:  # dendritic, one delay per synapse: deliver, then update
            if post_now.dtype != pre_now.dtype:
                post_now, pre_now = post_now.astype(g.dtype), pre_now.astype(g.dtype)
            reverse, offsets, delay = reverse
            conn = eqx.tree_at(lambda c: c.weight, proj.connectivity, st.weight)
            stp = st.short_term
            if stp is None:
                g, ring = deliver_delayed(g, st.ring, conn, pre_now, step, post.start, method=self.delivery)
            else:
                g, ring, stp = deliver_short_term(g, conn, proj.short_term, stp, pre_now, step, dt, post.start,
                                                  method=self.delivery, ring=st.ring)
            weight, pre_tr, post_tr, history, spikes = delayed_plastic_step(
                self.delivery, nearest, coef, st.weight, st.pre_trace, st.post_trace, st.post_history, st.spike_ring,
                conn.post_idx, delay, reverse, offsets, pre_now, post_now, step, after=ring)
            return g, PlasticState(weight=weight, pre_trace=pre_tr, post_trace=post_tr, ring=ring, spike_ring=spikes,
                                   post_history=history, short_term=stp)
        dendritic = rule.delay == "dendritic"
        spike_ring = st.spike_ring
        if d > 0:
            slot = step % d
            arriving = spike_ring[slot]
            if (post_now if dendritic else pre_now).dtype == jnp.bool_:
                arriving = arriving > 0
            sent = (post_now if dendritic else pre_now).astype(spike_ring.dtype)
            spike_ring = jax.lax.dynamic_update_index_in_dim(spike_ring, sent, slot, 0)
            if dendritic:
                post_now = arriving
            else:
                pre_now = arriving
        if post_now.dtype != pre_now.dtype:  # surrogate spikes on one side: floats on both
            post_now, pre_now = post_now.astype(g.dtype), pre_now.astype(g.dtype)
        c = proj.connectivity
        args = (st.weight, st.pre_trace, st.post_trace, c.post_idx, reverse, pre_now, post_now)
        ring, stp = st.ring, st.short_term
        fused = stp is None  # the plasticity kernel delivers; with short-term plasticity, its op does
        conn = eqx.tree_at(lambda c: c.weight, c, st.weight)
        if d > 0 and dendritic:
            g = g.at[post].add(ring[slot])
            row = jnp.zeros_like(ring[slot])
            if not fused:
                row, stp = deliver_short_term(row, conn, proj.short_term, stp, pre_now, step, dt, 0,
                                              method=self.delivery)
            row, weight, pre_tr, post_tr = plastic_step(self.delivery, nearest, coef, row, 0, *args, deliver=fused)
            ring = jax.lax.dynamic_update_index_in_dim(ring, row, slot, 0)
        else:
            if not fused:
                g, stp = deliver_short_term(g, conn, proj.short_term, stp, pre_now, step, dt, post.start,
                                            method=self.delivery)
            g, weight, pre_tr, post_tr = plastic_step(self.delivery, nearest, coef, g, post.start, *args,
                                                      deliver=fused)
        return g, PlasticState(weight=weight, pre_trace=pre_tr, post_trace=post_tr, ring=ring, spike_ring=spike_ring,
                               short_term=stp)

    def projection_label(self, i: int) -> str:
        """"pre->post" of projection i ("pre->post#i" where that pair repeats)."""
        p = self.projections[i]
        same = [q for q in self.projections if (q.pre, q.post) == (p.pre, p.post)]
        return f"{p.pre}->{p.post}" if len(same) == 1 else f"{p.pre}->{p.post}#{i}"

    def plastic_projection(self, projection: int | str) -> int:
        """The index of a plastic projection given by index or label (`projection_label`)."""
        labels = [self.projection_label(i) for i in range(len(self.projections))]
        plastic = [labels[i] for i, p in enumerate(self.projections) if p.plasticity is not None]
        i = labels.index(projection) if isinstance(projection, str) and projection in labels else projection
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.projections) \
                or self.projections[i].plasticity is None:
            raise ValueError(f"projection {projection!r} is not a plastic projection; the plastic ones are {plastic}")
        return int(i)

    def plastic_weights(self, state: SimState | tuple) -> dict[str, Float[Array, "pre k"]]:
        """{label: (n_pre, K) weights in the connectivity's layout} of every plastic projection.

        `state` is a run's `final_state` (or its `buffers`). Padding entries stay 0.
        """
        buffers = state.buffers if isinstance(state, SimState) else state
        return {
            self.projection_label(i): buffers[i].weight
            for i, p in enumerate(self.projections) if p.plasticity is not None
        }


# --------------------------------------------------------------------------- simulation


def simulate_network(
    network: Network,
    t1: float,
    dt: float,
    *,
    initial_state: InitialState | SimState | None = None,
    record: Sequence[str] = (),
    **kwargs,
) -> SimulationResult:
    """`neurodyn.simulate` for a `Network`, clock-driven, with network defaults.

    Differences from `simulate`: `initial_state` may omit variables (they start at rest:
    synaptic variables at 0), nothing is recorded by default, Poisson rates are checked
    against dt (rate·dt <= 1) before the run, and with delta synapses the solver (default
    Euler) is wrapped in `WithJumps` unless it is `ExactIntegration` or already wrapped. (With the compiled
    delivery kernel, simulate's `unroll=2` is the faster setting here too: COBA 4k driven
    19.8 vs 30.4 µs/step with unroll=1, same run.) Every other argument (`input`,
    `solver`, `record_neurons`, `record_every`, `max_spikes`, `spike_block`, `key` for
    Poisson sources and noise, `progress`, `dtype`, `check`, `surrogate`) is `simulate`'s;
    `final_state` continues a run, delay buffers included.
    """
    if not isinstance(network, Network):
        raise TypeError(f"network must be a Network, got {type(network).__name__}")
    if initial_state is not None and not isinstance(initial_state, SimState):
        unknown = set(initial_state) - set(network.state_names)
        if unknown:
            raise ValueError(
                f"initial_state: unknown variables {sorted(unknown)}; the network has {network.state_names}"
            )
        initial_state = {**network.initial_state(), **initial_state}
    if kwargs.get("mode", "clock") != "clock":
        raise ValueError("networks are simulated clock-driven: mode must be 'clock'")
    network.check_step(dt)
    if network.delta_synapses and not isinstance(kwargs.get("solver"), (ExactIntegration, WithJumps)):
        kwargs["solver"] = WithJumps(kwargs.get("solver") or diffrax.Euler())
    return simulate(network, t1, dt, initial_state=initial_state, record=record, **kwargs)


def random_initial_state(
    key: PRNGKeyArray, network: Network, mean: Mapping[str, float], std: Mapping[str, float]
) -> State:
    """A state with each named variable ~ N(mean, std) independently per neuron (others at rest)."""
    y = network.initial_state()
    keys = jax.random.split(key, len(mean))
    for k, name in zip(keys, mean):
        if name not in y:
            raise ValueError(f"random_initial_state: unknown variable {name!r}; the network has {network.state_names}")
        y[name] = mean[name] + std.get(name, 0.0) * jax.random.normal(k, (network.n,))
    return y
