"""Helpers shared by the benchmark scripts: timing, spike statistics, machine info, JSON.

Not part of the package: the scripts in this folder import it as `_common` (their own
folder is on `sys.path` when run as scripts; the tests put it there).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from neurodyn.analysis import mean_isi_cv, mean_rate

RESULTS = Path(__file__).resolve().parent / "results"


def cv_isi(times: np.ndarray, neurons: np.ndarray, min_spikes: int = 3) -> float:
    """Mean over neurons with >= min_spikes spikes of std(ISI)/mean(ISI); NaN if none
    (`neurodyn.analysis.mean_isi_cv`)."""
    return mean_isi_cv(times, neurons, min_spikes)


def network_record(net, result, times: dict, *, n: int, t_ms: float, dt_ms: float, **config) -> dict:
    """The JSON record of one timed network run: the keys coba.py, cuba.py and cobahh.py share."""
    import jax

    spike_t, spike_i = result.spikes()
    return {
        "n": n, "t_ms": t_ms, "dt_ms": dt_ms, **config,
        **times, "us_per_step": round(times["run_s"] / round(t_ms / dt_ms) * 1e6, 2),
        "n_spikes": int(result.n_spikes), "spikes_dropped": int(result.spikes_dropped),
        "rate_hz": round(rate_hz(int(result.n_spikes), n, t_ms), 3),
        "cv_isi": round(cv_isi(spike_t, spike_i), 4),
        "n_synapses": int(sum(int(p.connectivity.n_synapses) for p in net.projections)),
        "backend": jax.default_backend(),
    }


def rate_hz(n_spikes: int, n: int, t_ms: float) -> float:
    """Mean firing rate of n neurons over t_ms milliseconds (`neurodyn.analysis.mean_rate`)."""
    return mean_rate(n_spikes, n, t_ms)


class Timer:
    """Wall-clock and process-CPU seconds of a `with` block.

    CPU time (all threads of this process) is reported next to wall time because the
    benchmark machines are shared: under load, wall time includes time spent waiting for a
    core, CPU time does not (Brian2's standalone run time is CPU time, see compare_brian2).
    """

    def __enter__(self):
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu
        return False


def time_compiled(fn, repeats: int = 1):
    """Call `fn()` once to compile, then `repeats` more times; returns (last output, times).

    times: compile_s (first call minus the median run), run_s and run_cpu_s (medians),
    run_s_all (every timed run). Outputs are waited for with `jax.block_until_ready`.
    """
    import statistics

    import jax

    with Timer() as first:
        out = jax.block_until_ready(fn())
    walls, cpus = [], []
    for _ in range(repeats):
        with Timer() as t:
            out = jax.block_until_ready(fn())
        walls.append(t.wall)
        cpus.append(t.cpu)
    run_s = statistics.median(walls)
    return out, {
        "compile_s": round(max(first.wall - run_s, 0.0), 3),
        "run_s": round(run_s, 4),
        "run_cpu_s": round(statistics.median(cpus), 4),
        "run_s_all": [round(w, 4) for w in walls],
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_summary() -> str:
    """One line: CPU model, usable cores, JAX backend and version."""
    import jax

    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{_cpu_model()}, {n} cores, {jax.default_backend().upper()} (jax {jax.__version__})"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
            capture_output=True, text=True, timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    """Where and with what a benchmark ran (recorded in every results JSON)."""
    import jax

    devices = jax.devices()
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "device": devices[0].device_kind if devices else None,
        "git_commit": _git_commit(),
    }


def emit(result: dict, as_json: bool, out: str | os.PathLike | None = None) -> None:
    """Print `result` as one JSON object (or aligned key: value lines); optionally save it."""
    text = json.dumps(result, indent=None if as_json else 2)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=2) + "\n")
    if as_json:
        print(text)
    else:
        for k, v in result.items():
            print(f"{k:>16}: {json.dumps(v) if isinstance(v, (dict, list)) else v}")
