"""Networks of spiking neurons coupled by sparse projections, and their step loop.

A `Network` is one population of `n` neurons of one spiking model (parameters may differ
per neuron), split into named sub-populations (e.g. "E" = neurons 0..3199, "I" = the
rest, as Brian2 does with subgroups), plus receptor types (`synapses`, each one state
variable per neuron) and `projections` (pre population → post population, a
`Connectivity` table, a receptor, a delay). Its vector field is the neuron's with the
synaptic currents added to the input:

    d(neuron state)/dt = f_neuron(t, state, I_ext(t) + Σ_r I_r(g_r, v)),   dg_r/dt = −g_r/τ_r

A `Network` is a spiking model: `neurodyn.simulate` runs it with the one clock loop
(threshold, reset and refractory clamp at step boundaries) and calls `Network.deliver`
after each step. Delivery is event-driven (`neurodyn.network.delivery`: a compiled C++
kernel on CPU, pure JAX elsewhere) and costs O(spiking × out-degree), never
O(n_pre × n_post). Delays are whole steps: delivery writes into a ring buffer of
`delay_steps` rows per delayed projection (memory O(delay_steps × n_post), not a history
of the run) and the row written `delay_steps` steps earlier is added to g. A spike
detected at the end of step s (time t_s) changes g at t_s + delay: with delay 0, from the
next step on (Brian2's order: update, threshold, synapses, reset). Per-synapse delays
(a `Connectivity` built with `delay=..., dt=...`) use one ring of D = max delay rows for
the projection: synapse k's share of a spike of step s is added to g at step s + d_k.

Random inputs: `PoissonGroup` sources (spike trains feeding projections), `PoissonInput`
(binomial counts onto a receptor, nothing stored), and `OUCurrent` receptors (an
Ornstein–Uhlenbeck current integrated as an SDE); they draw from the run's `key`, one
subkey per step, so chunked and resumed runs reproduce uninterrupted ones.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from typing import ClassVar

from jaxtyping import Array, ArrayLike, Bool, Float, PRNGKeyArray

from ..neurons.base import AbstractSpikingNeuron, State, check_parameter
from ..simulate import SimState, SimulationResult, simulate
from .connectivity import Connectivity, check_nonnegative_weights
from .delivery import deliver, deliver_delayed
from .synapses import AbstractSynapse

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
    """

    pre: str = eqx.field(static=True)
    post: str = eqx.field(static=True)
    connectivity: Connectivity
    receptor: str = eqx.field(static=True)
    delay: float | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if self.delay is None:
            return
        if not (isinstance(self.delay, (int, float)) and math.isfinite(self.delay) and self.delay >= 0):
            raise ValueError(f"Projection.delay must be a finite number of ms >= 0 (or None), got {self.delay!r}")
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


class PoissonGroup(eqx.Module):
    """A population of independent Poisson spike sources (Brian2's PoissonGroup).

    Each source fires in each step with probability rate·dt (rate in Hz, scalar or one per
    source; rate·dt must be <= 1). Sources are not neurons of the network: they have no
    state and are not recorded, they only feed projections whose `pre` is their `name`.
    Their spikes come from the run's PRNG key, step by step (reproducible and identical in
    chunked and uninterrupted runs).
    """

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True)
    rate: Float[ArrayLike, "*sources"]  # Hz

    def __check_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or self.size < 1:
            raise ValueError(f"PoissonGroup.size must be an integer >= 1, got {self.size!r}")
        check_parameter("PoissonGroup", "rate", self.rate, lower=0.0)
        shape = np.shape(self.rate)
        if shape not in ((), (self.size,)):
            raise ValueError(f"PoissonGroup.rate must be a scalar or have {self.size} values, got shape {shape}")

    def spikes(self, key, dt: float) -> Bool[Array, " sources"]:
        return jax.random.uniform(key, (self.size,)) < self.rate * (dt / 1000.0)


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
        if isinstance(self.n_inputs, bool) or not isinstance(self.n_inputs, (int, np.integer)) or self.n_inputs < 1:
            raise ValueError(f"PoissonInput.n_inputs must be an integer >= 1, got {self.n_inputs!r}")
        check_parameter("PoissonInput", "rate", self.rate, lower=0.0)
        check_parameter("PoissonInput", "weight", self.weight)

    def increments(self, key, n: int, dt: float, dtype) -> Float[Array, " neurons"]:
        p = jnp.minimum(self.rate * (dt / 1000.0), 1.0)
        counts = jax.random.binomial(key, self.n_inputs, p, shape=(n,), dtype=dtype)
        return self.weight * counts


