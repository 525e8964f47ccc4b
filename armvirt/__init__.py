"""armvirt: an instruction-level AArch64 system emulator with EL2 virtualization.

The public entry point is :class:`armvirt.Machine` (``from armvirt import Machine``).
"""
from armvirt import _jitcache

_jitcache.configure()
from armvirt import jitprogress  # noqa: E402  (after the cache is configured)

jitprogress.install()

__version__ = "0.1.0"


def __getattr__(name):  # lazy: importing armvirt must not compile or import the core
    if name == "Machine":
        from armvirt.machine import Machine
        return Machine
    raise AttributeError(name)
