"""The one decorator for jitted core code: ``from armvirt.jit import njit``.

It is numba's ``njit`` with ``cache=True`` and the Numba runtime (NRT) turned off
(``_nrt=False``). The core passes a tuple of a dozen arrays (``M``) to every handler; with NRT on,
every call and every ``M[i]`` does atomic reference-count updates on those arrays, which measured
~200x slower than the same loop without them (5 M vs 1,000 M calls/s on this machine) and stops
LLVM from inlining handlers. The core never allocates arrays, so it needs no runtime: arrays are
borrowed from Python, which keeps them alive. Code that must allocate (nothing in the hot path
should) can use ``numba.njit`` directly, outside the core. ``tests/test_generated.py`` checks that
every core module uses this decorator.
"""
import numba


def njit(*args, **kwargs):
    kwargs.setdefault("cache", True)
    kwargs.setdefault("_nrt", False)
    if args and callable(args[0]) and len(args) == 1:
        return numba.njit(**kwargs)(args[0])
    return numba.njit(*args, **kwargs)
