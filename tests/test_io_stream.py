"""Crash-safe streams: kill a streamed run at every write, damage its files, resume.

The claims (neurodyn.io.stream): a run SIGKILLed at any point and resumed from
`load_state(directory)` leaves on disk exactly what an uninterrupted run leaves: the same
spikes (times and neurons, bit for bit; never a duplicated or missing spike), traces, rate
counts, spike counts and final state. A damaged last chunk is recomputed; any other damaged
file raises `DamagedFileError` naming it. A stream is only continued by the run that
produced it (same network incl. delays, dt, key) from the state it ends with.

The kills run tests/scripts/stream_run.py (a 100-neuron COBA network, 40 ms in four
10 ms chunks) in a subprocess with NEURODYN_CRASH_AT naming the point; the compiled XLA
code is cached on disk across the subprocesses to keep them at ~3 s CPU each.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurodyn.io import DamagedFileError, StreamMismatchError, load_state, load_stream, save_state
from neurodyn.io._atomic import CRASH_ENV
from neurodyn.io.stream import read_manifest

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import stream_run  # noqa: E402

SCRIPT = Path(__file__).parent / "scripts" / "stream_run.py"
ROOT = Path(__file__).parents[1]
T1 = 40.0


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("reference")
    stream_run.run(d, T1)
    return d


@pytest.fixture(scope="module")
def jax_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax_cache")


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _resume(d: Path):
    """What a user does after a crash: continue from the last committed state, or start over."""
    try:
        state = load_state(d)
    except FileNotFoundError:  # nothing committed yet
        return stream_run.run(d, T1)
    if float(state.t) < T1 - 1e-3:  # else the run was complete when it was killed
        stream_run.run(d, T1, resume=True)


def _assert_same_stream(d: Path, ref: Path):
    got, want = load_stream(d), load_stream(ref)
    assert int(want.n_spikes) > 150  # an active network: the comparison means something
    for name in ("spike_times", "spike_neurons", "spike_counts", "times", "rate_counts", "n_spikes"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(got.traces["v"], want.traces["v"])
    for a, b in zip(jax.tree.leaves(got.final_state), jax.tree.leaves(want.final_state), strict=True):
        np.testing.assert_array_equal(a, b)
    # no spike twice: (time, neuron) pairs are unique
    pairs = np.stack([np.asarray(got.spike_times), np.asarray(got.spike_neurons)], 1)
    assert len(np.unique(pairs, axis=0)) == len(pairs)
    assert [c["file"] for c in read_manifest(d)["chunks"]] == [f"chunk_{i:05d}.npz" for i in range(4)]
    assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in ref.iterdir())  # no leftovers


def _killed_run(d: Path, point: str, jax_cache: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_COMPILATION_CACHE_DIR=str(jax_cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", JAX_PLATFORMS="cpu")
    env[CRASH_ENV] = point
    proc = subprocess.run([sys.executable, str(SCRIPT), str(d), str(T1)], env=env,
                          capture_output=True, text=True, timeout=900)  # a loaded CI machine
    assert proc.returncode == -signal.SIGKILL, f"not killed at {point}: rc={proc.returncode}\n{proc.stderr[-2000:]}"


# kill points: <file>_<when>:<chunk index>. Each file is written as temp -> fsync -> rename.
FAST_KILLS = [
    "chunk_after_rename:2",  # chunk 2 on disk, manifest not yet updated (the duplicated-spikes case)
    "manifest_mid:3",  # last chunk on disk, the manifest half rewritten
]
SLOW_KILLS = [
    "chunk_mid:1",  # half of chunk 1's temp file written
    "chunk_before_write:0",
    "chunk_after_rename:0",  # before the first manifest entry: nothing committed
    "chunk_before_rename:2",
    "manifest_before_rename:1",
    "manifest_after_rename:2",
    "manifest_after_rename:3",  # the run complete, process killed on its way out
]


@pytest.mark.parametrize("point", FAST_KILLS + [pytest.param(p, marks=pytest.mark.slow) for p in SLOW_KILLS])
def test_killed_run_resumes_to_the_uninterrupted_result(point, reference, jax_cache, tmp_path):
    d = tmp_path / "stream"
    _killed_run(d, point, jax_cache)
    at = int(point.split(":")[1])
    committed = read_manifest(d)["chunks"]
    assert len(committed) == at + point.startswith("manifest_after")  # the manifest says what is complete
    assert not any(p.name.startswith(".") for p in d.glob("chunk_*.npz"))  # temp files never match
    if committed:  # what a killed stream holds is an exact prefix of the full run
        part, full = load_stream(d), load_stream(reference)
        k = int(part.n_spikes_stored)
        np.testing.assert_array_equal(part.spike_times, full.spike_times[:k])
        np.testing.assert_array_equal(part.spike_neurons, full.spike_neurons[:k])
        assert float(part.final_state.t) == pytest.approx(10.0 * len(committed), abs=1e-4)
    _resume(d)
    _assert_same_stream(d, reference)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_last_chunk_is_recomputed_on_resume(damage, reference, tmp_path):
    d = _copy(reference, tmp_path / "s")
    last = d / "chunk_00003.npz"
    data = bytearray(last.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3] ^= 0x40
    last.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="chunk_00003.npz is damaged"):
        load_stream(d)
    with pytest.warns(RuntimeWarning, match="chunk_00003.npz is damaged"):
        state = load_state(d)
    assert int(state.step) == 300  # the end of chunk 2
    with pytest.warns(RuntimeWarning, match="dropping damaged chunk_00003.npz"):
        stream_run.run(d, T1, resume=True)
    _assert_same_stream(d, reference)


def test_damaged_middle_chunk_and_manifest_are_named(reference, tmp_path):
    d = _copy(reference, tmp_path / "s")
    mid = d / "chunk_00001.npz"
    data = bytearray(mid.read_bytes())
    data[-100] ^= 0x01
    mid.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match=r"chunk_00001.npz is damaged \(altered.*steps 100..200"):
        load_stream(d)
    assert int(load_state(d).step) == 400  # resuming needs only the last chunk

    manifest = d / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text.replace('"n_spikes": ', '"n_spikes": 1', 1))  # still valid JSON
    for call in (load_stream, load_state):
        with pytest.raises(DamagedFileError, match="manifest.json is damaged: its contents do not match"):
            call(d)
    manifest.write_text(text[: len(text) // 2])
    with pytest.raises(DamagedFileError, match="manifest.json is damaged"):
        load_stream(d)


def test_stream_refuses_a_different_run(reference, tmp_path):
    d = _copy(reference, tmp_path / "s")
    state = load_state(d)
    (d / ".chunk_00004.npz.tmp-1").write_bytes(b"partial")  # a killed writer's temp file
    assert len(list(d.glob("chunk_*.npz"))) == 4
    net, _ = stream_run.network(delay=1.0)
    with pytest.raises(StreamMismatchError, match=r"different run \(the model .*delays\) differs"):
        stream_run.simulate_network(net, 50.0, 0.1, initial_state=state, stream_to=d, **stream_run.KW)
    net, y0 = stream_run.network()
    with pytest.raises(StreamMismatchError, match=r"dt \(ms\): stream 0.1, this run 0.05"):
        stream_run.simulate_network(net, 50.0, 0.05, initial_state=state, stream_to=d, **stream_run.KW)
    with pytest.raises(StreamMismatchError, match="the PRNG key"):
        stream_run.simulate_network(net, 50.0, 0.1, initial_state=state, stream_to=d,
                                    **dict(stream_run.KW, key=jax.random.key(8)))
    with pytest.raises(StreamMismatchError, match=r"holds steps 0..400.*initial_state is at step 0"):
        stream_run.simulate_network(net, 50.0, 0.1, initial_state=y0, stream_to=d, **stream_run.KW)
    older = load_stream(reference)  # same step as the stream's end, other values
    bad = older.final_state.__class__(t=older.final_state.t, y={**older.final_state.y, "v": older.final_state.y["v"] + 1},
                                      refractory_until=older.final_state.refractory_until,
                                      step=older.final_state.step, buffers=older.final_state.buffers)
    with pytest.raises(StreamMismatchError, match="initial_state is not the state .*chunk_00003.npz ended with"):
        stream_run.simulate_network(net, 50.0, 0.1, initial_state=bad, stream_to=d, **stream_run.KW)
    assert not (d / ".chunk_00004.npz.tmp-1").exists()  # cleaned when the stream was opened
    _assert_same_stream(d, reference)  # the refused runs wrote nothing


def test_resuming_from_an_older_state_would_duplicate_and_is_refused(reference, tmp_path):
    d = _copy(reference, tmp_path / "s")
    net, _ = stream_run.network()
    from neurodyn.io._arrays import state_from_arrays
    from neurodyn.io.stream import iter_chunks

    chunk1 = list(iter_chunks(d))[1]
    old = state_from_arrays(chunk1, "chunk_00001.npz")
    with pytest.raises(StreamMismatchError, match=r"would write steps 200..400 a second time"):
        stream_run.simulate_network(net, T1, 0.1, initial_state=old, stream_to=d, **stream_run.KW)


def test_old_format_directory_and_damaged_state_file_are_named(tmp_path):
    (tmp_path / "chunk_00000.npz").write_bytes(b"x")
    (tmp_path / "state.npz").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="holds chunk files but no manifest.json"):
        stream_run.run(tmp_path, 10.0)
    net, y0 = stream_run.network()
    from neurodyn import SimState

    path = save_state(tmp_path / "s.npz", SimState(t=jnp.asarray(1.0), y=y0, refractory_until=jnp.zeros(100), step=10))
    assert int(load_state(path).step) == 10
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[:-40]))
    with pytest.raises(DamagedFileError, match="s.npz is damaged"):
        load_state(path)
