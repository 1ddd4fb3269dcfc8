"""Bad inputs across the public API, as a new user would pass them: each is refused with a
clear exception whose message names the argument (and, where it applies, the allowed range
or the damaged file), never silently accepted, clipped or answered with a deep JAX error.

The table covers 131 bad inputs (the count is checked below): simulate and neurons (strings,
NaN, inf, wrong shapes and dtypes, bad sizes and modes), networks, plasticity rules, Hopfield models,
the transformer (token ids out of range also under jit), fitting, and damaged or mismatched
files (saved states, streams, GPT checkpoints, tokenizers, saved results).

"""

import re

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import neurodyn as nd
from neurodyn import fit as F
from neurodyn.hopfield import classical as C
from neurodyn.io import DamagedFileError, StreamMismatchError
from neurodyn.memory import (
    ClassicalMemory,
    ContinuousMemory,
    DenseAssociativeMemory,
    SpikingMemory,
    gaussian_noise,
    random_pattern_sets,
    random_patterns,
)
from neurodyn.memory.recall import RecallConfig
from neurodyn.network import (
    STDP,
    ConductanceSynapse,
    Connectivity,
    DCCurrent,
    Network,
    PoissonDrive,
    PoissonGroup,
    PoissonInput,
    Projection,
    TripletSTDP,
    TsodyksSynapse,
    UXSynapse,
)
from neurodyn.network.delivery import deliver_delayed_group
from neurodyn.transformer.corpus import toy_corpus
from neurodyn.transformer.grokking import GrokkingConfig
from neurodyn.transformer.model import GPT, GPTConfig
from neurodyn.transformer.sample import generate
from neurodyn.transformer.tokenizer import BPETokenizer
from neurodyn.transformer.train import (
    TrainConfig,
    init_train_state,
    load_checkpoint,
    save_checkpoint,
)

# These tests check each function's own message; the annotation hook would answer first.
pytestmark = pytest.mark.no_typecheck

N_BAD_INPUTS = 131

L = nd.LIF()
SMALL_GPT = GPTConfig(vocab_size=30, context_length=8, d_model=16, n_heads=2, n_layers=1)
PATTERNS = np.sign(np.random.default_rng(0).standard_normal((3, 20)))


def _gpt():
    return GPT(SMALL_GPT, key=jax.random.key(0))


def _hopfield():
    return nd.ClassicalHopfield.from_patterns(PATTERNS)


def _conn(post_idx, weight, n_pre, n_post):
    return Connectivity(jnp.asarray(post_idx), jnp.asarray(weight), n_pre, n_post)


def _net(**kw):
    return Network(nd.LIF(), [ConductanceSynapse("ge", 5.0, 0.0)], {"E": 2}, **kw)


def _damage(path, how="flip"):
    data = bytearray(path.read_bytes())
    if how == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


# ------------------------------------------------------------------- files made once
@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_files")
    run = {"n_neurons": 2, "input": 20.0, "record": (), "progress": 2}
    nd.simulate(L, 2.0, 0.1, stream_to=d / "stream", **run)
    nd.simulate(L, 2.0, 0.1, stream_to=d / "stream_damaged", **run)
    _damage(d / "stream_damaged" / "chunk_00000.npz")
    (d / "stream_manifest").mkdir()
    nd.simulate(L, 2.0, 0.1, stream_to=d / "stream_manifest", **run)
    _damage(d / "stream_manifest" / "manifest.json", "truncate")
    result = nd.simulate(L, 2.0, 0.1, n_neurons=2, input=20.0)
    nd.io.save_state(d / "state.npz", result.final_state)
    _damage(d / "state.npz")
    nd.io.save(result, d / "result.npz")
    _damage(d / "result.npz", "truncate")
    cfg = TrainConfig(steps=10, eval_every=5)
    save_checkpoint(d / "ckpt", init_train_state(SMALL_GPT, cfg, key=jax.random.key(0)), cfg)
    _damage(d / "ckpt" / "checkpoint.ckpt")
    tok = BPETokenizer.train("the neuron fires and the neuron rests", 260)
    tok.save(d / "tok.json")
    _damage(d / "tok.json", "truncate")
    tok.save(d / "tok_flip.json")
    (d / "tok_flip.json").write_text((d / "tok_flip.json").read_text().replace("[", "[1", 1)[:-1] + "]")
    return d


