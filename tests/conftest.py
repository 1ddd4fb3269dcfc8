"""Shared helpers for the test suite, and jaxtyping shape checks on neurodyn's public
functions: with NEURODYN_JAXTYPING=1 every `Float[Array, "time neurons"]`-style annotation
is checked at call time (jaxtyping's import hook with beartype), so a wrong shape or dtype
fails a test. Off by default: the checker rejects a badly typed argument before neurodyn's
own validation can name it, so the bad-input tests (which assert neurodyn's messages, the
ones users see) run without it; `.ci/run` runs the shape-checked subset with it on."""

import os

if os.environ.get("NEURODYN_JAXTYPING", "0") == "1":
    try:
        import beartype  # noqa: F401
    except ImportError:  # not installed: run unchecked (it is in the test extra)
        pass
    else:
        from jaxtyping import install_import_hook

        install_import_hook("neurodyn", "beartype.beartype")

from neurodyn.analysis import isi_rate as rate_hz  # noqa: E402, F401  (rate from the mean ISI, Hz)
