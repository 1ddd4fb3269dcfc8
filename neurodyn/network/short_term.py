"""Short-term plasticity: Tsodyks–Markram depressing and facilitating synapses.

A presynaptic spike releases a fraction u of the available resources x; the released
amount u·x scales the spike's weight (the PSC amplitude is w·u·x), x recovers with τ_rec
and u decays with τ_fac between spikes. Two published variants, both solved exactly
between spikes (event-driven: each state is propagated over the interval h since the
previous spike of the same synapse, at the spike, as NEST does):

`TsodyksSynapse`: NEST's `tsodyks_synapse` (Tsodyks, Uziel & Markram 2000; Tsodyks,
Pawelzik & Markram 1998, Eqs. 3–4): resources are recovered (x), active (y, decaying with
τ_psc) or inactive (z = 1 − x − y, recovering with τ_rec); u decays to 0 and each spike
adds U(1 − u). At a spike, after an interval h:

    P_uu = e^{−h/τ_fac} (0 if τ_fac = 0),  P_yy = e^{−h/τ_psc},  P_zz = e^{−h/τ_rec}
    P_xy = ((P_zz − 1) τ_rec − (P_yy − 1) τ_psc) / (τ_psc − τ_rec),  P_xz = 1 − P_zz
    z = 1 − x − y;  u ← u P_uu;  x ← x + P_xy y + P_xz z;  y ← y P_yy      (propagation)
    u ← u + U(1 − u);  Δ = u x;  x ← x − Δ;  y ← y + Δ;  amplitude = Δ    (the spike)

from x = 1, y = 0, u = 0 (NEST's defaults), in this order (NEST's `send`). τ_psc should equal
the postsynaptic current's decay time (`CurrentSynapse.tau`), as NEST's documentation asks.

`UXSynapse`: the u·x model of Markram, Wang & Tsodyks (1998) as in Brian's STP class and
Brian2's short-term plasticity example: dx/dt = (1 − x)/τ_rec, du/dt = (U − u)/τ_fac
(Brian's τ_d and τ_f), and on a spike: amplitude = u·x (taken first), x ← x(1 − u),
u ← u + U(1 − u); from x = 1, u = U. Between spikes, exactly:

    x ← 1 + (x − 1) e^{−h/τ_rec},   u ← U + (u − U) e^{−h/τ_fac}   (u = U if τ_fac = 0)

The two agree on u: the u·x model's u at a spike (relaxing to U, incremented after the
release) equals NEST's u after its increment (decaying to 0, incremented before the
release), both u_n = U + (1 − U) u_{n−1} e^{−h/τ_fac}. They differ in x: NEST's released
resources pass through the active state y (τ_psc) before they recover, the u·x model's
recover at once, so `UXSynapse` is `TsodyksSynapse` in the limit τ_psc → 0 (for τ_psc ≪ τ_rec
the amplitudes differ by O(τ_psc/τ_rec)).

Where the state lives: one state per presynaptic neuron when every synapse of a neuron
shares the parameters (scalars, or one value per presynaptic neuron: the usual case, as
release is a property of the presynaptic terminal's spike train and all of a neuron's
synapses see the same train), so a spike costs one update and its whole out-row is scaled
by the neuron's w·u·x. Parameters given per synapse (the `Connectivity` layout (n_pre, K))
give one state per synapse. The state is part of the projection's delivery state
(`Network.delivery_state`), so continued, chunked and streamed runs carry it.

Delivery (`deliver_short_term`): a C++ XLA FFI handler (`_kernels/stp.cc`) updates the
state of the neurons that spiked and adds their amplitude-weighted out-rows in one pass
(O(spiking × out-degree)); the pure-JAX path updates the state elementwise (O(n_pre), or
O(synapses) with per-synapse parameters) and delivers the amplitudes through
`neurodyn.network.delivery.deliver` with float spikes. Both give the same numbers. With
per-synapse delays the state is updated in JAX and the amplitudes go through
`deliver_delayed` (compiled or not, as that op chooses).
"""

import abc
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .._checks import check_parameter, concrete, show
from .connectivity import Connectivity

__all__ = ["AbstractShortTermPlasticity", "TsodyksSynapse", "UXSynapse", "deliver_short_term"]

