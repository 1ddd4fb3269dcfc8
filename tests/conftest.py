"""Shared helpers for the test suite, and jaxtyping shape checks on neurodyn's public
functions: every `Float[Array, "time neurons"]`-style annotation is checked at call time
(jaxtyping's import hook with beartype), so a wrong shape or dtype fails a test. Set
NEURODYN_JAXTYPING=0 to run without the checks."""

import os

if os.environ.get("NEURODYN_JAXTYPING", "1") != "0":
    try:
        import beartype  # noqa: F401
    except ImportError:  # not installed: run unchecked (it is in the test extra)
        pass
    else:
        from jaxtyping import install_import_hook

        install_import_hook("neurodyn", "beartype.beartype")

from neurodyn.analysis import isi_rate as rate_hz  # noqa: E402, F401  (rate from the mean ISI, Hz)
