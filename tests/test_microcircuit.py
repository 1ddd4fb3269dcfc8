"""The Potjans & Diesmann (2014) microcircuit: the published parameters, exact synapse numbers,
weight and delay distributions, background and initial potentials, bad inputs.

References used here (independent of the model code):
- PD14 / NEST 3 `Potjans_2014` example: sizes, PSC 87.81 pA for a 0.15 mV PSP, g = −4,
  L4E→L2/3E doubled, DC = K_ext · 8 Hz · τ_syn · J (562 pA onto L2/3E), ≈ 2.99·10⁸ synapses.
- The expected in-degree of `fixed_total_number` with N_syn = ln(1−C)/ln(1−1/(N_pre N_post)):
  N_syn/N_post ≈ −N_pre ln(1−C) (first order in 1/(N_pre N_post)).
- Truncated-normal moments (scipy.stats.truncnorm) for the redrawn weights and delays.
"""

import json
import math
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy import stats

from neurodyn.analysis import population_statistics
from neurodyn.models import potjans_diesmann
from neurodyn.models.potjans_diesmann import (
    CONN_PROBS,
    FULL_MEAN_RATES,
    K_EXT,
    N_FULL,
    POPULATIONS,
    V0_MEAN,
    V0_STD,
    dc_amplitudes,
    full_synapse_numbers,
    memory_estimate,
    psc_over_psp,
    weight_means,
)
from neurodyn.network import DCCurrent, Normal, PoissonDrive, fixed_total_number_blocks
from neurodyn.network import connectivity as connectivity_module

SCALE = 0.01


@pytest.fixture(scope="module")
def built():
    return potjans_diesmann(SCALE, key=jax.random.key(7))


def _blocks(net):
    """{(target, source): (weights, delays in ms)} from the 8 per-source tables."""
    starts = np.array([a for _, a, _ in net.populations] + [net.n])
    out = {}
    for proj in net.projections:
        c = proj.connectivity
        post = np.asarray(c.post_idx)
        mask = post < c.n_post
        w = np.asarray(c.weight)[mask]
        d = np.asarray(c.delay).astype(float)[mask] * c.dt
        target = np.searchsorted(starts, post[mask], side="right") - 1
        for t, name in enumerate(POPULATIONS):
            sel = target == t
            out[(name, proj.pre)] = (w[sel], d[sel])
    return out


def test_published_constants():
    # PD14 / NEST example: 0.15 mV PSP <-> 87.81 pA; DC onto L2/3E = 1600 · 8 Hz · 0.5 ms · J
    assert 0.15 * psc_over_psp() == pytest.approx(87.81, abs=0.005)
    j = 0.15 * psc_over_psp()
    np.testing.assert_allclose(dc_amplitudes("dc"), np.asarray(K_EXT) * 8.0 * 0.5e-3 * j, rtol=1e-12)
    assert dc_amplitudes("dc")[0] == pytest.approx(562.0, abs=0.1)
    assert not dc_amplitudes("poisson").any()
    assert full_synapse_numbers().sum() == pytest.approx(2.99e8, rel=0.005)  # "≈ 2.99·10⁸"
    w, w_ext = weight_means()
    assert w_ext == pytest.approx(87.81, abs=0.005)
    assert w[0, 2] == pytest.approx(2 * 87.81, abs=0.01)  # L4E -> L2/3E doubled
    assert w[3, 5] == pytest.approx(-4 * 87.81, abs=0.02)
    assert sorted(set(np.round(w.ravel(), 2))) == pytest.approx([-351.24, 87.81, 175.62], abs=0.02)


def test_k_scale_preserves_the_mean_input():
    """k_scale < 1 (NEST's K_scaling): in-degrees × k, weights × 1/√k and a DC that keeps the
    mean input Σ_s J_ts K_ts ν_s τ_syn + DC of the full model (at the full-model rates)."""
    n = np.asarray(N_FULL, float)
    indegree = full_synapse_numbers() / n[:, None]
    rates = np.asarray(FULL_MEAN_RATES)
    for background in ("dc", "poisson"):
        full_w, full_ext = weight_means(1.0)
        ext_full = np.asarray(K_EXT) * 8.0 * full_ext * (background == "poisson")
        mean_full = 0.5e-3 * ((full_w * indegree * rates).sum(1) + ext_full) + dc_amplitudes(background, 1.0)
        for k in (0.5, 0.1):
            w, ext = weight_means(k)
            assert ext == pytest.approx(full_ext / math.sqrt(k))
            ext_k = np.asarray(K_EXT) * k * 8.0 * ext * (background == "poisson")
            mean_k = 0.5e-3 * ((w * indegree * k * rates).sum(1) + ext_k) + dc_amplitudes(background, k)
            np.testing.assert_allclose(mean_k, mean_full, rtol=1e-9)