_FFI_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# allowed ranges: U in (0, 1], tau_rec > 0, tau_fac >= 0, tau_psc > 0 (ms)
_BOUNDS = {"U": {"lower": 0.0, "lower_open": True, "upper": 1.0}, "tau_rec": {"lower": 0.0, "lower_open": True},
           "tau_fac": {"lower": 0.0}, "tau_psc": {"lower": 0.0, "lower_open": True}}


def _check(owner: str, **parameters) -> None:
    """Finite, in range; scalar, (n_pre,) or (n_pre, K) (checked against the connectivity later)."""
    for name, value in parameters.items():
        check_parameter(owner, name, value, **_BOUNDS[name], max_ndim=2, shapes="a scalar, (n_pre,) or (n_pre, K)")


class AbstractShortTermPlasticity(eqx.Module):
    """A Tsodyks–Markram short-term plasticity rule (see the module docstring).

    Parameters are scalars, one value per presynaptic neuron (n_pre,) or one per synapse
    (n_pre, K) in the projection's `Connectivity` layout; the last gives per-synapse state.
    """

    U: eqx.AbstractVar[Float[ArrayLike, "*shape"]]
    tau_rec: eqx.AbstractVar[Float[ArrayLike, "*shape"]]
    tau_fac: eqx.AbstractVar[Float[ArrayLike, "*shape"]]

    # the model number the C++ kernel dispatches on
    kernel_model: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def initial_state(self, shape: tuple[int, ...], dtype) -> dict[str, Array]:
        """The resting state (arrays of `shape`) plus `last`, the step of the last spike."""

    @abc.abstractmethod
    def on_spike(self, state: dict, h: Float[Array, "*shape"]) -> tuple[dict, Float[Array, "*shape"]]:
        """(state after a spike that comes h ms after the previous one, released fraction)."""

    @abc.abstractmethod
    def parameter_arrays(self) -> tuple:
        """(U, tau_rec, tau_fac, tau_psc), the C++ kernel's operands (tau_psc = 0 where unused)."""

    @classmethod
    @abc.abstractmethod
    def from_parameters(cls, U, tau_rec, tau_fac, tau_psc) -> "AbstractShortTermPlasticity":
        """The rule with these parameters (the inverse of `parameter_arrays`)."""

    def check_layout(self, conn: Connectivity, where: str) -> tuple[int, ...]:
        """The state shape for `conn`: (n_pre,) or (n_pre, K); raises on other parameter shapes."""
        shapes = {name: np.shape(p) for name, p in zip(("U", "tau_rec", "tau_fac", "tau_psc"), self.parameter_arrays())}
        per_synapse = conn.post_idx.shape
        for name, shape in shapes.items():
            if shape not in ((), (conn.n_pre,), per_synapse):
                raise ValueError(
                    f"{where}: {type(self).__name__}.{name} has shape {shape}; give a scalar, one value per "
                    f"presynaptic neuron ({conn.n_pre},) or one per synapse {per_synapse}"
                )
        return per_synapse if per_synapse in shapes.values() else (conn.n_pre,)


def _decay(h, tau):
    """e^{−h/τ}, and 0 where τ = 0 (no memory)."""
    tau = jnp.asarray(tau, h.dtype)
    return jnp.where(tau > 0, jnp.exp(-h / jnp.where(tau > 0, tau, 1.0)), 0.0)