def _resume(files, **changes):
    state = nd.io.load_state(files / "stream")
    kw = {"n_neurons": 2, "input": 20.0, "record": (), "initial_state": state, "stream_to": files / "stream"}
    kw.update(changes)
    model = kw.pop("model", L)
    return nd.simulate(model, 3.0, kw.pop("dt", 0.1), **kw)


# ------------------------------------------------------------------- the table
# (id, call(files), expected exception type(s), regex the message must match)
ROWS = [
    # simulate: times and steps
    ("t1 string", lambda f: nd.simulate(L, "10", 0.1), TypeError, r"t1 must be a Python number"),
    ("dt string", lambda f: nd.simulate(L, 10.0, "0.1"), TypeError, r"dt must be a Python number"),
    ("dt zero", lambda f: nd.simulate(L, 10.0, 0.0), ValueError, r"dt must be > 0 ms"),
    ("dt negative", lambda f: nd.simulate(L, 10.0, -0.1), ValueError, r"dt must be > 0 ms"),
    ("dt NaN", lambda f: nd.simulate(L, 10.0, float("nan")), ValueError, r"dt must be a finite number of ms, got nan"),
    ("t1 inf", lambda f: nd.simulate(L, float("inf"), 0.1), ValueError, r"t1 must be a finite number of ms, got inf"),
    ("t1 not a whole number of steps", lambda f: nd.simulate(L, 10.05, 0.1), ValueError,
     r"not a whole number of steps of dt"),
    ("mode unknown", lambda f: nd.simulate(L, 1.0, 0.1, mode="fast"), ValueError, r"mode must be 'clock' or 'exact'"),
    ("record unknown variable", lambda f: nd.simulate(L, 1.0, 0.1, record=("x",)), ValueError,
     r"record: unknown variable 'x'"),
    ("record_neurons out of range", lambda f: nd.simulate(L, 1.0, 0.1, n_neurons=3, record_neurons=[5]),
     ValueError, r"record_neurons must lie in \[0, 2\]"),
    ("record_every zero", lambda f: nd.simulate(L, 1.0, 0.1, record_every=0), ValueError,
     r"record_every must be an integer >= 1"),
    ("record_every float", lambda f: nd.simulate(L, 1.0, 0.1, record_every=1.5), TypeError,
     r"record_every must be an integer >= 1"),
    ("rate_every not dividing", lambda f: nd.simulate(L, 1.0, 0.1, rate_every=3), ValueError,
     r"rate_every=3 steps must divide"),
    ("max_spikes zero", lambda f: nd.simulate(L, 1.0, 0.1, max_spikes=0), ValueError, r"max_spikes must be an integer >= 1"),
    pytest.param("max_spikes float", lambda f: nd.simulate(L, 1.0, 0.1, max_spikes=2.5), (TypeError, ValueError),
                 r"max_spikes"),
    pytest.param("max_spikes string", lambda f: nd.simulate(L, 1.0, 0.1, max_spikes="100"), (TypeError, ValueError),
                 r"max_spikes must"),
    # simulate: model, input, solver, state, key
    ("model string", lambda f: nd.simulate("LIF", 1.0, 0.1), TypeError, r"model must be an AbstractNeuron"),
    ("solver string", lambda f: nd.simulate(L, 1.0, 0.1, solver="euler"), TypeError, r"solver must be a Diffrax solver"),
    ("dtype float16", lambda f: nd.simulate(L, 1.0, 0.1, dtype=jnp.float16), ValueError,
     r"dtype must be float32 or float64"),
    ("initial_state unknown variable", lambda f: nd.simulate(L, 1.0, 0.1, initial_state={"x": jnp.zeros(3)}),
     ValueError, r"initial_state must have exactly the variables \('v',\)"),
    ("initial_state wrong length", lambda f: nd.simulate(L, 1.0, 0.1, n_neurons=3, initial_state={"v": jnp.zeros(4)}),
     ValueError, r"initial_state\['v'\] has 4 values but the population has 3"),
    ("surrogate unknown", lambda f: nd.simulate(L, 1.0, 0.1, surrogate="foo"), ValueError,
     r"surrogate must be one of"),
    ("surrogate_slope negative", lambda f: nd.simulate(L, 1.0, 0.1, surrogate="sigmoid", surrogate_slope=-1.0),
     ValueError, r"surrogate_slope must be a number > 0"),
    ("noisy run without key", lambda f: nd.simulate(L, 1.0, 0.1, input=nd.inputs.WhiteNoise(1.0, 1.0)), ValueError,
     r"pass key=jax.random.key\(seed\)"),
    pytest.param("integer key", lambda f: nd.simulate(L, 1.0, 0.1, input=nd.inputs.WhiteNoise(1.0, 1.0), key=123),
                 (TypeError, ValueError), r"key must be"),
    pytest.param("input string", lambda f: nd.simulate(L, 1.0, 0.1, input="abc"), (TypeError, ValueError),
                 r"input must be"),
    pytest.param("input inf", lambda f: nd.simulate(L, 1.0, 0.1, input=float("inf")), ValueError,
                 r"input.*(finite|inf)"),
    pytest.param("input NaN in a JAX array", lambda f: nd.simulate(L, 1.0, 0.1, input=jnp.array([jnp.nan, 1.0])),
                 ValueError, r"input.*(finite|NaN)"),
    # neurons
    ("tau_m negative", lambda f: nd.LIF(tau_m=-1.0), ValueError, r"LIF.tau_m must be > 0"),
    ("tau_m zero", lambda f: nd.LIF(tau_m=0.0), ValueError, r"LIF.tau_m must be > 0"),
    ("tau_m NaN", lambda f: nd.LIF(tau_m=float("nan")), ValueError, r"LIF.tau_m contains NaN"),
    ("tau_m string", lambda f: nd.LIF(tau_m="20"), TypeError, r"LIF.tau_m must be a number"),
    pytest.param("tau_m inf", lambda f: nd.LIF(tau_m=float("inf")), ValueError, r"LIF.tau_m.*(finite|inf)"),
    ("g_na negative", lambda f: nd.HodgkinHuxley(g_na=-1.0), ValueError, r"HodgkinHuxley.g_na must be >= 0"),
    ("threshold below reset", lambda f: nd.LIF(threshold=-70.0, v_reset=-60.0), ValueError,
     r"LIF.threshold must be > LIF.v_reset"),
    # networks
    ("projection from unknown population", lambda f: _net(projections=[Projection("X", "E", _conn([[0]], 1.0, 1, 2), "ge")]),
     ValueError, r"unknown population 'X'"),
    ("projection to unknown receptor", lambda f: _net(projections=[Projection("E", "E", _conn([[0], [1]], 1.0, 2, 2), "gx")]),
     ValueError, r"unknown receptor 'gx'"),
    # plasticity
    ("STDP negative tau_plus", lambda f: STDP(tau_plus=-20.0), ValueError, r"STDP.tau_plus must be > 0"),
    ("TripletSTDP zero tau_y", lambda f: TripletSTDP(tau_y=0.0), ValueError, r"TripletSTDP.tau_y must be > 0"),
    ("STDP w_max zero", lambda f: STDP(w_max=0.0), ValueError, r"STDP.w_max must be > 0"),
    ("STDP a_plus NaN", lambda f: STDP(a_plus=float("nan")), ValueError, r"STDP.a_plus contains NaN"),
    ("STDP unknown pairing", lambda f: STDP(pairing="nearest_neighbour"), ValueError,
     r"STDP.pairing must be one of \('all_to_all', 'nearest'\)"),
    ("plastic projection with a scalar weight", lambda f: _net(projections=[
        Projection("E", "E", _conn([[0], [1]], 0.5, 2, 2), "ge", plasticity=STDP())]), ValueError,
     r"E->E: plasticity=STDP\(...\) needs one weight per synapse"),
    ("plastic projection from a silent source", lambda f: _net(
        projections=[Projection("P", "E", _conn([[0]], [[0.5]], 1, 2), "ge", plasticity=STDP())],
        sources=[PoissonGroup("P", 1, 0.0)]), ValueError, r"source 'P' has rate 0.*no pre spikes to pair"),
    ("plastic weights above w_max", lambda f: _net(projections=[
        Projection("E", "E", _conn([[0], [1]], [[0.5], [2.0]], 2, 2), "ge", plasticity=STDP(w_max=1.0))]),
     ValueError, r"initial weights must lie in \[0, w_max = 1.0\]"),
    ("PoissonGroup negative rate", lambda f: PoissonGroup("P", 1, -1.0), ValueError, r"PoissonGroup.rate must be >= 0"),
    pytest.param("PoissonGroup rate*dt > 1", lambda f: nd.simulate_network(
        _net(projections=[Projection("P", "E", _conn([[0]], 1.0, 1, 2), "ge")], sources=[PoissonGroup("P", 1, 20000.0)]),
        1.0, 0.1, key=jax.random.key(0)), ValueError, r"rate"),
    # network sizes, drives and delays: an integer where an integer is needed (TypeError for a
    # float, never truncated), finite numbers of ms >= 0
    ("population size float", lambda f: Network(nd.LIF(), [ConductanceSynapse("ge", 5.0, 0.0)], {"E": 2.5}),
     TypeError, r"populations\['E'\] must be an integer >= 1 \(neurons\), got 2.5"),
    ("population size zero", lambda f: Network(nd.LIF(), [ConductanceSynapse("ge", 5.0, 0.0)], {"E": 0}),
     ValueError, r"populations\['E'\] must be an integer >= 1"),
    ("PoissonGroup size float", lambda f: PoissonGroup("P", 2.0, 5.0), TypeError,
     r"PoissonGroup.size must be an integer >= 1, got 2.0"),
    ("PoissonGroup negative start", lambda f: PoissonGroup("P", 1, 5.0, start=-1.0), ValueError,
     r"PoissonGroup.start must be a number of ms >= 0, got -1.0"),
    ("PoissonGroup stop NaN", lambda f: PoissonGroup("P", 1, 5.0, stop=float("nan")), ValueError,
     r"PoissonGroup.stop must be a number of ms, not NaN"),
    ("PoissonInput n_inputs zero", lambda f: PoissonInput("E", "ge", 0, 5.0, 1.0), ValueError,
     r"PoissonInput.n_inputs must be an integer >= 1, got 0"),
    ("PoissonDrive n_inputs float", lambda f: PoissonDrive("E", "ge", 2.5, 5.0, 1.0), TypeError,
     r"PoissonDrive.n_inputs must be an integer >= 1, got 2.5"),
    ("PoissonDrive negative delay", lambda f: PoissonDrive("E", "ge", 5, 5.0, 1.0, delay=-0.1), ValueError,
     r"PoissonDrive.delay must be a finite number of ms >= 0, got -0.1"),
    ("PoissonDrive max_rate below the rate", lambda f: PoissonDrive("E", "ge", 5, 5.0, 1.0, max_rate=2.0),
     ValueError, r"PoissonDrive.max_rate must be a finite number of Hz >= 5, got 2.0"),
    ("DCCurrent amplitude inf", lambda f: DCCurrent("E", jnp.array([1.0, jnp.inf])), ValueError,
     r"DCCurrent.amplitude must be finite"),
    ("Projection delay negative", lambda f: Projection("E", "E", _conn([[0], [1]], 1.0, 2, 2), "ge", delay=-1.0),
     ValueError, r"Projection.delay must be a finite number of ms >= 0, got -1.0"),
    ("Projection delay string", lambda f: Projection("E", "E", _conn([[0], [1]], 1.0, 2, 2), "ge", delay="1"),
     TypeError, r"Projection.delay must be a Python number \(ms\)"),
    ("delivery rows float", lambda f: deliver_delayed_group(
        jnp.zeros(2), jnp.zeros((1, 2)), [_conn([[0], [1]], 1.0, 2, 2)], jnp.zeros(2, bool), 0, [0], [0], rows=1.5),
     TypeError, r"rows must be an integer >= 1 \(spiking rows per projection and chunk\)"),
    pytest.param("Connectivity index >= n_post", lambda f: _conn([[5]], [[1.0]], 1, 3), ValueError, r"post_idx"),
    pytest.param("Connectivity negative index", lambda f: _conn([[-1]], [[1.0]], 1, 3), ValueError, r"post_idx"),
    pytest.param("Connectivity fewer rows than n_pre", lambda f: _conn([[0]], [[1.0]], 2, 3), ValueError,
                 r"(post_idx|n_pre)"),
    pytest.param("Connectivity weight shape mismatch", lambda f: _conn([[0, 1]], [[1.0]], 1, 3), ValueError,
                 r"weight"),
    # short-term plasticity
    ("TsodyksSynapse U zero", lambda f: TsodyksSynapse(U=0.0), ValueError, r"TsodyksSynapse.U must be in \(0.0, 1.0\]"),
    ("TsodyksSynapse U above 1", lambda f: TsodyksSynapse(U=1.5), ValueError, r"TsodyksSynapse.U must be in \(0.0, 1.0\]"),
    ("UXSynapse U negative", lambda f: UXSynapse(U=-0.1), ValueError, r"UXSynapse.U must be in \(0.0, 1.0\]"),
    ("TsodyksSynapse tau_rec zero", lambda f: TsodyksSynapse(tau_rec=0.0), ValueError,
     r"TsodyksSynapse.tau_rec must be > 0.0, got 0.0"),
    ("UXSynapse tau_rec negative", lambda f: UXSynapse(tau_rec=-5.0), ValueError, r"UXSynapse.tau_rec must be > 0.0, got -5.0"),
    ("TsodyksSynapse tau_fac negative", lambda f: TsodyksSynapse(tau_fac=-1.0), ValueError,
     r"TsodyksSynapse.tau_fac must be >= 0.0, got -1.0"),
    ("TsodyksSynapse tau_psc NaN", lambda f: TsodyksSynapse(tau_psc=float("nan")), ValueError,
     r"TsodyksSynapse.tau_psc contains NaN; it must be a finite number"),
    ("UXSynapse U NaN in an array", lambda f: UXSynapse(U=np.array([0.5, np.nan])), ValueError,
     r"UXSynapse.U contains NaN; it must be a finite number"),
    ("UXSynapse U of three dimensions", lambda f: UXSynapse(U=np.full((2, 2, 2), 0.5)), ValueError,
     r"UXSynapse.U must be a scalar, \(n_pre,\) or \(n_pre, K\), got shape \(2, 2, 2\)"),
    ("TsodyksSynapse tau_psc equal to tau_rec", lambda f: TsodyksSynapse(tau_psc=800.0), ValueError,
     r"tau_psc must differ from tau_rec"),
    ("short_term parameters of the wrong shape", lambda f: Projection(
        "E", "E", _conn([[0], [1]], 1.0, 2, 2), "ge", short_term=TsodyksSynapse(U=jnp.full(3, 0.5))), ValueError,
     r"TsodyksSynapse.U has shape \(3,\).*one value per presynaptic neuron \(2,\)"),
    ("short_term not a rule", lambda f: Projection("E", "E", _conn([[0], [1]], 1.0, 2, 2), "ge", short_term=0.5),
     TypeError, r"short_term must be a TsodyksSynapse or UXSynapse"),
    # Hopfield
    ("Hopfield run from zeros", lambda f: C.run(_hopfield(), jnp.zeros(20), jax.random.key(0)), ValueError,
     r"run: cue/state must contain only -1 and \+1"),
    ("Hopfield sweep of non-±1 state", lambda f: C.asynchronous_sweep(_hopfield(), jnp.full(20, 0.5), jax.random.key(0)),
     ValueError, r"asynchronous_sweep: cue/state must contain only -1 and \+1"),
    ("Hopfield step of zero state", lambda f: C.synchronous_step(_hopfield(), jnp.zeros(20)), ValueError,
     r"synchronous_step: cue/state must contain only -1 and \+1"),
    ("Hopfield zero state under jit", lambda f: jax.jit(lambda s: C.asynchronous_sweep(_hopfield(), s, jax.random.key(0)))(
        jnp.zeros(20)), Exception, r"asynchronous_sweep: cue/state must contain only -1 and \+1"),
    ("Hopfield state of wrong length", lambda f: C.synchronous_step(_hopfield(), jnp.ones(19)), ValueError,
     r"cue/state must have a last axis of length 20"),
    ("Hopfield run of wrong length", lambda f: C.run(_hopfield(), jnp.ones(19), jax.random.key(0)), ValueError,
     r"cue/state must have a last axis of length 20"),
    ("Hopfield energy of wrong length", lambda f: _hopfield().energy(jnp.ones(19)), ValueError,
     r"energy: state must have a last axis of length 20"),
    ("Hopfield asymmetric weights", lambda f: nd.ClassicalHopfield(jnp.array([[0.0, 1.0], [2.0, 0.0]])), ValueError,
     r"weights must be symmetric"),
    ("ModernHopfield beta zero", lambda f: nd.ModernHopfield(jnp.ones((2, 3)), beta=0.0), ValueError,
     r"beta must be a finite number > 0"),
    ("ModernHopfield query of wrong length", lambda f: nd.ModernHopfield(jnp.ones((2, 3))).retrieve(jnp.ones(4)),
     ValueError, r"query must have a last axis of length 3"),
    ("ModernHopfield NaN patterns", lambda f: nd.ModernHopfield(jnp.array([[jnp.nan, 1.0]])), ValueError,
     r"patterns must be finite"),
    ("Hopfield patterns string", lambda f: nd.ClassicalHopfield.from_patterns("abc"), ValueError,
     r"patterns must have shape \(n_patterns, n_neurons\)"),
    # associative memory
    ("ClassicalMemory max_sweeps float", lambda f: ClassicalMemory(max_sweeps=2.5), TypeError,
     r"ClassicalMemory.max_sweeps must be an integer >= 1"),
    ("ContinuousMemory tau zero", lambda f: ContinuousMemory(tau=0.0), ValueError,
     r"ContinuousMemory.tau must be a finite number > 0"),
    ("SpikingMemory dt NaN", lambda f: SpikingMemory(dt=float("nan")), ValueError,
     r"SpikingMemory.dt must be a finite number > 0, got nan"),
    ("DenseAssociativeMemory degree 1", lambda f: DenseAssociativeMemory(degree=1), ValueError,
     r"DenseAssociativeMemory.degree must be an integer >= 2, got 1"),
    ("random_patterns float count", lambda f: random_patterns(jax.random.key(0), 2.5, 10), TypeError,
     r"random_patterns: n_patterns must be an integer >= 1, got 2.5"),
    ("random_pattern_sets no trials", lambda f: random_pattern_sets(jax.random.key(0), 0, 2, 10), ValueError,
     r"random_pattern_sets: n_trials must be an integer >= 1, got 0"),
    ("gaussian_noise negative sigma", lambda f: gaussian_noise(jax.random.key(0), jnp.ones(4), -0.5), ValueError,
     r"gaussian_noise: sigma must be a finite number >= 0"),
    ("RecallConfig negative learning rate", lambda f: RecallConfig(learning_rate=-1e-3), ValueError,
     r"RecallConfig.learning_rate must be a finite number >= 0"),
    # transformer
    ("GPTConfig layers float", lambda f: GPTConfig(vocab_size=10, context_length=4, d_model=8, n_heads=2, n_layers=1.5),
     TypeError, r"GPTConfig.n_layers must be an integer >= 1, got 1.5"),
    ("GPTConfig init_std zero", lambda f: GPTConfig(vocab_size=10, context_length=4, d_model=8, n_heads=2, init_std=0.0),
     ValueError, r"GPTConfig.init_std must be a finite number > 0"),
    ("TrainConfig steps float", lambda f: TrainConfig(steps=10.0), TypeError, r"TrainConfig.steps must be an integer >= 1"),
    ("TrainConfig min_lr_ratio above 1", lambda f: TrainConfig(min_lr_ratio=2.0), ValueError,
     r"TrainConfig.min_lr_ratio must be a finite number <= 1, got 2.0"),
    ("TrainConfig negative warm-up", lambda f: TrainConfig(warmup_steps=-1), ValueError,
     r"TrainConfig.warmup_steps must be an integer >= 0"),
    ("TrainConfig grad_clip zero", lambda f: TrainConfig(grad_clip=0.0), ValueError,
     r"TrainConfig.grad_clip must be a finite number > 0"),
    ("GrokkingConfig p too small", lambda f: GrokkingConfig(p=2), ValueError, r"GrokkingConfig.p must be an integer >= 3"),
    ("GrokkingConfig eval_every float", lambda f: GrokkingConfig(eval_every=1.5), TypeError,
     r"GrokkingConfig.eval_every must be an integer >= 1"),
    ("toy_corpus no sentences", lambda f: toy_corpus(0), ValueError, r"toy_corpus: n_sentences must be an integer >= 1"),
    ("tokenizer vocab_size float", lambda f: BPETokenizer.train("hello", 300.0), TypeError,
     r"vocab_size must be an integer >= 256"),
    ("generate top_k zero", lambda f: generate(_gpt(), [1], 2, key=jax.random.key(0), top_k=0), ValueError,
     r"top_k must be None or an integer in \[1, vocab_size=30\]"),
    ("generate negative max_new_tokens", lambda f: generate(_gpt(), [1], -1, key=jax.random.key(0)), ValueError,
     r"max_new_tokens must be an integer >= 0, got -1"),
    ("token id out of range under jit", lambda f: eqx.filter_jit(lambda m, t: m(t))(_gpt(), jnp.array([1, 30])),
     Exception, r"token ids must be in \[0, vocab_size=30\)"),
    ("negative token id", lambda f: _gpt()(jnp.array([-1, 2])), Exception, r"token ids must be in \[0, vocab_size=30\)"),
    ("float token ids", lambda f: _gpt()(jnp.array([1.0, 2.0])), TypeError, r"tokens must be integer ids"),
    ("sequence longer than the context", lambda f: _gpt()(jnp.arange(9)), ValueError,
     r"tokens has length 9.*context_length=8"),
    ("prompt id out of range under jit", lambda f: eqx.filter_jit(
        lambda m, p: generate(m, p, 2, key=jax.random.key(0)))(_gpt(), jnp.array([1, 99])),
     Exception, r"prompt ids must be in \[0, vocab_size=30\)"),
    ("prompt id out of range", lambda f: generate(_gpt(), [1, 99], 2, key=jax.random.key(0)), ValueError,
     r"prompt holds ids in \[1, 99\], outside \[0, vocab_size=30\)"),
    ("negative temperature", lambda f: generate(_gpt(), [1], 2, key=jax.random.key(0), temperature=-1.0), ValueError,
     r"temperature must be a finite number >= 0"),
    ("d_model not divisible by heads", lambda f: GPTConfig(vocab_size=10, context_length=4, d_model=10, n_heads=4),
     ValueError, r"d_model=10 is not divisible by n_heads=4"),
    ("decode id out of range", lambda f: BPETokenizer().decode([300]), ValueError, r"token id 300 is out of range"),
    ("encode a number", lambda f: BPETokenizer().encode(5), TypeError, r"text must be a str"),
    # fitting
    ("fit unknown parameter", lambda f: F.fit(L, lambda m: m.tau_m, params="tau_x", steps=1, progress=False),
     ValueError, r"params: LIF has no parameter 'tau_x'"),
    pytest.param("fit string transform", lambda f: F.fit(L, lambda m: m.tau_m, params="tau_m", transforms="positive",
                                                          steps=1, progress=False),
                 (TypeError, ValueError), r"transforms"),
    pytest.param("solve_trace dt zero", lambda f: F.solve_trace(L, 1.0, 0.0), ValueError, r"dt must be a finite number of milliseconds > 0"),
    # files: damaged, or a resume that does not match the stream
    ("damaged state file", lambda f: nd.io.load_state(f / "state.npz"), DamagedFileError, r"state.npz is damaged"),
    ("damaged saved result", lambda f: nd.io.load(f / "result.npz"), DamagedFileError, r"result.npz is damaged"),
    ("damaged stream chunk", lambda f: nd.io.load_stream(f / "stream_damaged"), DamagedFileError,
     r"chunk_00000.npz is damaged"),
    ("damaged stream manifest", lambda f: nd.io.load_state(f / "stream_manifest"), DamagedFileError,
     r"manifest.json is damaged"),
    ("damaged GPT checkpoint", lambda f: load_checkpoint(f / "ckpt"), DamagedFileError, r"checkpoint.ckpt is damaged"),
    ("truncated tokenizer file", lambda f: BPETokenizer.load(f / "tok.json"), DamagedFileError, r"tok.json is damaged"),
    ("altered tokenizer file", lambda f: BPETokenizer.load(f / "tok_flip.json"), DamagedFileError,
     r"tok_flip.json is damaged"),
    ("resume a stream with another dt", lambda f: _resume(f, dt=0.05), StreamMismatchError,
     r"dt \(ms\): stream 0.1, this run 0.05"),
    ("resume a stream with another model", lambda f: _resume(f, model=nd.LIF(tau_m=15.0)), StreamMismatchError,
     r"the model .* differs"),
    ("restart a stream from its beginning", lambda f: _resume(f, initial_state=None), StreamMismatchError,
     r"initial_state is at step 0"),
]


def _id(row):
    return row.values[0] if hasattr(row, "values") else row[0]


@pytest.mark.parametrize("name, call, error, pattern", ROWS, ids=[_id(r) for r in ROWS])
def test_bad_input_is_refused_with_a_message_naming_it(name, call, error, pattern, files):
    with pytest.raises(error) as info:
        call(files)
    assert re.search(pattern, str(info.value), re.DOTALL), f"{name}: message does not match {pattern!r}:\n{info.value}"


def test_the_docstring_counts_the_table():
    assert len(ROWS) == N_BAD_INPUTS
    assert f"covers {N_BAD_INPUTS} bad inputs" in __doc__
