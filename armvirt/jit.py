"""The one decorator for jitted core code: ``from armvirt.jit import njit``.

It is numba's ``njit`` with ``cache=True``, the Numba runtime (NRT) turned off (``_nrt=False``)
and one specialization per argument *type*, not per constant argument value
(:class:`CoreDispatcher`).

NRT off: the core passes a tuple of a dozen arrays (``M``) to every handler; with NRT on, every
call and every ``M[i]`` does atomic reference-count updates on those arrays, which measured ~200x
slower than the same loop without them (5 M vs 1,000 M calls/s on this machine) and stops LLVM
from inlining handlers. The core never allocates arrays, so it needs no runtime: arrays are
borrowed from Python, which keeps them alive. Code that must allocate (nothing in the hot path
should) can use ``numba.njit`` directly, outside the core. ``tests/test_generated.py`` checks that
every core module uses this decorator.
"""
import numba
from numba.core import types
from numba.core.registry import CPUDispatcher


class CoreDispatcher(CPUDispatcher):
    """A dispatcher that compiles a callee once per signature of argument types.

    Numba types a constant argument of a call between jitted functions as a literal
    (``Literal[int](32)``) and compiles the callee once for each combination of literal values:
    ``raise_sync(c, M, el, EC_DATA_ABORT, ...)`` and ``raise_sync(c, M, el, EC_SVC, ...)`` were two
    compiles, and with each the whole of what the callee calls was optimised and code-generated
    again — 880 compiles of 415 functions in the cold core of 2026-12-07. The core never needs a
    literal type (it uses no ``literally``), and LLVM still folds the constant into an inlined
    callee, so the literal types are widened before the callee is looked up or compiled."""

    def get_call_template(self, args, kws):
        args = tuple(types.unliteral(a) for a in args)
        kws = {k: types.unliteral(v) for k, v in kws.items()}
        return super().get_call_template(args, kws)


def njit(*args, **kwargs):
    kwargs.setdefault("cache", True)
    kwargs.setdefault("_nrt", False)
    if args and callable(args[0]) and len(args) == 1:
        return _jit(kwargs)(args[0])
    if args:
        raise TypeError("armvirt.jit.njit takes options only (no signatures): the core is "
                        "compiled lazily per argument types")
    return _jit(kwargs)


def _jit(options):
    """numba.njit's wrapper (numba.core.decorators._jit) with CoreDispatcher as the class."""
    options = dict(options)
    cache = options.pop("cache")
    options["nopython"] = True

    def wrap(func):
        if numba.config.DISABLE_JIT:
            return func
        disp = CoreDispatcher(py_func=func, locals={}, targetoptions=options)
        if cache:
            disp.enable_caching()
        return disp
    return wrap
