"""The SIMD&FP register file seen as the Arm ARM's V[], Vpart[] and Elem[] accessors.

V0..V31 live in the PE's state row as two int64 words each (``layout.V_BASE + 2n`` = bits 63:0,
``+ 2n + 1`` = bits 127:64). Elements are handled as unsigned values in an int64 (a 64-bit
element is the raw int64 bit pattern): handlers work lane by lane on two local words and write
the register once, so an operation whose destination is also a source reads every operand first,
as the pseudocode's ``operand = V[n]`` ... ``V[d] = result`` does. Nothing here allocates.

Conventions shared by every SIMD&FP handler (``armvirt/exec/fp*.py``, ``simd*.py``):

* ``esize`` is in bits (8, 16, 32, 64); ``e`` the element index over the full 128 bits.
* A write of a scalar or a 64-bit vector (Q = 0) zeroes the bits above it (the Arm ARM's
  ``V[d] = result`` with a narrower result: the upper part of the register is cleared).
* FPSR's cumulative flags accumulate with ``fpsr_accumulate`` (FPProcessException without trap
  enables: Armv8.0 implementations may leave the FPCR trap enables RAZ/WI, as this one does).
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR

MASK32 = 0xFFFFFFFF

# FPSR cumulative exception bits (Arm ARM C5.2.8) and QC.
FPSR_IOC = 1 << 0
FPSR_DZC = 1 << 1
FPSR_OFC = 1 << 2
FPSR_UFC = 1 << 3
FPSR_IXC = 1 << 4
FPSR_IDC = 1 << 7
FPSR_QC = 1 << 27


@njit(cache=True, inline="always")
def emask(esize):
    """All ones in the low ``esize`` bits (esize = 64 gives -1, every bit set)."""
    return -1 if esize == 64 else (1 << esize) - 1


@njit(cache=True, inline="always")
def v_lo(c, n):
    """V[n]<63:0>."""
    return c[L.V_BASE + 2 * n]


@njit(cache=True, inline="always")
def v_hi(c, n):
    """V[n]<127:64>."""
    return c[L.V_BASE + 2 * n + 1]


@njit(cache=True, inline="always")
def set_v(c, n, lo, hi):
    """V[n] = hi:lo (all 128 bits)."""
    c[L.V_BASE + 2 * n] = lo
    c[L.V_BASE + 2 * n + 1] = hi


@njit(cache=True, inline="always")
def set_v64(c, n, lo):
    """V[n] = ZeroExtend(lo, 128): a 64-bit vector or D scalar result."""
    c[L.V_BASE + 2 * n] = lo
    c[L.V_BASE + 2 * n + 1] = 0


@njit(cache=True, inline="always")
def set_vscalar(c, n, value, esize):
    """V[n] = ZeroExtend(value<esize-1:0>, 128): a scalar (B/H/S/D) result."""
    c[L.V_BASE + 2 * n] = value & emask(esize)
    c[L.V_BASE + 2 * n + 1] = 0


@njit(cache=True, inline="always")
def set_vq(c, n, lo, hi, q):
    """V[n] = the 128-bit result when ``q``, else ZeroExtend(lo): the ``datasize`` write."""
    c[L.V_BASE + 2 * n] = lo
    c[L.V_BASE + 2 * n + 1] = hi if q else 0


@njit(cache=True, inline="always")
def elem(c, n, e, esize):
    """Elem[V[n], e, esize] as an unsigned value (64-bit elements as their int64 pattern)."""
    bit = e * esize
    w = c[L.V_BASE + 2 * n + (bit >> 6)]
    if esize == 64:
        return w
    return (w >> (bit & 63)) & ((1 << esize) - 1)


@njit(cache=True, inline="always")
def elem_of(lo, hi, e, esize):
    """Elem[] of a 128-bit value held as two words."""
    bit = e * esize
    w = hi if bit >= 64 else lo
    if esize == 64:
        return w
    return (w >> (bit & 63)) & ((1 << esize) - 1)


@njit(cache=True, inline="always")
def elem_sext(v, esize):
    """SInt() of an element value: sign-extend ``v<esize-1:0>`` to int64."""
    if esize == 64:
        return v
    s = 1 << (esize - 1)
    return ((v & ((1 << esize) - 1)) ^ s) - s


@njit(cache=True, inline="always")
def put_elem(lo, hi, e, esize, v):
    """Elem[result, e, esize] = v on a 128-bit value held as two words; returns (lo, hi)."""
    bit = e * esize
    sh = bit & 63
    if esize == 64:
        if bit >= 64:
            return lo, v
        return v, hi
    m = ((1 << esize) - 1) << sh
    if bit >= 64:
        return lo, (hi & ~m) | ((v << sh) & m)
    return (lo & ~m) | ((v << sh) & m), hi


@njit(cache=True, inline="always")
def fpcr(c):
    """FPCR as the FP pseudocode reads it (RMode in bits 23:22, FZ 24, DN 25, AHP 26)."""
    return c[SR.FPCR]


@njit(cache=True, inline="always")
def fpsr_accumulate(c, flags):
    """FPSR |= flags: the cumulative exception bits (and QC) are sticky."""
    if flags:
        c[SR.FPSR] |= flags
