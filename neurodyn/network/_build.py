"""Build, cache and load the compiled spike-delivery kernels (`_kernels/*.cc`, one library).

The kernel is compiled on first use with the machine's C++ compiler (`$CXX`, else g++,
c++ or clang++) against the FFI headers of the running jaxlib (`jax.ffi.include_dir()`),
so it always matches the jaxlib it is loaded into. The shared library is cached in
`$NEURODYN_CACHE_DIR` (default `$XDG_CACHE_HOME/neurodyn`, i.e. ~/.cache/neurodyn), keyed
by a hash of the source, jaxlib version, compiler and flags, built under a file lock (so
parallel processes build it once) and moved into place atomically. `kernel_info()` says
whether it is available and, if not, why; the op itself is `neurodyn.network.delivery`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import jax
import jaxlib

FFI_TARGET = "neurodyn_deliver"  # the names the FFI handlers are registered under
FFI_TARGET_DELAYED = "neurodyn_deliver_delayed"
FFI_TARGET_STP = "neurodyn_deliver_stp"
# The sources compiled into the one library, and {FFI target: exported handler symbol}.
_SOURCES = tuple(Path(__file__).parent / "_kernels" / name for name in ("delivery.cc", "stp.cc", "plasticity.cc"))
# Headers the sources include: part of the cache key and of the installation check.
_HEADERS = (Path(__file__).parent / "_kernels" / "spikes.h",)
_HANDLERS = {
    FFI_TARGET: "NeurodynDeliver",
    FFI_TARGET_DELAYED: "NeurodynDeliverDelayed",
    FFI_TARGET_STP: "NeurodynDeliverStp",
    "neurodyn_stdp": "NeurodynStdp",
    "neurodyn_stdp_delayed": "NeurodynStdpDelayed",
}
_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-pthread", "-w")


# --------------------------------------------------------------------------- build & load


_lock = threading.Lock()
_info: dict | None = None


def kernel_info() -> dict:
    """Build (once per machine) and load the kernel; {"available", "reason", "path"}.

    `reason` says why the kernel is not available (no compiler, build failed, ...).
    """
    global _info
    with _lock:
        if _info is None:
            _info = _load()
        return dict(_info)


def threaded_deliveries() -> int:
    """How many delayed-delivery kernel calls of this process ran on several threads (0
    without the kernel): for tests and benchmarks that check the threads were used."""
    if not kernel_info()["available"]:
        return 0
    count = _load.lib.NeurodynThreadedDeliveries
    count.restype = ctypes.c_int64
    return int(count())


def _load() -> dict:
    try:
        path, reason = _build()
        if path is None:
            return {"available": False, "reason": reason, "path": None}
        try:
            lib = ctypes.cdll.LoadLibrary(str(path))
            handlers = {target: getattr(lib, symbol) for target, symbol in _HANDLERS.items()}
        except (OSError, AttributeError) as e:
            return {"available": False, "reason": f"loading {path} failed: {e}", "path": str(path)}
        for target, handler in handlers.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(handler), platform="cpu")
        _load.lib = lib  # keep the library loaded for the life of the process
        return {"available": True, "reason": "", "path": str(path)}
    except Exception as e:  # anything unexpected: fall back rather than break a simulation
        return {"available": False, "reason": f"{type(e).__name__}: {e}", "path": None}


def _compiler() -> list[str] | None:
    cxx = os.environ.get("CXX")
    if cxx:
        cmd = shlex.split(cxx)
        return cmd if shutil.which(cmd[0]) else None
    for name in ("g++", "c++", "clang++"):
        found = shutil.which(name)
        if found:
            return [found]
    return None


def _cache_dir() -> Path:
    explicit = os.environ.get("NEURODYN_CACHE_DIR")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "neurodyn"
    candidates = [Path(explicit)] if explicit else [base]
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates.append(Path(tempfile.gettempdir()) / f"neurodyn-{uid}")
    for d in candidates:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            continue
    raise OSError(f"no writable cache directory among {[str(d) for d in candidates]}")


def _build() -> tuple[Path | None, str]:
    """Compile the kernel into the cache unless it is already there: (path, why not)."""
    missing = [str(src) for src in (*_SOURCES, *_HEADERS) if not src.is_file()]
    if missing:
        return None, f"kernel source {missing[0]} is missing from the installation"
    include = Path(jax.ffi.include_dir())
    if not (include / "xla" / "ffi" / "api" / "ffi.h").is_file():
        return None, f"jaxlib ships no XLA FFI headers under {include}"
    cxx = _compiler()
    if cxx is None:
        return None, "no C++ compiler found (install g++, or set CXX)"
    key = hashlib.sha256(
        b"\0".join(
            [*(src.read_bytes() for src in (*_SOURCES, *_HEADERS)), jaxlib.__version__.encode(), " ".join(cxx + list(_FLAGS)).encode(),
             f"{sys.platform}-{platform.machine()}".encode()]
        )
    ).hexdigest()[:16]
    cache = _cache_dir()
    path = cache / f"delivery-{key}.so"
    if path.is_file():
        return path, ""
    with _file_lock(cache / f"delivery-{key}.lock"):
        if path.is_file():  # another process built it while we waited
            return path, ""
        fd, tmp = tempfile.mkstemp(prefix=f"delivery-{key}-", suffix=".so", dir=cache)
        os.close(fd)
        cmd = [*cxx, *_FLAGS, f"-I{include}", *map(str, _SOURCES), "-o", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if proc.returncode != 0:
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
                return None, f"the C++ build failed ({shlex.join(cmd)} exited with {proc.returncode}):\n{tail}"
            os.replace(tmp, path)  # atomic: readers never see a half-written library
        except (OSError, subprocess.SubprocessError) as e:
            return None, f"the C++ build failed ({cxx[0]}: {e})"
        finally:
            with contextlib.suppress(OSError):
                os.remove(tmp)
    return path, ""


@contextlib.contextmanager
def _file_lock(path: Path):
    try:
        import fcntl
    except ImportError:  # not POSIX: builds may race, os.replace keeps them atomic
        yield
        return
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
