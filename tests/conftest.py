"""Shared helpers for the test suite."""

from neurodyn.analysis import isi_rate as rate_hz  # noqa: F401  (rate from the mean ISI, Hz)
