"""The README's main job: `neurodyn demo` writes plots and a JSON summary."""

import json

import pytest

from neurodyn.cli import main


def test_demo_writes_plots_and_summary(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--quick"]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    assert {"hh_traces.png", "hh_phase_plane.png", "hh_f_i.png", "lif_f_i.png",
            "lif_raster.png", "summary.json"} <= names
    summary = json.loads((tmp_path / "summary.json").read_text())
    # exact-mode LIF rates vs the analytic f–I curve (0.1 % is the bar)
    assert summary["lif_f_i"]["max_rel_error"] < 1e-3
    # HH: 10 µA/cm² step from t = 10 ms fires every ≈ 14.6 ms (68.3 Hz)
    spikes = summary["hh_step"]["spike_times_ms"]
    assert len(spikes) == 6 and spikes[0] > 10.0
    assert summary["hh_step"]["rest_mV"] == pytest.approx(-64.996, abs=2e-3)
    assert str(tmp_path.resolve()) in capsys.readouterr().out