class TsodyksSynapse(AbstractShortTermPlasticity):
    """NEST's `tsodyks_synapse`: recovered x, active y, inactive 1 − x − y, release u.

    Defaults are NEST 3's (U = 0.5, τ_rec = 800 ms, τ_fac = 0, τ_psc = 3 ms), which are the
    depressing synapse of Tsodyks, Pawelzik & Markram (1998), Fig. 1A. Their facilitating
    synapse (Fig. 1B, NEST's tsodyks_facilitating example): U = 0.03, τ_rec = 130 ms,
    τ_fac = 530 ms, τ_psc = 1.5 ms.

    Attributes:
        U: utilisation increment per spike, in (0, 1] (NEST allows [0, 1]; U = 0 never releases).
        tau_rec: recovery time constant of the inactive resources, ms, > 0.
        tau_fac: facilitation time constant of u, ms, >= 0 (0: u = U at every spike).
        tau_psc: decay time constant of the active resources y, ms, > 0 and ≠ tau_rec
            (NEST's propagator divides by τ_psc − τ_rec); set it to the receptor's τ.
    """

    U: Float[ArrayLike, "*shape"] = 0.5
    tau_rec: Float[ArrayLike, "*shape"] = 800.0  # ms
    tau_fac: Float[ArrayLike, "*shape"] = 0.0  # ms
    tau_psc: Float[ArrayLike, "*shape"] = 3.0  # ms

    kernel_model = 0

    def __check_init__(self):
        _check("TsodyksSynapse", U=self.U, tau_rec=self.tau_rec, tau_fac=self.tau_fac, tau_psc=self.tau_psc)
        a, b = concrete(self.tau_psc), concrete(self.tau_rec)
        if a is not None and b is not None and np.any(np.asarray(a) == np.asarray(b)):
            raise ValueError(
                f"TsodyksSynapse: tau_psc must differ from tau_rec (NEST's propagator divides by their "
                f"difference), got both {show(np.asarray(a)[np.asarray(a) == np.asarray(b)] if np.ndim(a) else a)} ms"
            )

    def parameter_arrays(self):
        return (self.U, self.tau_rec, self.tau_fac, self.tau_psc)

    @classmethod
    def from_parameters(cls, U, tau_rec, tau_fac, tau_psc):
        return cls(U=U, tau_rec=tau_rec, tau_fac=tau_fac, tau_psc=tau_psc)

    def initial_state(self, shape, dtype):
        return {"u": jnp.zeros(shape, dtype), "x": jnp.ones(shape, dtype), "y": jnp.zeros(shape, dtype),
                "last": jnp.full(shape, -1, jnp.int32)}

    def on_spike(self, state, h):
        dtype = h.dtype
        U, tau_rec, tau_psc = (jnp.asarray(p, dtype) for p in (self.U, self.tau_rec, self.tau_psc))
        p_uu, p_yy, p_zz = _decay(h, self.tau_fac), jnp.exp(-h / tau_psc), jnp.exp(-h / tau_rec)
        p_xy = ((p_zz - 1.0) * tau_rec - (p_yy - 1.0) * tau_psc) / (tau_psc - tau_rec)
        p_xz = 1.0 - p_zz
        u, x, y = state["u"], state["x"], state["y"]
        z = 1.0 - x - y
        u = u * p_uu
        x = x + p_xy * y + p_xz * z
        y = y * p_yy
        u = u + U * (1.0 - u)
        released = u * x
        return {"u": u, "x": x - released, "y": y + released}, released


class UXSynapse(AbstractShortTermPlasticity):
    """The u·x model of Markram, Wang & Tsodyks (1998), as in Brian2's STP example.

    Defaults: the depressing set U = 0.5, τ_rec = 800 ms, τ_fac = 0 (Tsodyks, Pawelzik &
    Markram 1998, Fig. 1A). Brian2's example (examples/synapses/short_term_plasticity2 of
    Brian 1.4, ported to Brian2) uses U = 0.1, τ_d = 1 ms, τ_f = 100 ms (facilitating) and
    U = 0.6, τ_d = 100 ms, τ_f = 10 ms (depressing); its τ_d is `tau_rec`, its τ_f `tau_fac`.

    Attributes:
        U: release probability at rest and increment per spike, in (0, 1].
        tau_rec: recovery time constant of x, ms, > 0.
        tau_fac: relaxation time constant of u to U, ms, >= 0 (0: u = U at every spike).
    """

    U: Float[ArrayLike, "*shape"] = 0.5
    tau_rec: Float[ArrayLike, "*shape"] = 800.0  # ms
    tau_fac: Float[ArrayLike, "*shape"] = 0.0  # ms

    kernel_model = 1

    def __check_init__(self):
        _check("UXSynapse", U=self.U, tau_rec=self.tau_rec, tau_fac=self.tau_fac)

    def parameter_arrays(self):
        return (self.U, self.tau_rec, self.tau_fac, 0.0)

    @classmethod
    def from_parameters(cls, U, tau_rec, tau_fac, tau_psc):
        return cls(U=U, tau_rec=tau_rec, tau_fac=tau_fac)

    def initial_state(self, shape, dtype):
        return {"u": jnp.broadcast_to(jnp.asarray(self.U, dtype), shape), "x": jnp.ones(shape, dtype),
                "last": jnp.full(shape, -1, jnp.int32)}

    def on_spike(self, state, h):
        U = jnp.asarray(self.U, h.dtype)
        x = 1.0 + (state["x"] - 1.0) * jnp.exp(-h / jnp.asarray(self.tau_rec, h.dtype))
        u = U + (state["u"] - U) * _decay(h, self.tau_fac)
        released = u * x
        return {"u": u + U * (1.0 - u), "x": x - released}, released


