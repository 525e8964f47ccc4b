"""Point Numba's on-disk cache at a directory keyed on a hash of this package's sources.

``cache=True`` only notices edits to the file that defines a function, not to the functions it
calls from other files (numba notes, ../shared/reference/numba.md). Keying the whole cache on every
source file of the core (``CORE``) means an edit anywhere in it gives a fresh cache and nobody
ever runs stale machine code. Must run before numba is imported; ``armvirt/__init__.py`` calls it first thing.

Numba's own locators file a function's cache under a hash of its source file's *directory*, so
a second clone, a CI checkout or a wheel install (same sources, other path) would compile the
core again. :class:`PackageCacheLocator`, put first in numba's list of locators, files armvirt's
modules by their path inside the package and stamps them with their content's digest instead:
the same sources find the same compiled code wherever they are.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

PKG = Path(__file__).resolve().parent

# The modules whose code Numba compiles (or whose constants it freezes into compiled code).
# Editing anything else — the debugger, the CLI, the loader — must not cost a recompile.
# tests/test_generated.py checks that every module using armvirt.jit is listed here.
CORE = ("bits.py", "costs.py", "engine.py", "jit.py", "layout.py", "memmap.py",
        "cpu", "devices", "exec", "isa")


def core_files() -> list[Path]:
    files: list[Path] = []
    for entry in CORE:
        p = PKG / entry
        files.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return files


def source_digest() -> str:
    h = hashlib.sha256()
    for p in core_files():
        h.update(str(p.relative_to(PKG)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def configure() -> str | None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        register_locator()
        return os.environ["NUMBA_CACHE_DIR"]  # the user chose one; respect it
    base = Path(os.environ.get("ARMVIRT_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "armvirt")
    digest = source_digest()
    target = base / f"numba-{digest}"
    try:
        target.mkdir(parents=True, exist_ok=True)
        # Caches of other source versions are dead weight, but another checkout may be using
        # one right now: only drop those untouched for a day.
        now = time.time()
        for old in base.glob("numba-*"):
            if old != target and now - old.stat().st_mtime > 86400:
                shutil.rmtree(old, ignore_errors=True)
        os.utime(target)
    except OSError:
        return None  # read-only home: Numba falls back to its own locations
    os.environ["NUMBA_CACHE_DIR"] = str(target)
    try:  # numba already imported by the host program: tell it too
        import sys
        if "numba" in sys.modules:
            sys.modules["numba"].config.CACHE_DIR = str(target)
    except Exception:
        pass
    register_locator()
    return str(target)


def _file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


_registered = False


def register_locator() -> None:
    """Put :class:`PackageCacheLocator` first in numba's locators (once per process). Imports
    numba: must run before any function of the core is decorated."""
    global _registered
    if _registered:
        return
    from numba.core import caching

    class PackageCacheLocator(caching._CacheLocator):
        """Caches a function of an ``armvirt`` module under ``<NUMBA_CACHE_DIR>/armvirt/<its
        directory inside the package>``, stamped with the digest of its file's content (numba:
        the file's directory path, and its mtime before numba 0.61), so that identical sources
        at another path reuse the compiled code."""

        def __init__(self, py_func, py_file: str, rel: Path) -> None:
            from numba.core import config
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = os.path.join(config.CACHE_DIR, "armvirt", *rel.parent.parts)

        def get_cache_path(self) -> str:
            return self._cache_path

        def get_source_stamp(self) -> str:
            return _file_digest(self._py_file)

        def get_disambiguator(self) -> str:
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            from numba.core import config
            if not config.CACHE_DIR:
                return None
            try:
                rel = Path(py_file).resolve().relative_to(PKG)
            except (ValueError, OSError):
                return None            # not armvirt's: numba's own locators decide
            self = cls(py_func, py_file, rel)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl   # renamed in numba 0.6x
    impl._locator_classes.insert(0, PackageCacheLocator)
    _registered = True
