"""Progress of a cold Numba compile, on stderr: what is compiled, how far it is, about how long
is left.

The core compiles on its first use after an install or an edit (minutes on a small machine) and is
loaded from the on-disk cache afterwards (armvirt/_jitcache.py), so these lines appear once. A
listener on numba's ``numba:compile`` event (numba fires it only on a cache miss) prints a line
per compiled function. The estimate comes from the previous cold compile on this machine
(``compile-profile.json`` in the cache directory: how many functions, how many seconds), or, the
very first time, from :data:`REFERENCE`. The pace is no guide: the last few functions (the run
loop, into which LLVM inlines most of the core) take most of the time.
``ARMVIRT_COMPILE_PROGRESS=0`` silences it.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

_installed = False
_WHOLE_CORE = 100     # fewer compiled functions than this: a partial compile, not a cold core
# A whole cold compile measured on the 2-core development machine, idle: 532 functions
# (2026-12-07, this listener's count) in about 193 s (2026-11-22, benchmarks/run.py cold start).
REFERENCE = {"units": 532, "seconds": 193, "where": "on an idle 2-core machine"}


def _profile_path() -> Path:
    """Beside the per-version cache directories (``~/.cache/armvirt``), so that a compile of
    a new version is estimated from the last one; a directory that does not exist when numba
    has no cache directory (nothing is read or written then)."""
    base = os.environ.get("NUMBA_CACHE_DIR")
    return (Path(base).parent if base else Path("/nonexistent")) / "compile-profile.json"


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
                if int(self.prev["units"]) < _WHOLE_CORE or float(self.prev["seconds"]) <= 0:
                    raise ValueError("not a compile of the whole core")
                self.prev["where"] = "last time"
            except (OSError, ValueError, KeyError, TypeError):
                self.prev = dict(REFERENCE)
            self.expected = int(self.prev["units"])
            print(f"armvirt: compiling the emulator core with Numba, once after an install or "
                  f"an edit (about {float(self.prev['seconds']):.0f} s {self.prev['where']}; "
                  f"cached afterwards)", file=self.out, flush=True)

        @staticmethod
        def _function(ev):
            """The compiled function, when it is armvirt's (a user's own jitted code in the
            same process is none of this listener's business)."""
            fn = getattr((ev.data or {}).get("dispatcher"), "py_func", None)
            return fn if getattr(fn, "__module__", "").startswith("armvirt.") else None

        def on_start(self, ev) -> None:
            if self._function(ev) is None:
                return
            if self.t0 is None:
                self._header()
            self.starts.append(time.monotonic())

        def on_end(self, ev) -> None:
            fn = self._function(ev)
            if fn is None:
                return
            now = time.monotonic()
            took = now - self.starts.pop() if self.starts else 0.0
            self.done += 1
            elapsed = now - (self.t0 or now)
            name = f"{fn.__module__}.{fn.__qualname__}"
            name = name.removeprefix("armvirt.")
            total = max(self.expected, self.done)
            left = float(self.prev["seconds"]) - elapsed if self.prev else 0.0
            eta = f"about {left:.0f} s left" if left >= 1 else \
                f"longer than {self.prev['where']} (a busy machine?)"
            print(f"armvirt: [{self.done}/~{total}] {name} ({took:.1f} s); {elapsed:.0f} s so "
                  f"far, {eta}", file=self.out, flush=True)
            if not self.starts and self.done >= _WHOLE_CORE:   # remember the pace of a cold core
                try:
                    _profile_path().write_text(json.dumps(
                        {"units": self.done, "seconds": round(elapsed, 1)}))
                except OSError:
                    pass

    event.register("numba:compile", CompileProgress())
    _installed = True
