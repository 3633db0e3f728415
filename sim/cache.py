"""The simulation build cache's size cap: a least-recently-used sweep of ``build/sim/``.

A *build* is a directory ``D`` with a lock file ``D.lock`` beside it (every build of
:func:`ternecg.sim.runner.build` and :func:`ternecg.sim.harness.build_verilator` takes
:func:`ternecg.sim.runner.locked` on its directory). Two files beside ``D`` carry the protocol:

* ``D.lock``: held exclusively while ``D`` is built (or checked against its stamp);
* ``D.use``: its mtime is ``D``'s last use, and every process that used ``D`` holds a shared
  lock on it until it exits (:func:`use`, taken while ``D.lock`` is still held, so a build is
  never unprotected between its build and its runs).

After a new build, :func:`sweep` removes whole builds, the least recently used first, until the
builds under the root take at most :func:`cap_bytes` (``TERNECG_SIM_CACHE_GB``, default 10 GB;
``off``: no cap). It removes a build only while holding both ``D.lock`` and ``D.use``
exclusively (non-blocking): a build being built, or used by any live process (a pytest-xdist
worker, a ``sim-regress --jobs`` worker), is skipped. ``D.lock`` and ``D.use`` themselves stay
(empty files): unlinking a lock file that another process has open would let two processes
hold "the" lock at once.

Sizes are apparent file sizes (``st_size``) summed by an ``os.scandir`` walk, measured only
after a new build. Vectors (``vectors/*.npz``) and generated Verilog are not builds and not
counted. ``rm -rf build/sim`` (``make clean-sim``) is safe whenever no simulation runs.
"""

from __future__ import annotations

import fcntl
import math
import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ternecg.errors import TernEcgError

__all__ = ["ENV", "DEFAULT_GB", "cap_bytes", "builds", "dir_size", "last_use", "use", "Sweep", "sweep"]

#: the environment variable that sets the cap, in gigabytes (10**9 bytes)
ENV = "TERNECG_SIM_CACHE_GB"
DEFAULT_GB = 10
#: how deep under the root builds are looked for (build/sim/<b>, build/sim/harness/sim/<b>, ...)
MAX_DEPTH = 3

#: build directory -> the open file that holds this process's shared lock on its ``.use``
_PINS: dict[str, object] = {}


def cap_bytes() -> int | None:
    """The cap in bytes from ``TERNECG_SIM_CACHE_GB`` (unset or empty: 10 GB; ``off``: None, no
    cap; ``0``: keep only the builds in use). Raises :class:`TernEcgError` on any other value."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_GB * 10**9
    if raw.lower() == "off":
        return None
    try:
        gb = float(raw)
    except ValueError:
        gb = math.nan
    if not math.isfinite(gb) or gb < 0:
        raise TernEcgError(f"{ENV}={raw!r} is not a size: give the simulation build cache's cap in "
                           f"gigabytes (a number >= 0, e.g. {ENV}=10) or 'off' for no cap, or unset it")
    return int(gb * 10**9)


def _sibling(path, suffix) -> Path:
    return Path(str(path) + suffix)


def builds(root) -> list[Path]:
    """The build directories under ``root``: directories ``D`` with a ``D.lock`` beside them (not
    looked into further), found up to :data:`MAX_DEPTH` levels down."""
    found = []
    todo = [(Path(root), 1)]
    while todo:
        folder, depth = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        names = {e.name for e in entries}
        for e in entries:
            if not e.is_dir(follow_symlinks=False):
                continue
            if e.name + ".lock" in names:
                found.append(Path(e.path))
            elif depth < MAX_DEPTH:
                todo.append((Path(e.path), depth + 1))
    return sorted(found)


def dir_size(path) -> int:
    """Bytes of the files under ``path`` (apparent sizes; symbolic links not followed)."""
    total = 0
    todo = [str(path)]
    while todo:
        try:
            it = os.scandir(todo.pop())
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    if e.is_dir(follow_symlinks=False):
                        todo.append(e.path)
                    else:
                        total += e.stat(follow_symlinks=False).st_size
                except OSError:
                    pass
    return total


def last_use(path) -> float:
    """When the build at ``path`` was last used: the mtime of ``path.use``, or for a build made
    before the cap existed the directory's own mtime."""
    for p in (_sibling(path, ".use"), Path(path)):
        try:
            return p.stat().st_mtime
        except OSError:
            pass
    return 0.0


def use(path):
    """Mark the build at ``path`` used now, and hold a shared lock on ``path.use`` until this
    process exits (once per build and process), so no sweep removes it while this process may
    still run it. Call it while holding ``path.lock`` (as :func:`ternecg.sim.runner.locked` does)."""
    marker = _sibling(path, ".use")
    key = str(Path(path).resolve())
    if key not in _PINS:
        f = open(marker, "a+")
        fcntl.flock(f, fcntl.LOCK_SH)
        _PINS[key] = f
    os.utime(marker)


@contextmanager
def _try_exclusive(path):
    """Yield True while holding an exclusive lock on ``path`` (created if missing), or False
    at once if anybody else holds a lock on it (another process, or another open file of this one)."""
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _remove_if_idle(path) -> bool:
    """Remove the build at ``path`` if nobody builds or uses it; True if it was removed."""
    with _try_exclusive(_sibling(path, ".lock")) as free, _try_exclusive(_sibling(path, ".use")) as idle:
        if not (free and idle):
            return False
        shutil.rmtree(path, ignore_errors=True)
        return not Path(path).exists()


@dataclass
class Sweep:
    """What a :func:`sweep` found and did (sizes in bytes)."""
    cap: int | None
    before: int = 0
    after: int = 0
    removed: list = field(default_factory=list)
    skipped_in_use: list = field(default_factory=list)


def sweep(root, cap=None, *, keep=()) -> Sweep:
    """Remove whole builds under ``root``, least recently used first, until they take at most
    ``cap`` bytes (default :func:`cap_bytes`; None: nothing is removed). Builds in ``keep``, being
    built or in use by any process are skipped; sweeps of parallel processes take turns."""
    if cap is None:
        cap = cap_bytes()
    result = Sweep(cap)
    if cap is None or not Path(root).is_dir():
        return result
    keep = {str(Path(k).resolve()) for k in keep}
    with open(Path(root) / ".sweep.lock", "a+") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            found = [(last_use(b), str(b), dir_size(b)) for b in builds(root)]
            total = result.before = sum(size for _, _, size in found)
            for _, b, size in sorted(found):                     # oldest use first
                if total <= cap:
                    break
                if str(Path(b).resolve()) in keep or not _remove_if_idle(b):
                    result.skipped_in_use.append(Path(b))
                    continue
                total -= size
                result.removed.append(Path(b))
            result.after = total
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)
    return result