# --------------------------------------------------------------------------- delivery


def update_short_term(
    rule: AbstractShortTermPlasticity,
    state: dict,
    spiked: Bool[Array, " n_pre"] | Float[Array, " n_pre"],
    step: Int[ArrayLike, ""],
    dt: float,
) -> tuple[dict, Float[Array, "*shape"]]:
    """(new state, amplitude u·x per state entry, 0 where no spike): pure JAX, elementwise.

    `spiked` is this projection's (n_pre,) slice; float spikes (surrogate gradients) scale
    the amplitude. The state of silent neurons is unchanged.
    """
    last = state["last"]
    dtype = state["x"].dtype
    mask = spiked != 0
    scale = None if spiked.dtype == jnp.bool_ else spiked.astype(dtype)
    if last.ndim == 2:  # per-synapse state: per-neuron parameters and spikes along the rows
        mask = mask[:, None]
        scale = None if scale is None else scale[:, None]
        rule = rule.from_parameters(*(p[:, None] if np.ndim(p) == 1 else p for p in rule.parameter_arrays()))
    h = (jnp.asarray(step, jnp.int32) - last).astype(dtype) * jnp.asarray(dt, dtype)
    new, released = rule.on_spike(state, h)
    out = {k: jnp.where(mask, v, state[k]) for k, v in new.items()}
    out["last"] = jnp.where(mask, jnp.asarray(step, jnp.int32), last)
    amp = jnp.where(mask, released, 0.0)
    return out, amp if scale is None else amp * scale


def deliver_short_term(
    target: Float[Array, " n_total"],
    conn: Connectivity,
    rule: AbstractShortTermPlasticity,
    state: dict,
    spiked: Bool[Array, " n_spikes"] | Float[Array, " n_spikes"],
    step: Int[ArrayLike, ""],
    dt: float,
    post_start: int = 0,
    *,
    pre_start: int = 0,
    method: str | None = None,
    ring: Float[Array, "rows n_post"] | None = None,
) -> tuple:
    """Deliver this step's spikes with weights scaled by u·x and advance the STP state.

    out[post_start + post_idx[i, k]] += weight[i, k] · u_i x_i (released fraction of spike i,
    or of synapse (i, k) with per-synapse state) for every i that spiked.

    Arguments:
        target: (n_total,) values the synapses add to (float32/float64).
        conn, post_start, pre_start, method: as in `neurodyn.network.delivery.deliver`.
        rule: the `TsodyksSynapse` or `UXSynapse`; state: its state (from `initial_state`).
        spiked: the spikes (bool, or float from surrogate runs) of the whole network or
            source, the presynaptic population starting at `pre_start`.
        step: the global step index (int32 scalar; spike times are step × dt).
        dt: the step, ms (static).
        ring: with per-synapse delays (`conn.delay`), the projection's ring buffer; then
            this returns (target, ring, state) as `deliver_delayed` does.

    Returns:
        (target, state), or (target, ring, state) when `ring` is given.
    """
    from .delivery import _choose, deliver, deliver_delayed

    spiked = jnp.asarray(spiked)
    pre = jax.lax.slice_in_dim(spiked, pre_start, pre_start + conn.n_pre)
    per_synapse = state["last"].ndim == 2
    impl = _choose(method, jnp.asarray(target).dtype)
    if (ring is None and impl == "ffi" and spiked.dtype == jnp.bool_
            and np.dtype(jnp.asarray(target).dtype) in _FFI_DTYPES):
        return _deliver_ffi(target, conn, rule, state, spiked, step, dt, post_start, pre_start)
    state, amp = update_short_term(rule, state, pre, step, dt)
    if per_synapse:  # per-synapse amplitudes (spike values included): the weights of this step
        conn = eqx.tree_at(lambda c: c.weight, conn, jnp.broadcast_to(conn.weight, amp.shape) * amp)
        amp = pre != 0
    if ring is None:
        return deliver(target, conn, amp, post_start, method=method), state
    target, ring = deliver_delayed(target, ring, conn, amp, step, post_start, method=method)
    return target, ring, state


