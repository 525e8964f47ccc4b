"""Progress of a cold Numba compile, on stderr: what is compiled, how far it is, about how long
is left.

The core compiles on its first use after an install or an edit (minutes on a small machine) and is
loaded from the on-disk cache afterwards (armvirt/_jitcache.py), so these lines appear once. A
listener on numba's ``numba:compile`` event (numba fires it only on a cache miss) prints a line
per compiled function. The estimate comes from the previous cold compile on this machine
(``compile-profile.json`` in the cache directory: how many functions, how many seconds), or, the
very first time, from the number of jitted functions in the core's sources and the pace so far.
``ARMVIRT_COMPILE_PROGRESS=0`` silences it.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

_installed = False
_WHOLE_CORE = 100     # fewer compiled functions than this: a partial compile, not a cold core


def _profile_path() -> Path:
    """Beside the per-version cache directories (``~/.cache/armvirt``), so that a compile of
    a new version is estimated from the last one; a directory that does not exist when numba
    has no cache directory (nothing is read or written then)."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    return (Path(base).parent if base else Path("/nonexistent")) / "compile-profile.json"


def _static_units() -> int:
    """How many jitted functions the core's sources define (an upper bound of what compiles)."""
    from armvirt import _jitcache
    n = 0
    for p in _jitcache.core_files():
        n += len(re.findall(r"^\s*@njit\b", p.read_text(encoding="utf-8"), re.M))
    return max(n, 1)


def install(stream=None) -> None:
    """Register the listener (once per process)."""
    global _installed
    if _installed or os.environ.get("ARMVIRT_COMPILE_PROGRESS", "1") == "0":
        return
    from numba.core import event

    class CompileProgress(event.Listener):
        def __init__(self) -> None:
            self.out = stream or sys.stderr
            self.t0: float | None = None
            self.starts: list[float] = []
            self.done = 0
            self.prev: dict | None = None
            self.expected = 0

        def _header(self) -> None:
            self.t0 = time.monotonic()
            try:
                self.prev = json.loads(_profile_path().read_text())
                self.expected = int(self.prev["units"])
                if self.expected < _WHOLE_CORE:
                    raise ValueError("not a compile of the whole core")
            except (OSError, ValueError, KeyError, TypeError):
                self.prev, self.expected = None, _static_units()
            guess = f", about {self.prev['seconds']:.0f} s last time" if self.prev else ""
            print(f"armvirt: compiling the emulator core with Numba (once after an install or "
                  f"an edit; cached afterwards{guess})", file=self.out, flush=True)

        def on_start(self, ev) -> None:
            if self.t0 is None:
                self._header()
            self.starts.append(time.monotonic())

        def on_end(self, ev) -> None:
            now = time.monotonic()
            took = now - self.starts.pop() if self.starts else 0.0
            self.done += 1
            elapsed = now - (self.t0 or now)
            disp = (ev.data or {}).get("dispatcher")
            fn = getattr(disp, "py_func", None)
            name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"
            name = name.removeprefix("armvirt.")
            total = max(self.expected, self.done)
            if self.prev and self.prev.get("seconds"):
                left = max(float(self.prev["seconds"]) - elapsed, 0.0)
            else:
                left = elapsed / self.done * (total - self.done)
            print(f"armvirt: [{self.done}/~{total}] {name} ({took:.1f} s); {elapsed:.0f} s so "
                  f"far, about {left:.0f} s left", file=self.out, flush=True)
            if not self.starts and self.done >= _WHOLE_CORE:   # remember the pace of a cold core
                try:
                    _profile_path().write_text(json.dumps(
                        {"units": self.done, "seconds": round(elapsed, 1)}))
                except OSError:
                    pass

    event.register("numba:compile", CompileProgress())
    _installed = True
