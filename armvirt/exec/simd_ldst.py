"""Advanced SIMD structure loads and stores (``armvirt/isa/simd_ldst.decode``).

C7.2 LD1..LD4 / ST1..ST4 (multiple structures), LD1..LD4 / ST1..ST4 (single structure) and
LD1R..LD4R, in the no-offset and post-indexed (immediate: Rm = 31, register) forms.  The
pseudocode (``Shared/LDST multiple/single``) makes one memory access per element, in order, and
so do these handlers, through ``mem_read``/``mem_write``: each element gets the translation
(stage 1 and 2), permission, alignment (SCTLR_ELx.A checks each element at its own size),
watchpoint and Device-memory checks of a normal access of its size.

Faults part-way through (an element in an unmapped page, or crossing into one):

* Stores: the elements before the faulting one have been written to memory, as the pseudocode's
  element-by-element ``Mem[] = ...`` does (the Arm ARM permits this: a multi-access store that
  faults need not be single-copy atomic as a whole); the faulting element writes nothing
  (``mem_write`` checks the whole element, both pages, first).  The base register is not
  written back.  QEMU (and so unicorn) also stores element by element.
* Loads: the destination registers are UNKNOWN after the fault (Arm ARM: a load that takes a
  synchronous Data Abort leaves its destination registers UNKNOWN, except the base of a
  writeback form, which is restored).  We follow the pseudocode literally: the elements loaded
  before the fault are in the registers (a 64-bit form has already zeroed the upper half of a
  register it reached), the rest unchanged; the base register is not written back.

Since the instruction restarts from the beginning after the fault is handled, both choices give
the same end result as a fault-free execution.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu.memory import mem_read, mem_write
from armvirt.cpu.memory import store_snoop as _stored
from armvirt.exec.common import set_x_or_sp
from armvirt.exec.ldst import _base
from armvirt.exec.vreg import put_elem, elem_of, emask


@njit(cache=True)
def _transfer(c, M, address, t, e, esize, q, is_load):
    """One element of V[t] at index e to or from memory; a load writes the register back as
    ``V[t] = rval`` with datasize 64 << q (zeroing the upper half for 64-bit forms)."""
    vb = L.V_BASE + 2 * t
    nbytes = esize >> 3
    lo, hi = c[vb], c[vb + 1]
    if is_load:
        ok, v = mem_read(c, M, address, nbytes, 0)
        if not ok:
            return False
        lo, hi = put_elem(lo, hi, e, esize, v)
        c[vb] = lo
        c[vb + 1] = hi if q else 0
        return True
    if not mem_write(c, M, address, nbytes, elem_of(lo, hi, e, esize), 0):
        return False
    _stored(c, M, address, nbytes)
    return True


@njit(cache=True)
def _transfer_word(c, M, address, t, half, esize, q, is_load):
    """The 64-bit half ``half`` of V[t], i.e. 64 // esize consecutive elements of an LD1/ST1
    (multiple structures).  When the address is 8-byte aligned and on the RAM page of the last
    access of the same kind (the memory layer's one-page cache, which only ever holds
    translated, unwatched RAM pages), one 8-byte access is the same as the element accesses:
    same bytes, every element aligned, no fault possible.  Otherwise element by element."""
    vb = L.V_BASE + 2 * t
    if address & 7 == 0:
        if is_load and (address >> 12) == c[L.DATA_RPAGE]:
            ok, v = mem_read(c, M, address, 8, 0)
            c[vb + half] = v
            if not q:
                c[vb + 1] = 0
            return ok
        if not is_load and (address >> 12) == c[L.DATA_WPAGE]:
            if not mem_write(c, M, address, 8, c[vb + half], 0):
                return False
            _stored(c, M, address, 8)
            return True
    n = 64 // esize
    for e in range(n):
        if not _transfer(c, M, address + e * (esize >> 3), t, half * n + e, esize, q, is_load):
            return False
    return True


@njit(cache=True)
def trans_SIMD_ldst_multi(c, M, pc, Q, L_, Rm, opcode, size, Rn, Rt, wback):
    """C7.2 LD1/LD2/LD3/LD4, ST1/ST2/ST3/ST4 (multiple structures): ``rpt`` registers of
    ``selem``-element structures (LD1 x1..x4: rpt = 1..4, selem = 1; LDn: rpt = 1, selem = n),
    interleaved in memory: structure e's element s goes to V[t+s]."""
    if opcode == 0:
        rpt, selem = 1, 4
    elif opcode == 2:
        rpt, selem = 4, 1
    elif opcode == 4:
        rpt, selem = 1, 3
    elif opcode == 6:
        rpt, selem = 3, 1
    elif opcode == 7:
        rpt, selem = 1, 1
    elif opcode == 8:
        rpt, selem = 1, 2
    else:
        rpt, selem = 2, 1
    esize = 8 << size
    ebytes = esize >> 3
    elements = (64 << Q) // esize
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    offs = 0
    if selem == 1:                           # LD1/ST1: each register is contiguous in memory
        for r in range(rpt):
            for half in range(1 + Q):
                if not _transfer_word(c, M, address + offs, (Rt + r) % 32, half, esize, Q,
                                      L_ == 1):
                    return
                offs += 8
        if wback:
            set_x_or_sp(c, Rn, address + (offs if Rm == 31 else c[Rm]))
        return
    for r in range(rpt):
        for e in range(elements):
            tt = (Rt + r) % 32
            for s in range(selem):
                if not _transfer(c, M, address + offs, tt, e, esize, Q, L_ == 1):
                    return
                offs += ebytes
                tt = (tt + 1) % 32
    if wback:
        set_x_or_sp(c, Rn, address + (offs if Rm == 31 else c[Rm]))


@njit(cache=True)
def trans_SIMD_ldst_single(c, M, pc, Q, L_, R, Rm, opcode, S, size, Rn, Rt, wback):
    """C7.2 LD1..LD4/ST1..ST4 (single structure) and LD1R..LD4R: selem = opcode<0>:R + 1
    consecutive elements to/from lane ``index`` of V[t]..V[t+selem-1], or (replicate) to every
    lane."""
    scale = opcode >> 1
    selem = (((opcode & 1) << 1) | R) + 1
    replicate = scale == 3
    index = 0
    if replicate:
        scale = size
    elif scale == 0:
        index = (Q << 3) | (S << 2) | size
    elif scale == 1:
        index = (Q << 2) | (S << 1) | (size >> 1)
    elif size & 1 == 0:
        index = (Q << 1) | S
    else:
        index = Q
        scale = 3
    esize = 8 << scale
    ebytes = 1 << scale
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    offs = 0
    t = Rt
    for s in range(selem):
        if replicate:
            ok, v = mem_read(c, M, address + offs, ebytes, 0)
            if not ok:
                return
            lo = 0
            for e in range(64 // esize):
                lo, _ = put_elem(lo, 0, e, esize, v & emask(esize))
            c[L.V_BASE + 2 * t] = lo
            c[L.V_BASE + 2 * t + 1] = lo if Q else 0
        else:
            # The other lanes (and, unlike the multiple-structure forms, the upper half) stay.
            if not _transfer(c, M, address + offs, t, index, esize, 1, L_ == 1):
                return
        offs += ebytes
        t = (t + 1) % 32
    if wback:
        set_x_or_sp(c, Rn, address + (offs if Rm == 31 else c[Rm]))
