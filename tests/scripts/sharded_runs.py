"""Run on 4 (forced host) devices and on 1: prints JSON with both sets of spikes.

Started by tests/test_parallel.py in a fresh process, since XLA_FLAGS must be set before
JAX starts: XLA_FLAGS=--xla_force_host_platform_device_count=4.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np

import neurodyn as nd
from neurodyn.network import (
    ConductanceSynapse,
    Network,
    Projection,
    fixed_probability,
    random_initial_state,
    simulate_network,
)
from neurodyn.parallel import shard_batch, shard_population, vmap_sharded

assert len(jax.devices()) == 4, jax.devices()
out = {}

# 1. One HH population split along its neuron axis.
n = 64
model = nd.HodgkinHuxley(g_na=jnp.linspace(100.0, 140.0, n))
current = jnp.linspace(0.0, 15.0, n)
single = nd.simulate(model, 50.0, 0.01, input=current, record=())
sharded_model, sharded_input = shard_population((model, current), n)
sharded = nd.simulate(sharded_model, 50.0, 0.01, input=sharded_input, record=())
out["population"] = {
    "devices": len(sharded.final_state.y["v"].sharding.device_set),
    "single": [np.asarray(x).tolist() for x in single.spikes()],
    "sharded": [np.asarray(x).tolist() for x in sharded.spikes()],
}

# 2. A batch of 4 COBA networks (different drives and initial states) split across devices.
n, n_e = 200, 160
k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
net = Network(
    nd.LIF(tau_m=20.0, v_rest=-60.0, threshold=-50.0, v_reset=-60.0, refractory_period=5.0),
    [ConductanceSynapse("ge", tau=5.0, reversal=0.0), ConductanceSynapse("gi", tau=10.0, reversal=-80.0)],
    {"E": n_e, "I": n - n_e},
    [Projection("E", "all", fixed_probability(k1, n_e, n, 0.1, 0.6), "ge", delay=0.5),
     Projection("I", "all", fixed_probability(k2, n - n_e, n, 0.1, 6.7), "gi")],
)
keys = jax.random.split(k3, 4)
y0 = jax.vmap(lambda k: random_initial_state(k, net, {"v": -55.0, "ge": 0.4, "gi": 2.0}, {"v": 5.0, "ge": 0.15, "gi": 1.2}))(keys)
drive = jnp.array([12.0, 15.0, 18.0, 21.0])


@jax.jit
def batch(y0, drive):
    return jax.vmap(lambda y, d: simulate_network(net, 40.0, 0.1, initial_state=y, input=d).spike_counts)(y0, drive)


one = batch(y0, drive)
y0_s, drive_s = shard_batch((y0, drive))
many = batch(y0_s, drive_s)
out["batch"] = {
    "devices": len(many.sharding.device_set),
    "single": np.asarray(one).tolist(),
    "sharded": np.asarray(many).tolist(),
}
# 3. The same batch through vmap_sharded (shard_map: each device runs its own networks,
#    the C++ delivery kernel included) and through the HLO of one device's share.
run = lambda y, d: simulate_network(net, 40.0, 0.1, initial_state=y, input=d).spike_counts
per_device = jax.jit(vmap_sharded(run))(y0, drive)
out["vmap_sharded"] = {
    "devices": len(per_device.sharding.device_set),
    "sharded": np.asarray(per_device).tolist(),
    "one_share": sorted({len(s.data) for s in per_device.addressable_shards}),
    "two_devices_one_at_a_time": np.asarray(
        jax.jit(vmap_sharded(run, jax.devices()[:2], batch_size=1))(y0, drive)).tolist(),
}
try:
    vmap_sharded(run)(y0, drive[:3])
except ValueError as e:
    out["bad_vmap_sharded"] = str(e)
try:
    shard_batch(jnp.zeros((3, 5)))
except ValueError as e:
    out["bad_batch"] = str(e)
print(json.dumps(out))
