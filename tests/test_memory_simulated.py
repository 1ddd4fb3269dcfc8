"""Simulated memories in the harness: the continuous 1984 network (run by `simulate`) and
the spiking LIF E/I attractor network (run by `neurodyn.network`).

Expected facts: both retrieve at low load from 10 %-flipped cues; the graded and the
spiking networks hold fewer patterns than the binary network with the same weights
(Hopfield 1984: the graded network approaches the binary one only as the gain grows; the
spiking network's rates are graded, see neurodyn/memory/spiking.py); the spiking network
retrieves within a stated time, with its on-neurons at the rate its construction predicts.
"""

import jax.random as jr
import numpy as np
import pytest

from neurodyn.memory import (
    ClassicalMemory,
    ContinuousMemory,
    SpikingMemory,
    capacity_curve,
    flip,
    random_pattern_sets,
)
from neurodyn.memory.spiking import on_rate_khz


def test_continuous_network_retrieves_at_low_load_within_a_few_time_constants():
    n = 120
    sets = random_pattern_sets(jr.key(0), 1, 6, n)  # α = 0.05
    curve = capacity_curve(ContinuousMemory(), jr.key(1), sets, [6], corruption=("flip", 0.1))
    assert curve.fraction_retrieved.min() == 1.0
    assert curve.mean_overlap.min() > 0.99  # tanh(4u) saturates near ±1
    # τ = 10 ms: settled within 5 τ (measured ≈ 8 ms at this load)
    assert 0 < curve.mean_time_ms.max() < 50.0


def test_spiking_network_holds_fewer_patterns_than_the_binary_network():
    n = 100
    counts = [4, 8, 12, 16, 20, 25]  # α = 0.04 … 0.25
    sets = random_pattern_sets(jr.key(0), 2, 25, n)
    cue = ("flip", 0.1)
    binary = capacity_curve(ClassicalMemory(), jr.key(1), sets, counts, corruption=cue)
    spiking = capacity_curve(SpikingMemory(), jr.key(1), sets, counts, corruption=cue)
    # both retrieve everything at α = 0.04
    assert binary.fraction_retrieved[0].min() == 1.0
    assert spiking.fraction_retrieved[0].min() == 1.0
    # critical loads: binary (≈ 0.2 at N = 100) above spiking (≈ 0.12)
    assert spiking.critical_load < binary.critical_load - 0.03
    assert 0.06 < spiking.critical_load < 0.18
    # retrieval time from cue onset (cue on for 30 ms): within 60 ms at low load
    assert np.all(spiking.mean_time_ms[:2] <= 60.0)


def test_spiking_rates_match_the_rate_to_spike_mapping():
    n = 100
    x = random_pattern_sets(jr.key(0), 1, 4, n)[0]
    model = SpikingMemory()
    memory = model.store(x, np.ones(4, bool))
    act = model.activity(memory, flip(jr.key(1), x[0], 0.1), jr.key(2))
    # r_on = LIF rate at θ + G/2 = 120 mV: 1/(10 + 20 ln(110/100)) ms = 84 Hz
    assert act["predicted_rate_on_hz"] == pytest.approx(1000 * on_rate_khz(200.0)) == pytest.approx(84.0, abs=0.1)
    assert act["rate_on_hz"] == pytest.approx(84.0, rel=0.2)
    assert act["rate_off_hz"] < 5.0
    # one relay spike per E spike: the inhibitory population fires as often as the E one
    on_fraction = float(np.mean(np.asarray(x[0]) > 0))
    assert act["rate_inhibitory_hz"] == pytest.approx(on_fraction * act["rate_on_hz"], rel=0.15)
    assert act["cv_isi_on"] < 0.3  # deterministic, strongly driven: regular firing


def test_simulated_models_reject_bad_settings():
    with pytest.raises(ValueError, match="gain must be a finite number > 0"):
        ContinuousMemory(gain=-1.0)
    with pytest.raises(ValueError, match="divisible by record_every"):
        ContinuousMemory(t1=100.0, dt=0.3)
    with pytest.raises(ValueError, match="cue_ms \\+ window_ms"):
        SpikingMemory(t1=60.0)