def test_population_sizes_and_neurons(built):
    net = built.network
    sizes = [b - a for _, a, b in net.populations]
    assert [p[0] for p in net.populations] == list(POPULATIONS)
    assert sizes == [round(n * SCALE) for n in N_FULL]
    iaf = net.neuron
    published = (250.0, 10.0, -65.0, -50.0, -65.0, 2.0)  # C_m, τ_m, E_L, V_th, V_reset, t_ref
    assert (iaf.c_m, iaf.tau_m, iaf.e_l, iaf.threshold, iaf.v_reset, iaf.refractory_period) == published
    (syn,) = net.synapses
    assert syn.name == "i_syn" and syn.tau == 0.5
    assert built.dt == 0.1


def test_synapse_numbers_exact_and_in_degrees(built):
    net = built.network
    blocks = _blocks(net)
    n = np.asarray(N_FULL, float)
    for t, target in enumerate(POPULATIONS):
        for s, source in enumerate(POPULATIONS):
            # independent: N_syn = ln(1−C)/ln(1−1/(N_pre N_post)) at full scale, × scale
            c = CONN_PROBS[t, s]
            full = math.log(1 - c) / math.log(1 - 1 / (n[s] * n[t])) if c else 0.0
            assert blocks[(target, source)][0].size == round(full * SCALE), (target, source)
            # in-degree kept from full scale, ≈ −N_pre ln(1 − C), up to the rounding of N_post
            if c:
                n_post = round(n[t] * SCALE)
                k_in = blocks[(target, source)][0].size / n_post
                expected = -n[s] * math.log(1 - c) * n[t] * SCALE / n_post
                assert k_in == pytest.approx(expected, rel=1e-3 + 1 / (k_in * n_post))
    # multapses are allowed (fixed_total_number with replacement): all targets are in range
    for proj in net.projections:
        post = np.asarray(proj.connectivity.post_idx)
        assert post.min() >= 0 and post.max() <= net.n
        assert proj.post == "all" and proj.receptor == "i_syn"
        assert proj.connectivity.delay.dtype == np.uint8  # 1 byte per synapse delay


def test_memory_estimate_stated_before_building_matches_the_tables(built):
    """The bytes stated up front (expected largest out-degree per source) against the tables
    built: within 2 % (the largest of n_pre binomial out-degrees varies by ≈ 0.3 SD around
    its median; at scale 0.01 that is < 1 % of the width)."""
    est = memory_estimate(SCALE)
    tables = sum(p.connectivity.post_idx.nbytes + p.connectivity.weight.nbytes + p.connectivity.delay.nbytes
                 for p in built.network.projections)
    n_syn = sum(int(p.connectivity.n_synapses) for p in built.network.projections)
    assert est["n_synapses"] == n_syn
    assert est["table_bytes"] == pytest.approx(tables, rel=0.02)
    assert est["bytes_per_synapse"] == pytest.approx(tables / n_syn, rel=0.02)
    assert 9.0 < est["bytes_per_synapse"] < 10.0  # 9 bytes per entry, a few % of padding


