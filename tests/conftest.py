"""Shared helpers for the test suite, and jaxtyping shape checks at call time.

jaxtyping's import hook with beartype checks every `Float[Array, "time neurons"]`-style
annotation of the modules named below when they are called, so a wrong shape or dtype fails
a test. By default it covers the modules whose annotations have been audited against the
suite (fitting, the adjoint paths, analysis, ready-made models, plots, neuron models, monitors,
the simulation core — _simulate, _clock, _state, _events — and neurodyn.network except its
delivery op and short-term plasticity;
neurodyn.hopfield's annotations were fixed but its experiments module still fails under the hook;
the tokenizer stays out: the hook's per-call cost breaks its throughput test);
NEURODYN_JAXTYPING=all extends it to the whole package, NEURODYN_JAXTYPING=0 turns it off.
"""

import os

import jax
import pytest

if not hasattr(jax, "enable_x64"):  # jax 0.7.x (the declared floor) has only the experimental name
    from jax.experimental import enable_x64

    jax.enable_x64 = enable_x64

CHECKED = (
    "neurodyn.fit", "neurodyn._adjoint", "neurodyn.analysis", "neurodyn.models", "neurodyn.plot",
    "neurodyn.neurons", "neurodyn.monitors", "neurodyn._simulate", "neurodyn._clock", "neurodyn._state",
    "neurodyn._events",
    # neurodyn.network but delivery.py and short_term.py: their annotations do not yet hold (NumPy
    # spike arrays, "*shape" shared by parameters of different layouts)
    "neurodyn.network.network", "neurodyn.network.connectivity", "neurodyn.network.synapses",
    "neurodyn.network.drives", "neurodyn.network.plasticity", "neurodyn.network.brunel",
    "neurodyn.network.distributions", "neurodyn.network.exact",
)

_mode = os.environ.get("NEURODYN_JAXTYPING", "1")
if _mode != "0":
    try:
        import beartype  # noqa: F401
    except ImportError:  # not installed: run unchecked (it is in the test extra)
        pass
    else:
        from jaxtyping import install_import_hook

        install_import_hook("neurodyn" if _mode == "all" else CHECKED, "_typecheck.typechecker")



def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "no_typecheck: run without the jaxtyping/beartype hook. For tests of a function's own message "
        "for an argument of the wrong type: the hook would refuse the argument first, with its own "
        "message, and a user (who runs without the hook) sees the function's.",
    )


@pytest.fixture(autouse=True)
def _no_typecheck(request):
    if request.node.get_closest_marker("no_typecheck") is None:
        yield
        return
    import jaxtyping

    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", False)


from neurodyn.analysis import isi_rate as rate_hz  # noqa: E402, F401  (rate from the mean ISI, Hz)
