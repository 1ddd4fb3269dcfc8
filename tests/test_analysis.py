"""neurodyn.analysis against analytic values: regular and Poisson spike trains, a known raster,
and the LIF f–I curve r(I) = 1/(t_ref + τm ln((R·I + EL − Vr)/(R·I + EL − Vth))).
"""

import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn import analysis


def test_regular_train_rate_and_cv():
    t = 3.0 + 12.5 * np.arange(41)  # 80 Hz, 40 intervals
    assert analysis.isi_rate(t) == pytest.approx(80.0, rel=1e-12)
    assert analysis.isi_rate(t[::-1]) == pytest.approx(80.0, rel=1e-12)  # order does not matter
    cvs = analysis.isi_cvs(t, np.zeros(t.size, int), 1)
    assert cvs[0] == pytest.approx(0.0, abs=1e-12)


def test_poisson_train_cv_is_one():
    """ISIs of a Poisson process are exponential: CV = 1. With n = 20 000 intervals the
    estimate's standard error is ≈ 1/√n ≈ 0.007 (exponential: var(ŝ/m̂) ≈ 1/n); 0.03 is
    4 standard errors."""
    rng = np.random.default_rng(0)
    rate_hz, n = 40.0, 20_000
    t = np.cumsum(rng.exponential(1000.0 / rate_hz, n + 1))
    cv = analysis.isi_cvs(t, np.zeros(t.size, int), 1)[0]
    assert cv == pytest.approx(1.0, abs=0.03)
    # the ISI rate of the same train: relative standard error 1/√n ≈ 0.007
    assert analysis.isi_rate(t) == pytest.approx(rate_hz, rel=0.03)


def test_cv_of_a_known_raster_per_neuron_and_mean():
    # neuron 0: ISIs 10, 10 (CV 0); neuron 1: ISIs 5, 15 (mean 10, std 5: CV 0.5);
    # neuron 2: one spike (NaN); neuron 3: silent (NaN)
    times = np.array([0.0, 10.0, 20.0, 1.0, 6.0, 21.0, 7.0])
    neurons = np.array([0, 0, 0, 1, 1, 1, 2])
    perm = np.random.default_rng(1).permutation(times.size)
    cvs = analysis.isi_cvs(times[perm], neurons[perm], 4)
    np.testing.assert_allclose(cvs[:2], [0.0, 0.5], atol=1e-12)
    assert np.isnan(cvs[2]) and np.isnan(cvs[3])
    assert analysis.mean_isi_cv(times, neurons) == pytest.approx(0.25)
    assert np.isnan(analysis.mean_isi_cv(np.array([1.0]), np.array([0])))


def test_population_rate_of_a_known_raster():
    # 4 neurons, 10 ms bins over 0–30 ms: 2, 0 and 6 spikes → 2/(4·0.01 s) = 50 Hz, 0, 150 Hz
    times = np.array([1.0, 9.9, 20.0, 21.0, 22.0, 23.0, 24.0, 29.99, 30.0])  # 30.0: the last edge
    centres, rate = analysis.binned_rate(times, 4, 0.0, 30.0, 10.0)
    np.testing.assert_allclose(centres, [5.0, 15.0, 25.0])
    np.testing.assert_allclose(rate, [50.0, 0.0, 175.0])  # np.histogram's last bin is closed
    assert analysis.mean_rate(9, 4, 30.0) == pytest.approx(75.0)


def test_lif_f_i_curve_isi_rate_matches_analytic_and_count_rate_is_quantised():
    """Exact mode locates threshold crossings on the dense output, so 1/mean ISI matches the
    analytic rate to float32 precision (measured < 1e-5); the count rate over an 800 ms
    window is quantised to 1.25 Hz and so is off by up to that."""
    model = nd.LIF()
    drives = jnp.array([10.5, 12.0, 20.0, 50.0])
    expected = np.asarray(model.analytic_rate(drives))
    isi = np.asarray(analysis.f_i_curve(model, drives, t1=1000.0, t_start=200.0, mode="exact"))
    np.testing.assert_allclose(isi, expected, rtol=1e-4)
    count = np.asarray(analysis.f_i_curve(model, drives, t1=1000.0, t_start=200.0, mode="exact",
                                          rate="count"))
    assert np.all(np.abs(count - expected) <= 1.25 + 1e-6)
    assert np.max(np.abs(count - expected)) > 0.1  # the quantisation shows


def test_firing_rates_and_isi_cv_of_a_result():
    drives = jnp.array([5.0, 20.0])  # below and above rheobase (10 mV)
    res = nd.simulate(nd.LIF(), 500.0, 0.1, input=drives, mode="exact", record=())
    rates = analysis.firing_rates(res)
    assert rates[0] == 0.0
    assert rates[1] == pytest.approx(83.81, abs=0.01)  # Brian2's IF-curve example value
    cv = analysis.isi_cv(res)
    assert np.isnan(cv[0]) and cv[1] < 1e-3  # regular firing


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: analysis.isi_rate(np.array([1.0])), "need at least two spikes"),
        (lambda: analysis.isi_rate(np.array([1.0, np.inf])), "spike_times must be finite"),
        (lambda: analysis.mean_rate(3, 0, 10.0), "n_neurons must be an integer >= 1"),
        (lambda: analysis.mean_rate(3, 2, 0.0), "duration_ms must be"),
        (lambda: analysis.binned_rate(np.array([1.0]), 1, 0.0, 10.0, 3.0), "whole number of bins"),
        (lambda: analysis.binned_rate(np.array([1.0]), 1, 0.0, 10.0, 0.0), "need bin_ms > 0"),
        (lambda: analysis.binned_rate(np.array([1.0]), 1, 0.0, float("nan")), "t1 must be a finite"),
        (lambda: analysis.isi_cvs(np.array([1.0, 2.0]), np.array([0, 5]), 2), r"spike_neurons must lie in \[0, 2\)"),
        (lambda: analysis.isi_cvs(np.array([1.0]), np.array([0]), 1, min_spikes=2), "min_spikes must be"),
        (lambda: analysis.f_i_curve(nd.LIF(), np.array([20.0]), rate="mean"), "rate must be 'isi' or 'count'"),
        (lambda: analysis.f_i_curve(nd.LIF(), np.array([20.0]), t1=100.0, t_start=200.0), "t_start must satisfy"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
