"""Helpers shared by every instruction handler.

Handler contract (``trans_X(c, M, pc, *fields)``):

* ``c`` is the executing PE's int64 state row (``armvirt.layout``), ``M`` the machine tuple,
  ``pc`` the instruction's address. On entry ``c[PC]`` already holds ``pc + 4``: a handler that
  branches overwrites it; nothing else needs to touch it.
* Register 31 reads as zero through ``c[n]`` because slot 31 is kept 0; ``set_x`` restores it
  after a write. Forms where register 31 means SP use ``x_or_sp`` / ``set_x_or_sp``.
* Do every memory access before writing any register: a faulting access takes the exception
  inside ``mem_read``/``mem_write`` (which return ok = False) and the handler returns at once,
  so the instruction has no architectural effect, as the Arm ARM requires.
"""
import numpy as np
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu.exceptions import raise_undefined

MASK32 = 0xFFFFFFFF

# ConditionHolds(cond) for every (cond, NZCV) pair: index cond * 16 + nzcv (N=8 Z=4 C=2 V=1).
_COND = np.zeros(256, dtype=np.bool_)
for _cond in range(16):
    for _f in range(16):
        n, z, cy, v = (_f >> 3) & 1, (_f >> 2) & 1, (_f >> 1) & 1, _f & 1
        base = _cond >> 1
        r = (z == 1, cy == 1, n == 1, v == 1, cy == 1 and z == 0, n == v,
             n == v and z == 0, True)[base]
        if _cond & 1 and _cond != 0xF:
            r = not r
        _COND[_cond * 16 + _f] = r
COND_TABLE = _COND


@njit(cache=True, inline="always")
def condition_holds(c, cond):
    """ConditionHolds(cond) from the Arm ARM shared pseudocode, as a table lookup."""
    return COND_TABLE[(cond << 4) | c[L.NZCV]]


@njit(cache=True, inline="always")
def set_x(c, n, v):
    """X[n] = v (n = 31 discards the value: XZR)."""
    c[n] = v
    c[L.XZR] = 0


@njit(cache=True, inline="always")
def set_w(c, n, v):
    """W[n] = v: a 32-bit result zero-extended into the X register."""
    c[n] = v & MASK32
    c[L.XZR] = 0


@njit(cache=True, inline="always")
def x_or_sp(c, n):
    """X[n], or SP when n = 31 (encodings where register 31 is the stack pointer)."""
    return c[L.SP] if n == 31 else c[n]


@njit(cache=True, inline="always")
def set_x_or_sp(c, n, v):
    if n == 31:
        c[L.SP] = v
    else:
        c[n] = v


@njit(cache=True, inline="always")
def set_nzcv(c, n, z, cy, v):
    c[L.NZCV] = (n << 3) | (z << 2) | (cy << 1) | v


@njit(cache=True)
def count_undefined(M, op, pc):
    S = M[L.M_MACH]
    r = L.S_UNIMP + 2 * op
    if S[r] == 0:
        S[r + 1] = pc
    S[r] += 1


@njit(cache=True)
def undefined(c, M, pc):
    """An unallocated encoding: the architectural UNDEFINED exception, counted under op 1."""
    count_undefined(M, 1, pc)
    raise_undefined(c, M, pc)


@njit(cache=True)
def unimplemented(c, M, pc, op):
    """An allocated encoding this core does not implement: UNDEFINED too, and counted under its
    op so that ``--trace unimp`` can say which instructions a guest missed."""
    count_undefined(M, op, pc)
    raise_undefined(c, M, pc)
