"""The README's main job: `neurodyn demo` writes plots and a JSON summary."""

import json

import pytest

from neurodyn.cli import main
from neurodyn.io import _atomic


class _Killed(BaseException):
    """Stands in for the SIGKILL of `NEURODYN_CRASH_AT` (the test process must survive)."""


def test_demo_writes_plots_and_summary(tmp_path, capsys, monkeypatch):
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

    # Rerun, killed half-way through rewriting the first figure: the file written by the first
    # run is still there, whole (the demo writes to a temporary name and renames; before, a
    # killed savefig left a truncated PNG under the final name).
    before = (tmp_path / "hh_traces.png").read_bytes()

    def crash(name, index=None):
        if (name, index) == ("demo_figure_mid", 0):
            raise _Killed

    monkeypatch.setattr(_atomic, "crash_point", crash)
    with pytest.raises(_Killed):
        main(["demo", "--out", str(tmp_path), "--quick"])
    assert (tmp_path / "hh_traces.png").read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if _atomic.is_temp(p)]