def _deliver_ffi(target, conn, rule, state, spiked, step, dt, post_start, pre_start):
    """The fused kernel: state update of the spiking rows and delivery in one C++ pass."""
    dtype = target.dtype
    params = tuple(jnp.asarray(p, dtype) for p in rule.parameter_arrays())
    has_y = "y" in state
    y = state["y"] if has_y else jnp.zeros((0,), dtype)
    weight = jnp.asarray(conn.weight)
    if weight.dtype != dtype:
        weight = weight.astype(dtype)
    static = (int(post_start), conn.n_post, int(pre_start), type(rule), float(dt))
    out, u, x, y, last = _fused(static, target, conn.post_idx, weight, spiked, state["u"], state["x"], y,
                                state["last"], jnp.asarray(step, jnp.int32), *params)
    new = {"u": u, "x": x, "last": last}
    if has_y:
        new["y"] = y
    return out, new


# `static` = (post_start, n_post, pre_start, rule class, dt).
@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _fused(static, *args):
    post_start, n_post, pre_start, cls, dt = static
    kernel = _ffi_call(post_start, n_post, pre_start, cls.kernel_model, dt)
    # the kernel is CPU-only: one traced function serves every device, as `deliver` does
    return jax.lax.platform_dependent(*args, cpu=lambda *a: tuple(kernel(*a)),
                                      default=functools.partial(_fused_jax, static))


@_fused.defjvp
def _fused_jvp(static, primals, tangents):
    """The kernel's tangent is the pure-JAX path's (same function, differentiable)."""
    out = _fused(static, *primals)
    _, d_out = jax.jvp(functools.partial(_fused_jax, static), primals, tangents)
    return out, d_out


def _fused_jax(static, target, post_idx, weight, spiked, u, x, y, last, step, U, tau_rec, tau_fac, tau_psc):
    """What the kernel computes, in pure JAX (its derivative rule)."""
    from .delivery import _deliver

    post_start, n_post, pre_start, cls, dt = static
    rule = cls.from_parameters(U, tau_rec, tau_fac, tau_psc)
    state = {"u": u, "x": x, "last": last, **({"y": y} if y.size else {})}
    n_pre = post_idx.shape[0]
    pre = jax.lax.slice_in_dim(spiked, pre_start, pre_start + n_pre)
    state, amp = update_short_term(rule, state, pre, step, dt)
    if last.ndim == 2:
        weight, amp = jnp.broadcast_to(weight, amp.shape) * amp, pre
    out = _deliver("jax", (post_start, n_post, 0), target, post_idx, weight, amp)
    return out, state["u"], state["x"], state.get("y", y), state["last"]


@functools.cache
def _ffi_call(post_start: int, n_post: int, pre_start: int, model: int, dt: float):
    from ._build import FFI_TARGET_STP, kernel_info

    if not kernel_info()["available"]:  # pragma: no cover - _choose said "ffi"
        raise RuntimeError(kernel_info()["reason"])

    def call(target, post_idx, weight, spiked, u, x, y, last, step, U, tau_rec, tau_fac, tau_psc):
        shapes = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in (target, u, x, y, last)]
        return jax.ffi.ffi_call(
            FFI_TARGET_STP, shapes, vmap_method="sequential",
            input_output_aliases={0: 0, 4: 1, 5: 2, 6: 3, 7: 4},
        )(target, post_idx, weight, spiked, u, x, y, last, step, U, tau_rec, tau_fac, tau_psc,
          post_start=np.int64(post_start), n_post=np.int64(n_post), pre_start=np.int64(pre_start),
          model=np.int64(model), dt=np.float64(dt))

    return call