class Network(AbstractSpikingNeuron):
    """Spiking populations coupled by projections (see the module docstring).

    A `Network` is itself a spiking model: `neurodyn.simulate` integrates it like any
    population (same loop, recording, chunking, progress bar, continuation), calling its
    `deliver` after each step's threshold and reset.

    Arguments:
        neuron: the spiking model of all `n` neurons (parameters scalar or one per neuron).
        synapses: receptor types, each with a distinct `name` (a new state variable); an
            `OUCurrent` here adds an Ornstein-Uhlenbeck noise current.
        populations: ordered {name: size}; neurons are numbered population by population.
        projections: the `Projection`s; their sizes, receptors and weight signs are checked.
        sources: `PoissonGroup`s that projections may use as `pre`.
        poisson_inputs: `PoissonInput`s (binomial drive per neuron, nothing stored).
    """

    neuron: AbstractSpikingNeuron
    synapses: tuple[AbstractSynapse, ...]
    projections: tuple[Projection, ...]
    sources: tuple[PoissonGroup, ...]
    poisson_inputs: tuple[PoissonInput, ...]
    populations: tuple[tuple[str, int, int], ...] = eqx.field(static=True)  # (name, start, stop)
    n: int = eqx.field(static=True)

    delivers: ClassVar[bool] = True

    def __init__(
        self,
        neuron: AbstractSpikingNeuron,
        synapses: Sequence[AbstractSynapse],
        populations: Mapping[str, int],
        projections: Sequence[Projection] = (),
        sources: Sequence[PoissonGroup] = (),
        poisson_inputs: Sequence[PoissonInput] = (),
    ):
        if not isinstance(neuron, AbstractSpikingNeuron) or isinstance(neuron, Network):
            raise TypeError(f"neuron must be a spiking neuron model, got {type(neuron).__name__}")
        synapses = tuple(synapses)
        names = [s.name for s in synapses]
        clash = set(names) & set(neuron.state_names)
        if len(set(names)) != len(names) or clash:
            raise ValueError(
                f"synapse names must be distinct and differ from the neuron's state "
                f"variables {neuron.state_names}, got {names}"
            )
        pops, start = [], 0
        for name, size in populations.items():
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"populations[{name!r}] must be an integer size >= 1, got {size!r}")
            pops.append((str(name), start, start + int(size)))
            start += int(size)
        if not pops:
            raise ValueError("populations must name at least one population")
        if "all" in populations:
            raise ValueError('"all" is reserved for the whole network; rename that population')
        for pname, shape in neuron.parameter_shapes().items():
            if shape != (start,):
                raise ValueError(
                    f"{type(neuron).__name__}.{pname} has shape {shape}; the network has {start} "
                    f"neurons: give a scalar or one value per neuron"
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
        poisson_inputs = tuple(poisson_inputs)
        for pin in poisson_inputs:
            if not isinstance(pin, PoissonInput):
                raise TypeError(f"poisson_inputs must be PoissonInput objects, got {type(pin).__name__}")
            if pin.target not in sizes:
                raise ValueError(f"PoissonInput: unknown target population {pin.target!r}; have {list(sizes)}")
            if pin.receptor not in by_name:
                raise ValueError(f"PoissonInput: unknown receptor {pin.receptor!r}; synapses are {names}")
            if by_name[pin.receptor].nonnegative_weights:
                check_parameter("PoissonInput onto a conductance receptor", "weight", pin.weight, lower=0.0)
        self.neuron = neuron
        self.synapses = synapses
        self.projections = tuple(projections)
        self.sources = sources
        self.poisson_inputs = poisson_inputs
        self.populations = tuple(pops)
        self.n = start

    # ------------------------------------------------------------------ the spiking model

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(self.neuron.state_names) + tuple(s.name for s in self.synapses)

    @property
    def threshold(self):
        return self.neuron.threshold

    @property
    def refractory_period(self):
        return self.neuron.refractory_period

    @property
    def spike_variable(self) -> str:
        return self.neuron.spike_variable

    @property
    def resets(self) -> bool:
        return self.neuron.resets

    @property
    def clamped(self) -> tuple[str, ...]:
        return self.neuron.clamped

    @property
    def random_events(self) -> bool:
        return bool(self.sources or self.poisson_inputs)

    @property
    def noisy_variables(self) -> tuple[str, ...]:
        return self.neuron.noisy_variables + tuple(s.name for s in self.synapses if s.noisy)

    def _neuron_part(self, y: State) -> State:
        return {k: y[k] for k in self.neuron.state_names}

    def threshold_distance(self, state: State):
        return self.neuron.threshold_distance(self._neuron_part(state))

    def spiked(self, before: State, after: State):
        return self.neuron.spiked(self._neuron_part(before), self._neuron_part(after))

    def reset(self, state: State, spiked) -> State:
        return {**state, **self.neuron.reset(self._neuron_part(state), spiked)}

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

    def vector_field(self, t, y: State, input_current) -> State:
        """d(state)/dt: the neuron's field with the synaptic currents added to its input."""
        v = y[self.neuron.spike_variable]
        current = input_current
        for syn in self.synapses:
            current = current + syn.current(y[syn.name], v)
        dy = self.neuron.vector_field(t, self._neuron_part(y), current)
        for syn in self.synapses:
            dy[syn.name] = syn.decay(y[syn.name])
        return dy

    def diffusion(self, t, y: State) -> State:
        out = self.neuron.diffusion(t, self._neuron_part(y)) if self.neuron.noisy_variables else {}
        for syn in self.synapses:
            if syn.noisy:
                out[syn.name] = jnp.broadcast_to(syn.noise_amplitude(), y[syn.name].shape)
        return out

    def initial_state(self, n_neurons: int | None = None) -> State:
        """The neuron's resting state with every synaptic variable at its resting value."""
        y = dict(self.neuron.initial_state(self.n))
        for syn in self.synapses:
            y[syn.name] = jnp.broadcast_to(jnp.asarray(syn.resting_value, float), (self.n,))
        return y

    # ------------------------------------------------------------------ delivery

    def delivery_state(self, n_neurons: int, dt: float, dtype) -> tuple:
        """One ring buffer (delay steps × post size) per delayed projection, None otherwise.

        Per-synapse delays: max(1, D) rows for the largest delay D (none if every delay is
        0), so the memory is O(D × n_post) whatever the spread of the delays.
        """
        rings = []
        for proj in self.projections:
            d = proj.delay_steps(dt)
            size = self.population(proj.post).stop - self.population(proj.post).start
            rings.append(jnp.zeros((d, size), dtype) if d > 0 else None)
        return tuple(rings)

    def deliver(self, y: State, rings, spiked, step, key, dt: float):
        """Add this step's spikes to the synaptic variables (delay 0) or the ring buffers.

        One delay: ring row `step % delay` holds what arrives now: it is added
        to g, then overwritten with what this step's spikes send (arriving `delay` steps
        later). Per-synapse delays: `deliver_delayed` adds row `step % R` to g, clears it
        and adds each synapse to row `(step + d) % R`. Poisson sources and inputs draw
        from `key`, one subkey per source.
        """
        y = dict(y)
        source_spikes = {
            src.name: src.spikes(jax.random.fold_in(key, j), dt) for j, src in enumerate(self.sources)
        } if self.sources else {}
        new_rings = []
        for proj, ring in zip(self.projections, rings):
            if proj.pre in source_spikes:  # spikes of a source, or of the network from pre_start
                pre_spiked, pre_start = source_spikes[proj.pre], None
            else:
                pre_spiked, pre_start = spiked, self.population(proj.pre).start
            post = self.population(proj.post)
            g = y[proj.receptor]
            if ring is None:
                y[proj.receptor] = deliver(g, proj.connectivity, pre_spiked, post.start, pre_start=pre_start)
            elif proj.per_synapse_delays:
                y[proj.receptor], ring = deliver_delayed(
                    g, ring, proj.connectivity, pre_spiked, step, post.start, pre_start=pre_start
                )
            else:
                slot = step % ring.shape[0]
                g = g.at[post].add(ring[slot])
                row = deliver(jnp.zeros_like(ring[slot]), proj.connectivity, pre_spiked, 0, pre_start=pre_start)
                ring = jax.lax.dynamic_update_index_in_dim(ring, row, slot, 0)
                y[proj.receptor] = g
            new_rings.append(ring)
        for j, pin in enumerate(self.poisson_inputs):
            post = self.population(pin.target)
            k = jax.random.fold_in(key, len(self.sources) + j)
            g = y[pin.receptor]
            y[pin.receptor] = g.at[post].add(pin.increments(k, post.stop - post.start, dt, g.dtype))
        return y, tuple(new_rings)


# --------------------------------------------------------------------------- simulation


def simulate_network(
    network: Network,
    t1: float,
    dt: float,
    *,
    initial_state: State | SimState | None = None,
    record: Sequence[str] = (),
    **kwargs,
) -> SimulationResult:
    """`neurodyn.simulate` for a `Network`, clock-driven, with network defaults.

    Differences from `simulate`: `initial_state` may omit variables (they start at rest:
    synaptic variables at 0) and nothing is recorded by default. (With the compiled
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
