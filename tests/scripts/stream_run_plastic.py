"""stream_run.py's network with plastic E->E synapses (additive STDP, dendritic delay), for
the killed-and-resumed test of plastic weights (tests/test_plasticity.py).

    python stream_run_plastic.py DIRECTORY T1_MS [--resume]
"""

import sys
from pathlib import Path

import jax.numpy as jnp

sys.path.insert(0, str(Path(__file__).parent))
import stream_run  # noqa: E402

import neurodyn as nd  # noqa: E402
from neurodyn.network import STDP, Connectivity, Network, Projection, simulate_network  # noqa: E402


def network():
    net, y0 = stream_run.network()
    e_e = net.projections[0]
    c = e_e.connectivity
    plastic = Projection(e_e.pre, e_e.post, Connectivity(c.post_idx, jnp.where(c.post_idx < c.n_post, 0.6, 0.0),
                                                         c.n_pre, c.n_post),
                         e_e.receptor, delay=e_e.delay, plasticity=STDP(a_plus=0.02, a_minus=0.021, w_max=1.2))
    net = Network(net.neuron, net.synapses, {p[0]: p[2] - p[1] for p in net.populations},
                  (plastic, *net.projections[1:]), net.sources, net.poisson_inputs, net.drives)
    return net, y0


def run(directory, t1: float, resume: bool = False):
    net, y0 = network()
    state = nd.monitors.load_state(directory) if resume else y0
    return simulate_network(net, t1, stream_run.DT, initial_state=state, stream_to=directory,
                            progress=max(1, round(t1 / 10.0)), **stream_run.KW)


if __name__ == "__main__":
    run(sys.argv[1], float(sys.argv[2]), resume="--resume" in sys.argv)
