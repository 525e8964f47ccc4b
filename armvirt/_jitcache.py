"""Point Numba's on-disk cache at a directory keyed on a hash of this package's sources.

``cache=True`` only notices edits to the file that defines a function, not to the functions it
calls from other files (numba notes, ../shared/reference/numba.md). Keying the whole cache on every
source file of the core (``CORE``) means an edit anywhere in it gives a fresh cache and nobody
ever runs stale machine code. Must run before numba is imported; ``armvirt/__init__.py`` calls it first thing.

It also makes a damaged cache entry (a truncated ``.nbi``/``.nbc``: a full disk, a killed
process) cost one recompile instead of every later run: numba's ``Cache.load_overload`` is
wrapped, as soon as numba's caching module is imported, so that an entry that cannot be loaded
is deleted, reported in one line on stderr, and compiled again (``guard_cache_loads``).

Numba's own locators file a function's cache under a hash of its source file's *directory*, so
a second clone, a CI checkout or a wheel install (same sources, other path) would compile the
core again. :class:`PackageCacheLocator`, put first in numba's list of locators, files armvirt's
modules by their path inside the package and stamps them with their content's digest instead:
the same sources find the same compiled code wherever they are.
"""
from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

PKG = Path(__file__).resolve().parent

# The modules whose code Numba compiles (or whose constants it freezes into compiled code).
# Editing anything else — the debugger, the CLI, the loader — must not cost a recompile.
# tests/test_generated.py checks that every module using armvirt.jit is listed here.
CORE = ("bits.py", "engine.py", "jit.py", "layout.py", "memmap.py",
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
    _guard_when_imported()
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


def guard_cache_loads(caching) -> None:
    """Wrap ``numba.core.caching.Cache.load_overload``: numba lets any error of loading an
    entry (UnpicklingError or EOFError from a truncated file, an error rebuilding the code)
    escape into the caller, so one damaged file breaks every later run. Here it becomes a
    cache miss: the function's index and data files are deleted (numba writes them afresh
    after compiling) and one line says so."""
    cache_cls = caching.Cache
    if getattr(cache_cls, "_armvirt_guarded", False):
        return
    load = cache_cls.load_overload

    def load_overload(self, sig, target_context):  # type: ignore[no-untyped-def]
        try:
            return load(self, sig, target_context)
        except Exception as e:  # noqa: BLE001 - whatever it is, the entry is unusable
            _discard_entry(self, e)
            return None

    cache_cls.load_overload = load_overload
    cache_cls._armvirt_guarded = True


def _discard_entry(cache, error: Exception) -> None:
    files = cache._cache_file
    index = Path(files._index_path)
    stem = index.name[:-len(".nbi")]
    for p in [index, *index.parent.glob(f"{stem}.*.nbc")]:
        try:
            p.unlink()
        except OSError:
            pass
    why = (str(error).splitlines() or [""])[0]
    func = cache._py_func
    name = f"{func.__module__}.{func.__qualname__}"
    print(f"armvirt: discarded a damaged Numba cache entry for {name} "
          f"({type(error).__name__}{': ' + why if why else ''}); recompiling",
          file=sys.stderr)


class _GuardOnImport(importlib.abc.MetaPathFinder):
    """Applies ``guard_cache_loads`` right after ``numba.core.caching`` is first imported,
    so that importing armvirt does not import numba (the CLI's help, the assembler)."""

    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "numba.core.caching":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_guard(module):  # type: ignore[no-untyped-def]
            exec_module(module)
            guard_cache_loads(module)
        spec.loader.exec_module = exec_and_guard  # type: ignore[method-assign]
        return spec


def _guard_when_imported() -> None:
    if "numba.core.caching" in sys.modules:
        guard_cache_loads(sys.modules["numba.core.caching"])
    elif not any(isinstance(f, _GuardOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _GuardOnImport())

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