def _chi2_p_value(chi2: float, df: int) -> float:
    """Upper tail of χ²(df) (Wilson–Hilferty cube-root normal approximation, good for df >= 30)."""
    z = ((chi2 / df) ** (1 / 3) - (1 - 2 / (9 * df))) / math.sqrt(2 / (9 * df))
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_fixed_total_number_blocks_draws_iid_uniform_pairs_per_block(monkeypatch):
    """NEST's fixed_total_number (pairs iid uniform with replacement) per target block, all
    in one table: the pair counts of a block are then Multinomial(n; uniform over pairs), so a
    χ² test over the pairs checks out-degrees and targets at once. Tiny row chunks (many
    chunks over both cores) must give the same law and the same table for the same key."""
    monkeypatch.setattr(connectivity_module, "BLOCK_CHUNK", 64)
    n_pre, n_post = 40, 60
    blocks = [(20_000, 0, 25), (0, 25, 5), (6_000, 30, 30)]
    weights = [Normal(2.0, 0.2, low=0.0), 1.5, Normal(-3.0, 0.3, high=0.0)]
    kw = dict(delay=Normal(1.0, 0.5, low=0.05), dt=0.1)
    conn = fixed_total_number_blocks(jax.random.key(3), n_pre, blocks, n_post, weights, **kw)
    post = np.asarray(conn.post_idx)
    mask = post < n_post
    block = np.select([post < 25, post < 30, post < 60], [0, 1, 2], 3)
    # each row: block 0's entries, then block 2's, then padding
    assert (np.diff(np.where(mask, block, 3), axis=1) >= 0).all()
    w, d = np.asarray(conn.weight), np.asarray(conn.delay).astype(float) * 0.1
    assert not w[~mask].any() and not np.asarray(conn.delay)[~mask].any()
    for b, (n, first, size) in enumerate(blocks):
        sel = mask & (block == b)
        assert sel.sum() == n
        if n:
            rows = np.nonzero(sel)[0]
            counts = np.bincount(rows * size + post[sel] - first, minlength=n_pre * size)
            expected = n / (n_pre * size)
            chi2 = float(((counts - expected) ** 2).sum() / expected)
            assert _chi2_p_value(chi2, n_pre * size - 1) > 1e-4, (b, chi2)
    assert (w[mask & (block == 0)] > 0).all() and (w[mask & (block == 2)] < 0).all()
    for b, mean in ((0, 2.0), (2, -3.0)):
        x = w[mask & (block == b)]
        assert x.mean() == pytest.approx(mean, abs=5 * 0.1 * abs(mean) / math.sqrt(x.size))
        assert x.std() == pytest.approx(0.1 * abs(mean), rel=5 * math.sqrt(0.5 / x.size))
    m, sd = _truncnorm_moments(1.0, 0.5, low=0.05)
    sd = math.sqrt(sd**2 + 0.1**2 / 12)  # + rounding to the 0.1 ms grid
    assert d[mask].min() == pytest.approx(0.1) and d[mask].mean() == pytest.approx(m, abs=5 * sd / math.sqrt(mask.sum()))
    again = fixed_total_number_blocks(jax.random.key(3), n_pre, blocks, n_post, weights, **kw)
    for a, b in ((conn.post_idx, again.post_idx), (conn.weight, again.weight), (conn.delay, again.delay)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = fixed_total_number_blocks(jax.random.key(4), n_pre, blocks, n_post, weights, **kw)
    assert not np.array_equal(np.asarray(other.post_idx), post)


def test_fixed_total_number_blocks_constant_weight_and_long_delays():
    """One number as weight; delays past 255 steps go to an int16 table (same draws)."""
    conn = fixed_total_number_blocks(jax.random.key(0), 30, [(900, 0, 20)], 20, [0.5],
                                     delay=Normal(30.0, 1.0, low=0.0), dt=0.1)
    mask = np.asarray(conn.mask)
    steps = np.asarray(conn.delay)[mask]
    assert conn.delay.dtype == np.int16 and conn.max_delay == steps.max() > 255
    assert steps.mean() == pytest.approx(300.0, abs=5 * 10 / 30)  # N(300, 10) steps, 900 draws
    assert set(np.unique(np.asarray(conn.weight)[mask])) == {np.float32(0.5)}
    no_delay = fixed_total_number_blocks(jax.random.key(0), 30, [(900, 0, 20)], 20, [0.5])
    assert no_delay.delay is None and int(no_delay.n_synapses) == 900
    # a bound that keeps < 1/4 of the mass (2.3 % here): the inverse-CDF draw, not rejection
    tail = fixed_total_number_blocks(jax.random.key(1), 30, [(3000, 0, 20)], 20, [Normal(0.0, 1.0, low=2.0)])
    w = np.asarray(tail.weight)[np.asarray(tail.mask)]
    m, sd = _truncnorm_moments(0.0, 1.0, low=2.0)
    assert w.min() >= 2.0 and w.mean() == pytest.approx(m, abs=5 * sd / math.sqrt(w.size))


@pytest.mark.parametrize("args, kwargs, match", [
    ((4, [(5, 0, 3)], 2, [1.0]), {}, r"blocks\[0\] targets 0…2, outside \[0, 1\]"),
    ((4, [(5, 0, 0)], 2, [1.0]), {}, r"blocks\[0\]\[2\] must be an integer >= 1"),
    ((4, [(-1, 0, 2)], 2, [1.0]), {}, r"blocks\[0\]\[0\] must be an integer >= 0"),
    ((4, [(5, 0)], 2, [1.0]), {}, r"blocks\[0\] must be \(n synapses, first target, size\)"),
    ((4, [], 2, []), {}, "at least one"),
    ((4, [(5, 0, 2)], 2, [1.0, 2.0]), {}, "one entry per block"),
    ((4, [(5, 0, 2)], 2, [float("nan")]), {}, r"weights\[0\] contains NaN or inf"),
    ((4, [(5, 0, 2)], 2, [1.0]), dict(delay=Normal(1.5, 0.75), dt=0.1), "bound it below with low >= 0"),
    ((4, [(5, 0, 2)], 2, [1.0]), dict(delay=1.5), "dt must be the simulation step"),
    ((4, [(5, 0, 2)], 2, [1.0]), dict(dt=0.1), "give it together with delay"),
    ((0, [(5, 0, 2)], 2, [1.0]), {}, "n_pre must be an integer >= 1"),
])
@pytest.mark.no_typecheck  # the function's own messages, not the hook's
def test_fixed_total_number_blocks_bad_inputs(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fixed_total_number_blocks(jax.random.key(0), *args, **kwargs)


def _truncnorm_moments(mean, sd, low=-np.inf, high=np.inf):
    a, b = (low - mean) / sd, (high - mean) / sd
    m, v = stats.truncnorm.stats(a, b, loc=mean, scale=sd, moments="mv")
    return float(m), float(np.sqrt(v))


def test_weights_and_delays_per_block_type(built):
    blocks = _blocks(built.network)
    j = 87.81
    kinds = {"E": [], "I": [], "L4E->L23E": []}
    delays = {"E": [], "I": []}
    for (target, source), (w, d) in blocks.items():
        key = "L4E->L23E" if (source, target) == ("L4E", "L23E") else source[-1]
        kinds[key].append(w)
        delays[source[-1]].append(d)
        assert (w > 0).all() if source[-1] == "E" else (w < 0).all()  # sign kept by the redraw
    for key, mean in (("E", j), ("I", -4 * j), ("L4E->L23E", 2 * j)):
        w = np.concatenate(kinds[key])
        sd = 0.1 * abs(mean)  # relative SD 0.1; the redraw at 10 SD changes nothing measurable
        se = sd / math.sqrt(w.size)
        assert w.mean() == pytest.approx(mean, abs=5 * se), key
        assert w.std() == pytest.approx(sd, rel=5 * math.sqrt(0.5 / w.size) + 1e-3), key
    for kind, mean in (("E", 1.5), ("I", 0.75)):
        d = np.concatenate(delays[kind])
        # normal(mean, mean/2) redrawn below dt/2 = 0.05 ms, then rounded to 0.1 ms steps
        m, sd = _truncnorm_moments(mean, 0.5 * mean, low=0.05)
        sd = math.sqrt(sd**2 + 0.1**2 / 12)  # + rounding to the grid
        assert d.min() == pytest.approx(0.1)  # at least one step
        assert d.mean() == pytest.approx(m, abs=5 * sd / math.sqrt(d.size) + 1e-3), kind
        assert d.std() == pytest.approx(sd, rel=0.01), kind


def test_dc_background_and_initial_potentials(built):
    net = built.network
    dcs = {d.target: float(d.amplitude) for d in net.drives if isinstance(d, DCCurrent)}
    assert not any(isinstance(d, PoissonDrive) for d in net.drives)
    for p, pop in enumerate(POPULATIONS):
        assert dcs[pop] == pytest.approx(K_EXT[p] * 8.0 * 0.5e-3 * 87.81, rel=1e-4)
    v = np.asarray(built.initial_state["v"])
    assert not np.asarray(built.initial_state["i_syn"]).any()
    z = []
    for p, (_, a, b) in enumerate(net.populations):
        x = v[a:b]
        z.append((x.mean() - V0_MEAN[p]) / (V0_STD[p] / math.sqrt(x.size)))
        assert x.std() == pytest.approx(V0_STD[p], rel=6 / math.sqrt(2 * x.size))
    assert np.abs(z).max() < 4.5  # each population mean within 4.5 standard errors
    v_all = (v - np.repeat(V0_MEAN, np.diff([a for _, a, _ in net.populations] + [net.n]))) / np.repeat(
        V0_STD, np.diff([a for _, a, _ in net.populations] + [net.n]))
    assert abs(v_all.mean()) < 4 / math.sqrt(v.size) and v_all.std() == pytest.approx(1.0, rel=0.06)


def test_poisson_background_and_thalamus():
    built = potjans_diesmann(0.002, key=jax.random.key(1), background="poisson", thalamic=True)
    net = built.network
    drives = [d for d in net.drives if isinstance(d, PoissonDrive)]
    assert not [d for d in net.drives if isinstance(d, DCCurrent)]
    assert [(d.target, d.n_inputs, float(d.rate), d.delay) for d in drives] == [
        (p, k, 8.0, 1.5) for p, k in zip(POPULATIONS, K_EXT)]
    assert all(float(d.weight) == pytest.approx(87.81, abs=0.005) for d in drives)
    (th,) = net.sources
    assert (th.name, th.size, float(th.rate), th.start, th.stop) == ("TH", round(902 * 0.002), 120.0, 700.0, 710.0)
    proj = net.projections[-1]
    assert proj.pre == "TH"
    starts = np.array([a for _, a, _ in net.populations] + [net.n])
    post = np.asarray(proj.connectivity.post_idx)
    target = np.searchsorted(starts, post[post < net.n], side="right") - 1
    n = np.asarray(N_FULL, float)
    for t, c in enumerate((0.0, 0.0, 0.0983, 0.0619, 0.0, 0.0, 0.0512, 0.0196)):  # stimulus_params.py
        full = math.log(1 - c) / math.log(1 - 1 / (902 * n[t])) if c else 0.0
        assert np.sum(target == t) == round(full * 0.002)


@pytest.mark.parametrize("kwargs, match", [
    (dict(scale=0.0), "scale must be in"),
    (dict(scale=-0.1), "scale must be in"),
    (dict(scale=1.5), "scale must be in"),
    (dict(scale=float("nan")), "scale must be a finite"),
    (dict(scale=float("inf")), "scale must be a finite"),
    (dict(scale=True), "scale must be a finite"),
    (dict(scale=4e-4), r"leaves populations \['L5I'\] empty"),
    (dict(scale=0.01, k_scale=0.0), "k_scale must be in"),
    (dict(scale=0.01, k_scale=float("nan")), "k_scale must be a finite"),
    (dict(scale=0.01, background="gauss"), "background must be one of"),
    (dict(scale=0.01, dt=float("nan")), "dt must be a finite"),
    (dict(scale=0.01, dt=0.4), "1.5 ms background delay"),
    (dict(scale=0.01, thalamic="yes"), "thalamic must be True or False"),
    (dict(scale=0.01, targets=(5, 5)), r"targets must be None or \(start, stop\)"),
    (dict(scale=0.01, targets=(-1, 10)), r"targets must be None or \(start, stop\)"),
    (dict(scale=0.01, targets=(0, 10**9)), r"0 <= start < stop <= 77[0-9] "),
])
def test_bad_inputs(kwargs, match):
    # (TypeError: the test suite's runtime type checker refuses a str for `thalamic: bool` first)
    with pytest.raises((ValueError, TypeError), match=match if "thalamic" not in kwargs else None):
        potjans_diesmann(**kwargs, key=jax.random.key(0))


def test_poisson_group_start_stop():
    """The thalamic pulse's source: spikes only in steps starting in [start, stop)."""
    from neurodyn.network import PoissonGroup

    g = PoissonGroup("TH", 2000, 120.0, start=1.0, stop=2.0)
    key = jax.random.key(3)
    counts = [int(g.spikes(jax.random.fold_in(key, s), 0.1, s).sum()) for s in range(30)]
    assert counts[:10] == [0] * 10 and counts[20:] == [0] * 10
    # 10 active steps × 2000 sources × 120 Hz × 0.1 ms = 240 expected (Poisson sd ≈ 15.5)
    assert sum(counts[10:20]) == pytest.approx(240, abs=5 * 15.5)
    with pytest.raises(ValueError, match="start < stop"):
        PoissonGroup("TH", 2, 1.0, start=2.0, stop=1.0)


def test_cli_microcircuit_writes_figures_and_summary(tmp_path, capsys):
    from neurodyn.cli import main

    out = tmp_path / "mc"
    assert main(["microcircuit", "--scale", "0.002", "--t-ms", "300", "--t-skip", "200", "--raster-neurons", "5",
                 "--out", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert names == {"raster.png", "rates.png", "cv_isi.png", "correlations.png", "summary.json"}  # no temp files
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_neurons"] == sum(round(n * 0.002) for n in N_FULL)
    assert summary["n_synapses"] == int(np.round(full_synapse_numbers() * 0.002).sum())
    assert summary["spikes_dropped"] == 0
    pops = summary["populations"]
    assert list(pops) == list(POPULATIONS)
    assert [p["published_nest_rate_hz"] for p in pops.values()] == [0.903, 2.965, 4.414, 5.876, 7.569, 8.633,
                                                                    1.105, 7.829]
    # the rates are spike counts over [200, 300) ms: together at most the run's spikes
    rates = np.array([p["rate_hz"] for p in pops.values()])
    sizes = np.array([p["n"] for p in pops.values()])
    assert sizes.tolist() == [round(n * 0.002) for n in N_FULL]
    assert (rates >= 0).all() and 0 < np.sum(rates * sizes * 0.1) <= summary["n_spikes"]
    assert "L23E" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["microcircuit", "--scale", "0", "--out", str(out)])
    with pytest.raises(SystemExit):
        main(["microcircuit", "--scale", "0.002", "--t-ms", "100", "--t-skip", "200", "--out", str(out)])


NEST_FIXTURE = Path(__file__).parent / "data" / "nest_microcircuit_scale01_k01.json"


@pytest.mark.slow  # notebooks/10_microcircuit.ipynb asserts the same rates against the same NEST fixture by default
def test_rates_match_nest_on_the_same_scaled_model():
    """scale 0.1, k_scale 0.1, Poisson background (the NEST example's default down-scaling):
    neurodyn's per-population rates over [500, 1500) ms against NEST 3.10's on the same model
    (`benchmarks/compare_nest.py --model microcircuit`, 3 seeds of 3 s after 500 ms; the fixture).
    Tolerance: NEST's seed SD × √3 (this window is 1 s, NEST's 3 s) × 3, plus 10 % of the rate
    (the issue's bar for the mean rates) and 0.1 Hz (one spike per ten neurons in L5I).
    CV ISI is not compared here: from a 1 s window it is biased low against NEST's 3 s windows
    (long ISIs are cut; L2/3I measured 0.54 vs 0.69), so the CV and correlation distributions
    are compared on equal windows by `benchmarks/compare_nest.py --model microcircuit`."""
    nest = json.loads(NEST_FIXTURE.read_text())
    assert (nest["scale"], nest["k_scale"], nest["background"]) == (0.1, 0.1, "poisson")
    built = potjans_diesmann(0.1, k_scale=0.1, background="poisson", key=jax.random.key(3))
    res = built.simulate(1500.0, key=jax.random.key(4), max_spikes=400_000)
    assert int(res.spikes_dropped) == 0
    times, ids = res.spikes()
    stats = population_statistics(times, ids, built.network.populations, 500.0, 1500.0, n_sample=100)
    for pop in POPULATIONS:
        ref = np.asarray(nest["populations"][pop]["rate_hz"])
        ours = stats[pop]["rates"].mean()
        tol = 3 * ref.std(ddof=1) * math.sqrt(3) + 0.1 * ref.mean() + 0.1
        assert abs(ours - ref.mean()) <= tol, (pop, ours, ref.mean(), tol)
