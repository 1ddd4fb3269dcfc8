"""Crash-safe file writes, checksums and the crash-injection hook of the crash tests.

A file is written to a hidden temporary name in the same directory (`.name.tmp-PID`,
which no data glob such as `chunk_*.npz` matches), flushed and fsynced, then renamed over
its final name (`os.replace` is atomic on POSIX), and the directory is fsynced so the
rename itself survives a power cut. A reader therefore sees the old file or the new one,
never a mixture.

`crash_point(name)` is how the tests kill a writer at an exact place: when the environment
variable `NEURODYN_CRASH_AT` equals `name` (or `name:index`), the process SIGKILLs itself,
as a power cut or `kill -9` would. It costs one dictionary look-up otherwise.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

CRASH_ENV = "NEURODYN_CRASH_AT"


class DamagedFileError(ValueError):
    """A file neurodyn wrote is truncated, altered or not what its manifest says."""


def crash_point(name: str, index: int | None = None) -> None:
    """SIGKILL this process if `NEURODYN_CRASH_AT` names this point (test hook)."""
    spec = os.environ.get(CRASH_ENV)
    if spec and (spec == name or (index is not None and spec == f"{name}:{index}")):
        os.kill(os.getpid(), signal.SIGKILL)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def temp_name(path: Path) -> Path:
    """The hidden temporary name `path` is written under before it is renamed."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def is_temp(path: Path) -> bool:
    return path.name.startswith(".") and ".tmp-" in path.name


def write_atomic(path, data: bytes, *, crash: str | None = None, index: int | None = None) -> None:
    """Write `data` to `path` atomically (temp file, fsync, rename, fsync of the directory).

    `crash` names this write for `crash_point`: `<crash>_mid` fires with half the bytes
    written, `<crash>_before_rename` with the temp file complete, `<crash>_after_rename`
    once the file is in place.
    """
    path = Path(path)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            if crash:
                f.flush()
                crash_point(f"{crash}_mid", index)
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        if crash:
            crash_point(f"{crash}_before_rename", index)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    if crash:
        crash_point(f"{crash}_after_rename", index)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_temps(directory: Path) -> None:
    """Delete temporary files a killed writer left in `directory`."""
    for p in directory.iterdir():
        if is_temp(p):
            p.unlink(missing_ok=True)
