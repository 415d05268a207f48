"""The build cache of the Verilator back end: converted Verilog and built harnesses, shared by
processes.

``BuildCache(root)`` keeps, under ``root`` (default ``default_cache_dir()``:
``$XDG_CACHE_HOME/redmule-hdl``, or ``~/.cache/redmule-hdl`` without ``XDG_CACHE_HOME``):

* ``verilog/<key>.v``: Verilog text (``sim.verilator.flows``);
* ``verilator/<key>/Vharness``: harness executables (``sim.verilator.builder``).

Entries are written atomically (a process never sees a half-written file), builds of the same key
are serialized by a lock file, and only the ``keep`` most recently used entries of each kind are kept,
except that an entry used within the last ``grace`` seconds is never removed: another process may be
about to run it (a test suite on several workers uses more builds at once than ``keep``).
"""
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

__all__ = ["BuildCache", "default_cache_dir", "digest"]

#: Harness builds kept (Verilog files: twice as many); least recently used ones are removed.
CACHE_KEEP = 32
#: Seconds since its last use during which an entry is kept whatever ``CACHE_KEEP`` says.
CACHE_GRACE = 3600


def default_cache_dir():
    """``$XDG_CACHE_HOME/redmule-hdl``, or ``~/.cache/redmule-hdl`` if ``XDG_CACHE_HOME`` is unset."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "redmule-hdl"


def digest(*parts):
    """A short hex key of ``parts`` (str or bytes), each part delimited."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:24]


class BuildCache:
    """The cache directory ``root`` (see the module docstring); ``None`` means the default."""

    def __init__(self, root=None, *, keep=CACHE_KEEP, grace=CACHE_GRACE):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.keep = keep
        self.grace = grace

    # ---- Verilog text -----------------------------------------------------------------------------
    def read_text(self, key):
        """The cached Verilog of ``key`` (marking it used), or None."""
        path = self.root / "verilog" / f"{key}.v"
        if not path.exists():
            return None
        os.utime(path)
        return path.read_text()

    def write_text(self, key, text):
        path = self.root / "verilog" / f"{key}.v"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        self._prune(path.parent.glob("*.v"), 2 * self.keep)

    # ---- builds ---------------------------------------------------------------------------------------
    def build_dir(self, key):
        """The directory of build ``key`` (it exists once the build is complete)."""
        return self.root / "verilator" / key

    @contextmanager
    def building(self, key):
        """Hold the build lock of ``key``. Yields None if the build exists (perhaps just made by
        another process), else a fresh work directory beside the builds: the caller puts the finished
        build into its subdirectory ``final``, which then becomes ``build_dir(key)``. The work
        directory is removed on exit."""
        parent = self.root / "verilator"
        parent.mkdir(parents=True, exist_ok=True)
        with open(parent / f"{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self.build_dir(key).exists():
                yield None
                return
            work = Path(tempfile.mkdtemp(prefix="build.", dir=parent))
            try:
                yield work
                os.replace(work / "final", self.build_dir(key))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        self._prune((p for p in parent.iterdir() if (p / "Vharness").exists()), self.keep)

    def touch(self, key):
        """Mark build ``key`` as used; False if it is not (or no longer) in the cache."""
        try:
            os.utime(self.build_dir(key) / "Vharness")
            os.utime(self.build_dir(key))
        except FileNotFoundError:
            return False
        return True

    # ---- eviction -------------------------------------------------------------------------------------
    def _prune(self, entries, keep):
        """Remove all but the ``keep`` most recently used ``entries``, sparing those used within the
        last ``grace`` seconds (ignores races)."""
        entries = sorted(entries, key=_mtime, reverse=True)
        unused_since = time.time() - self.grace
        for victim in entries[keep:]:
            if _mtime(victim) > unused_since:
                continue
            try:
                if victim.is_dir():
                    shutil.rmtree(victim)
                    Path(str(victim) + ".lock").unlink(missing_ok=True)
                else:
                    victim.unlink()
            except OSError:
                pass


def _mtime(path):
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
