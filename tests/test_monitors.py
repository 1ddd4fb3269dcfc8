"""Monitors and long runs: population rate counts, streaming to disk, save/resume."""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.monitors import load_state, load_stream, save_state
from neurodyn.network import Network, simulate_network

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import stream_run  # noqa: E402


def _noisy_coba(n=200):
    """A small COBA network with a delay, Poisson sources and Poisson input (random draws):
    the network of the crash tests (tests/scripts/stream_run.py)."""
    return stream_run.network(n)


KW = dict(input=15.0, key=jax.random.key(7), rate_every=10, record=("v",), record_every=5)


@pytest.fixture(scope="module")
def whole():
    net, y0 = _noisy_coba()
    return simulate_network(net, 60.0, 0.1, initial_state=y0, **KW)


def test_rate_monitor_counts_every_spike_per_population(whole):
    times, neurons = whole.spikes()
    assert int(whole.n_spikes) > 200  # active: the comparison means something
    assert whole.rate_counts.shape == (60, 2)  # 600 steps / 10 per bin, populations E and I
    for j, (name, lo, hi) in enumerate([("E", 0, 160), ("I", 160, 200)]):
        mine = (neurons >= lo) & (neurons < hi)
        # a spike detected at the end of step s has time t0 + (s+1) dt: bin s // 10
        step = np.round(times[mine] / 0.1).astype(int) - 1
        np.testing.assert_array_equal(whole.rate_counts[:, j], np.bincount(step // 10, minlength=60))
        t, rate = whole.population_rate(name)
        np.testing.assert_allclose(t[:3], [0.0, 1.0, 2.0])
        assert rate.mean() == pytest.approx(mine.sum() / (hi - lo) / 0.06, rel=1e-5)


def test_streamed_and_resumed_run_equals_the_uninterrupted_one(whole, tmp_path):
    net, y0 = _noisy_coba()
    first = simulate_network(net, 30.0, 0.1, initial_state=y0, stream_to=tmp_path, progress=3, **KW)
    assert first.spike_times.shape == (0,) and int(first.n_spikes) > 0  # spikes went to disk
    # "stop" here; a new process would continue from the saved state:
    resumed = simulate_network(net, 60.0, 0.1, initial_state=load_state(tmp_path), stream_to=tmp_path, progress=2, **KW)
    assert len(list(tmp_path.glob("chunk_*.npz"))) == 6  # 3 chunks, then 3 more on the stream's 100-step grid
    disk = load_stream(tmp_path)
    assert int(disk.n_spikes) == int(first.n_spikes) + int(resumed.n_spikes) == int(whole.n_spikes)
    np.testing.assert_array_equal(disk.spikes()[1], whole.spikes()[1])
    np.testing.assert_allclose(disk.spikes()[0], whole.spikes()[0], atol=1e-4)  # float32 t0 + k dt
    np.testing.assert_allclose(disk.traces["v"], whole.traces["v"], atol=1e-4)
    np.testing.assert_array_equal(disk.rate_counts, whole.rate_counts)
    np.testing.assert_array_equal(disk.spike_counts, whole.spike_counts)
    for k in whole.final_state.y:
        np.testing.assert_allclose(disk.final_state.y[k], whole.final_state.y[k], atol=1e-4)
    assert int(disk.final_state.step) == 600


def test_state_round_trips_through_a_file(whole, tmp_path):
    save_state(tmp_path / "s.npz", whole.final_state)
    back = load_state(tmp_path / "s.npz")
    for a, b in zip(jax.tree.leaves(whole.final_state), jax.tree.leaves(back)):
        np.testing.assert_array_equal(a, b)
    assert back.buffers[1] is None and back.buffers[0].shape == (5, 200)
    with pytest.raises(FileNotFoundError, match="no saved state"):
        load_state(tmp_path / "missing.npz")


def test_rate_monitor_bad_input():
    with pytest.raises(ValueError, match="rate_every=3 steps must divide"):
        nd.simulate(nd.LIF(), 1.0, 0.1, rate_every=3)
    with pytest.raises(ValueError, match="rate_every must be an integer >= 1"):
        nd.simulate(nd.LIF(), 1.0, 0.1, rate_every=0)
    with pytest.raises(ValueError, match="needs a spiking model"):
        nd.simulate(nd.HodgkinHuxley(), 1.0, 0.1, rate_every=5, mode="exact")


# --------------------------------------------------------------------------- monitor objects


def test_monitor_objects_equal_the_shorthand_and_each_works_alone(whole):
    """monitors=[...] gives the same numbers as the keyword shorthand; each monitor alone
    fills only its own fields; a WeightMonitor records the chosen weights every k steps."""
    net, y0 = _noisy_coba()
    kw = dict(input=15.0, key=jax.random.key(7), initial_state=y0)
    w_idx = np.array([0, 5, 17])
    weights = nd.WeightMonitor(lambda m: m.projections[0].connectivity.weights_full(), w_idx, every=20, name="EE")
    both = simulate_network(net, 60.0, 0.1, monitors=[
        nd.SpikeMonitor(), nd.StateMonitor("v", every=5), nd.RateMonitor(10), weights,
    ], **kw)
    for field in ("spike_times", "spike_neurons", "spike_counts", "times", "rate_counts"):
        np.testing.assert_array_equal(getattr(both, field), getattr(whole, field))
    np.testing.assert_array_equal(both.traces["v"], whole.traces["v"])
    w = np.ravel(np.asarray(net.projections[0].connectivity.weights_full()))[w_idx]
    assert both.weights["EE"].shape == (30, 3)  # 600 steps / 20
    np.testing.assert_array_equal(both.weights["EE"], np.broadcast_to(w, (30, 3)))
    np.testing.assert_allclose(both.weight_times["EE"], 2.0 * np.arange(30), atol=1e-4)

    rate_only = simulate_network(net, 60.0, 0.1, monitors=[nd.RateMonitor(10)], **kw)
    np.testing.assert_array_equal(rate_only.rate_counts, whole.rate_counts)
    assert rate_only.spike_times.shape == (0,) and rate_only.traces == {}
    assert int(rate_only.n_spikes) == int(whole.n_spikes)  # counts are the loop's own

    small = simulate_network(net, 60.0, 0.1, monitors=[nd.SpikeMonitor(max_spikes=50)], check=False, **kw)
    assert int(small.n_spikes_stored) == 50
    assert int(small.spikes_dropped) == int(whole.n_spikes) - 50
    np.testing.assert_array_equal(small.spike_times, whole.spike_times[:50])


def test_chunked_runs_merge_through_the_monitors(whole):
    net, y0 = _noisy_coba()
    weights = nd.WeightMonitor(lambda m: m.projections[1].connectivity.weight, [1, 2], every=50)
    chunked = simulate_network(net, 60.0, 0.1, initial_state=y0, input=15.0, key=jax.random.key(7),
                               progress=4, monitors=[nd.SpikeMonitor(), nd.StateMonitor("v", every=5),
                                                     nd.RateMonitor(10), weights])
    for a, b in zip(chunked.spikes(), whole.spikes()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(chunked.traces["v"], whole.traces["v"])
    np.testing.assert_array_equal(chunked.rate_counts, whole.rate_counts)
    assert chunked.weights["weights"].shape == (12, 2)


@pytest.mark.no_typecheck  # checks the monitors' own messages; the annotation hook would answer first
def test_monitor_arguments_are_checked():
    with pytest.raises(TypeError, match="SpikeMonitor.max_spikes must be an integer"):
        nd.SpikeMonitor(max_spikes=10.5)
    with pytest.raises(ValueError, match="StateMonitor.every must be an integer >= 1"):
        nd.StateMonitor("v", every=0)
    with pytest.raises(ValueError, match="at most one RateMonitor"):
        nd.simulate(nd.LIF(), 1.0, 0.1, monitors=[nd.RateMonitor(1), nd.RateMonitor(2)])
    with pytest.raises(ValueError, match="unknown variable 'x'"):
        nd.simulate(nd.LIF(), 1.0, 0.1, monitors=[nd.StateMonitor("x")])
    with pytest.raises(ValueError, match="needs a spiking model in mode='clock'"):
        nd.simulate(nd.LIF(), 1.0, 0.1, mode="exact", monitors=[nd.RateMonitor(1)])


def test_network_resolves_its_delivery_once(monkeypatch):
    """The implementation is chosen when the Network is built, not read while tracing."""
    net, _ = _noisy_coba(20)
    monkeypatch.setenv("NEURODYN_DELIVERY", "jax")
    forced = Network(net.neuron, net.synapses, {"E": 16, "I": 4}, net.projections[:2])
    assert forced.delivery == "jax"
    monkeypatch.setenv("NEURODYN_DELIVERY", "ffi")  # too late: the network has decided
    y = forced.initial_state(20)
    bufs = forced.delivery_state(20, 0.1, jnp.float32)
    text = str(jax.make_jaxpr(lambda s: forced.deliver(y, bufs, s, 0, None, 0.1))(jnp.ones(20, bool)))
    assert "neurodyn_deliver" not in text
    with pytest.raises(ValueError, match="NEURODYN_DELIVERY must be one of"):
        monkeypatch.setenv("NEURODYN_DELIVERY", "cuda")
        Network(net.neuron, net.synapses, {"E": 16, "I": 4}, net.projections[:2])
