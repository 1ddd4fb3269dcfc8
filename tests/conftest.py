"""Shared helpers for the test suite."""

import numpy as np


def rate_hz(spike_times_ms: np.ndarray) -> float:
    """Firing rate from the mean inter-spike interval (needs >= 2 spikes)."""
    t = np.sort(np.asarray(spike_times_ms))
    assert t.size >= 2, f"need at least two spikes to measure a rate, got {t.size}"
    return 1000.0 * (t.size - 1) / (t[-1] - t[0])
