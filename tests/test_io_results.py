"""Results to disk and back: .npz save/load of a whole result, NWB export/import, stream -> NWB.

References: the round trips must give back what `simulate` returned, bit for bit (spikes,
counts, traces, rate counts, final state), and the NWB files must pass NWB Inspector (the
NWB community's validator) with no CRITICAL or error messages.
"""

import shutil
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import neurodyn as nd
from neurodyn.io import DamagedFileError, load, load_stream, read_nwb, save, stream_to_nwb, to_nwb

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import stream_run  # noqa: E402

T1 = 20.0


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    stream_run.run(d, T1)
    return d


@pytest.fixture(scope="module")
def result(streamed):
    return load_stream(streamed)


def test_save_load_round_trip_and_continue(result, tmp_path):
    path = save(result, tmp_path / "run.npz")
    back = load(path)
    for a, b in zip(jax.tree.leaves(result), jax.tree.leaves(back), strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.rate_groups == result.rate_groups == (("E", 80), ("I", 20))
    assert back.rate_bin_ms == result.rate_bin_ms and back.surrogate_counts is None
    net, _ = stream_run.network()
    # the loaded final state continues the run: same as continuing the in-memory one
    kw = dict(stream_run.KW)
    a = nd.simulate_network(net, T1 + 5.0, 0.1, initial_state=back.final_state, **kw)
    b = nd.simulate_network(net, T1 + 5.0, 0.1, initial_state=result.final_state, **kw)
    np.testing.assert_array_equal(a.spike_counts, b.spike_counts)
    assert int(a.n_spikes) > 0
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="run.npz is damaged"):
        load(path)


def _inspect(path, skip=()):
    import nwbinspector

    return [(m.importance.name, m.check_function_name, m.message)
            for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path), skip_validate=False)
            if m.importance.name in ("CRITICAL", "ERROR", "PYNWB_VALIDATION") and m.check_function_name not in skip]


# A simulation has no animal: NWB Inspector's subject checks (DANDI requirements) are the
# only ones a default export cannot meet; with a Subject given they pass too.
SUBJECT_CHECKS = ("check_subject_exists", "check_subject_age", "check_subject_sex", "check_subject_species_exists")


def test_nwb_round_trip_and_inspector(result, tmp_path):
    pytest.importorskip("pynwb")
    from pynwb.file import Subject

    net, _ = stream_run.network()
    path = to_nwb(result, tmp_path / "run.nwb", model=net, input=15.0, dt=0.1, units={"ge": "1", "gi": "1"})
    assert _inspect(path, SUBJECT_CHECKS) == []
    back = read_nwb(path)
    times, neurons = result.spikes()
    np.testing.assert_array_equal(back["spike_times"], times)  # ms, float32, exact
    np.testing.assert_array_equal(back["spike_neurons"], neurons)
    np.testing.assert_array_equal(back["spike_counts"], result.spike_counts)
    np.testing.assert_array_equal(back["traces"]["v"], result.traces["v"])
    assert back["trace_units"] == {"v": "mV"}
    np.testing.assert_allclose(back["times"], result.times, atol=1e-6)
    np.testing.assert_array_equal(back["recorded_neurons"], result.recorded_neurons)
    np.testing.assert_array_equal(back["rate_counts"], result.rate_counts)
    assert back["populations"] == [("E", 0, 80), ("I", 80, 100)]
    meta = back["metadata"]
    assert meta["neurodyn_version"] == nd.__version__ and meta["dt_ms"] == 0.1
    assert meta["model"]["type"] == "Network" and meta["model"]["neuron"]["tau_m"] == 20.0
    assert meta["model"]["projections"][0]["delay"] == 0.5

    with_subject = to_nwb(result, tmp_path / "subject.nwb", model=net, dt=0.1, subject=Subject(
        subject_id="model-1", species="Mus musculus", sex="U", age="P90D",
        description="the animal whose cortex the model stands for"))
    assert _inspect(with_subject) == []


def test_stream_to_nwb_equals_to_nwb_of_the_loaded_stream(streamed, result, tmp_path):
    pytest.importorskip("pynwb")
    # spikes_in_memory=40: several passes of the external sort, as for a run too long for memory
    path = stream_to_nwb(streamed, tmp_path / "stream.nwb", spikes_in_memory=40)
    assert _inspect(path, SUBJECT_CHECKS) == []
    a, b = read_nwb(path), read_nwb(to_nwb(result, tmp_path / "direct.nwb", dt=0.1))
    for key in ("spike_times", "spike_neurons", "spike_counts", "times", "recorded_neurons", "rate_counts"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    np.testing.assert_array_equal(a["traces"]["v"], b["traces"]["v"])
    assert a["populations"] == b["populations"] and a["metadata"]["producer"]["dt"] == 0.1
    assert [p.name for p in tmp_path.iterdir()] == ["stream.nwb", "direct.nwb"] or \
        sorted(p.name for p in tmp_path.iterdir()) == ["direct.nwb", "stream.nwb"]  # no temp files left


def test_damaged_nwb_and_missing_files_are_named(result, tmp_path):
    pytest.importorskip("pynwb")
    path = to_nwb(result, tmp_path / "run.nwb", dt=0.1)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DamagedFileError, match="run.nwb is not a readable NWB file"):
        read_nwb(path)
    with pytest.raises(FileNotFoundError, match="no NWB file at"):
        read_nwb(tmp_path / "missing.nwb")
    with pytest.raises(FileNotFoundError, match="no saved result at"):
        load(tmp_path / "missing.npz")
    shutil.rmtree(tmp_path)
