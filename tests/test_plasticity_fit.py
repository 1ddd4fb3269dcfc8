"""Differentiable plasticity: the STDP rule's parameters are pytree leaves that `neurodyn.fit`
optimises through a surrogate-spike run (Song, Miller & Abbott 2000 protocol, small).

The gradient is taken through the rule with a steep surrogate (slope 1e4 per mV), i.e. with
the spike trains held fixed: the surrogate gradient through 10⁴ steps of spike dynamics at
the default slope 1 explodes (measured here: |dL/dA₊| ≈ 1e14–1e16 with random signs at
±25–50 % off), while dw/dA₊ at fixed spikes is what the rule defines and has the right sign.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from neurodyn import fit as F
from neurodyn.models import song2000
from neurodyn.network import simulate_network

G_MAX = 0.1
A_TRUE = 0.01 * G_MAX
SLOPE = 1e4


def _built(a_plus, n):
    return song2000(n, key=jax.random.key(0), g_max=G_MAX, a_plus=jnp.asarray(a_plus), a_minus=1.05 * A_TRUE)


def _run(net, y0, t_ms):
    return simulate_network(net, t_ms, 0.1, key=jax.random.key(1), surrogate="fast_sigmoid",
                            surrogate_slope=SLOPE, check=False, initial_state=y0)


def _mean_w(net, y0, t_ms):
    return jnp.mean(_run(net, y0, t_ms).final_state.buffers[0].weight)


def test_gradient_through_the_rule_matches_finite_differences():
    """d(mean final weight)/dA₊ by reverse mode through the dense plastic update vs a central
    difference with the same input spikes (h = 0.1 % of A₊; the weights are smooth in A₊ while
    the output spikes do not change, checked)."""
    n, t_ms = 100, 200.0
    y0 = _built(A_TRUE, n).initial_state
    net = _built(A_TRUE, n).network
    grad = jax.grad(lambda a: _mean_w(net_with(net, a), y0, t_ms))(jnp.asarray(A_TRUE))
    h = 0.001 * A_TRUE
    runs = [_run(net_with(net, A_TRUE + s * h), y0, t_ms) for s in (1, -1)]
    np.testing.assert_array_equal(runs[0].spike_times, runs[1].spike_times)
    assert int(runs[0].n_spikes) > 8  # the output neuron fires: post spikes potentiate
    up, down = (float(jnp.mean(r.final_state.buffers[0].weight)) for r in runs)
    fd = (up - down) / (2 * h)
    assert fd > 0  # more potentiation, heavier weights
    assert float(grad) == pytest.approx(fd, rel=0.02)


def net_with(net, a_plus):
    import equinox as eqx

    return eqx.tree_at(lambda m: m.projections[0].plasticity.a_plus, net, a_plus)


@pytest.mark.slow
@pytest.mark.parametrize("start", [0.5, 1.5])
def test_fit_recovers_a_plus_from_the_final_weights(start):
    """Train with A₊ = 0.01 gmax, then recover A₊ from the mean final weight starting ±50 % off."""
    n, t_ms = 100, 1000.0
    y0 = _built(A_TRUE, n).initial_state
    target = _mean_w(_built(A_TRUE, n).network, y0, t_ms)

    def loss(net):
        return ((_mean_w(net, y0, t_ms) - target) / target) ** 2

    res = F.fit(_built(start * A_TRUE, n).network, loss, params=lambda m: m.projections[0].plasticity.a_plus,
                transforms=F.Positive(), optimizer=optax.adam(0.1), steps=60, tol=1e-6, progress=False)
    a_fit = float(res.params["projections[0].plasticity.a_plus"])
    assert a_fit == pytest.approx(A_TRUE, rel=0.03), np.asarray(res.loss_history)
