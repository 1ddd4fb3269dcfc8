"""GPT checkpoints: one checksummed file replaced atomically; kills and damage.

A training run SIGKILLed while it writes a checkpoint (tests/scripts/train_run.py in a
subprocess, NEURODYN_CRASH_AT naming the point) leaves the previous checkpoint or the new
one, each complete; resuming from it gives the uninterrupted run's weights, optimiser
state and loss curve bit for bit. A truncated or altered checkpoint raises
`DamagedFileError` naming the file.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from neurodyn.io import DamagedFileError
from neurodyn.io._atomic import CRASH_ENV
from neurodyn.transformer.train import CHECKPOINT_FILE, load_checkpoint

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import train_run  # noqa: E402

SCRIPT = Path(__file__).parent / "scripts" / "train_run.py"
ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ckpt_reference")
    return d, train_run.run(d)


def _assert_same(state, ref):
    assert state.step == ref.step == 20
    assert state.history == ref.history
    for a, b in zip(jax.tree.leaves((state.model, state.opt_state)), jax.tree.leaves((ref.model, ref.opt_state)),
                    strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("point, step_left", [
    ("checkpoint_mid:10", 5),  # half the new file written: the step-5 checkpoint stays
    pytest.param("checkpoint_before_rename:10", 5, marks=pytest.mark.slow),
    pytest.param("checkpoint_after_rename:10", 10, marks=pytest.mark.slow),
])
def test_killed_training_resumes_to_the_uninterrupted_result(point, step_left, reference, tmp_path_factory, tmp_path):
    cache = tmp_path_factory.getbasetemp() / "ckpt_jax_cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", **{CRASH_ENV: point})
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=900)  # a loaded CI machine
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [CHECKPOINT_FILE]
    state, cfg, _ = load_checkpoint(tmp_path)
    assert state.step == step_left and len(state.history["step"]) == step_left  # one consistent unit
    _assert_same(train_run.run(tmp_path, resume=True), reference[1])


@pytest.mark.parametrize("damage", ["truncate", "flip_weights", "flip_header"])
def test_damaged_checkpoint_is_named(damage, reference, tmp_path):
    path = tmp_path / CHECKPOINT_FILE
    data = bytearray((reference[0] / CHECKPOINT_FILE).read_bytes())
    if damage == "truncate":
        data = data[:-1000]
    elif damage == "flip_weights":
        data[-300] ^= 0x10  # a float of the weights or the optimiser state
    else:
        data[60] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match=rf"{CHECKPOINT_FILE} is damaged \(truncated or altered"):
        load_checkpoint(tmp_path)


def test_checkpoint_round_trip(reference):
    state, cfg, extra = load_checkpoint(reference[0])
    assert cfg == train_run.CFG and extra == {}
    _assert_same(state, reference[1])


def test_files_of_neurodyn_0_1_still_load(tmp_path):
    """Checkpoints (state.eqx + state.json) and tokenizers (neurodyn-bpe-1) written before the
    checksummed formats load, the checkpoint with a warning that it has no checksum."""
    import json

    import equinox as eqx

    from neurodyn.transformer.tokenizer import BPETokenizer
    from neurodyn.transformer.train import init_train_state

    state = init_train_state(train_run.MCFG, train_run.CFG, key=jax.random.key(4))
    eqx.tree_serialise_leaves(tmp_path / "state.eqx", (state.model, state.opt_state))
    (tmp_path / "state.json").write_text(json.dumps({
        "format": "neurodyn-gpt-1", "model_config": train_run.MCFG.to_dict(),
        "train_config": train_run.CFG.to_dict(), "step": 0, "history": state.history, "extra": {}}))
    with pytest.warns(RuntimeWarning, match="old checkpoint without a checksum"):
        back, cfg, _ = load_checkpoint(tmp_path)
    assert cfg == train_run.CFG
    for a, b in zip(jax.tree.leaves(back.model), jax.tree.leaves(state.model), strict=True):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "tok.json").write_text(json.dumps(
        {"format": "neurodyn-bpe-1", "pretokenizer": "gpt2", "special_tokens": ["<|e|>"], "merges": [[116, 104]]}))
    tok = BPETokenizer.load(tmp_path / "tok.json")
    assert tok.encode("th") == [256] and tok.vocab_size == 258
