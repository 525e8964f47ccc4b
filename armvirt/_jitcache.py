"""Point Numba's on-disk cache at a directory keyed on a hash of this package's sources.

``cache=True`` only notices edits to the file that defines a function, not to the functions it
calls from other files (numba notes, ../shared/reference/numba.md). Keying the whole cache on every
source file of the core (``CORE``) means an edit anywhere in it gives a fresh cache and nobody
ever runs stale machine code. Must run before numba is imported; ``armvirt/__init__.py`` calls it first thing.
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
    return str(target)
