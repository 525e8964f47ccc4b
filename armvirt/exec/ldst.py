"""Loads and stores (``armvirt/isa/ldst.decode``) and FMOV (general) (``fpmove.decode``).

Section references are to the Arm ARM (DDI 0487), chapter C6.2 (A64 base instructions) and C7.2
(A64 SIMD&FP instructions), by instruction title: the section numbers shift between revisions
of the manual, the titles do not.

Conventions (see ``armvirt/exec/common.py`` for the handler contract):

* Every memory access happens before any register write; a faulting access has already taken
  its exception when ``mem_read``/``mem_write`` return ``ok = False`` and the handler returns.
  A multi-access store (STP, 128-bit SIMD&FP) whose bytes span two pages first checks every
  access with ``mem_check_write``, so that a fault on a later access leaves memory unchanged too;
  within one (4 KB, the smallest granule) page the later accesses share the first one's
  alignment, translation and permissions, so the first access's own check is enough.
* A base register of 31 is SP: ``AArch64.CheckSPAlignment`` runs first (not for PRFM). For the
  SIMD&FP forms ``CheckFPAdvSIMDEnabled64`` (EC 0x07) comes before it, as in the pseudocode.
* The instruction syndrome (``acc_iss``: ISV = 1) is attached to single general-register
  loads and stores without writeback, including LDTR/STTR, LDAR/STLR and literal loads, and to
  nothing else (not pairs, writeback forms, exclusives, atomics or SIMD&FP), per the ISV
  description of ESR_ELx for Data Aborts (D17.2.37 ISS encoding for an exception from a Data
  Abort).
* 128-bit SIMD&FP accesses are made as two 8-byte accesses after a 16-byte alignment check
  (so Device memory and SCTLR_ELx.A fault a misaligned Q access as one 16-byte access would).

CONSTRAINED UNPREDICTABLE choices (each is one of the Arm ARM's permitted behaviours, chosen to
be what QEMU, and so unicorn, does; tests/test_exec_ldst.py checks them against unicorn):

* Load with writeback and ``Rn == Rt`` (or ``Rt2``), ``Rn != 31`` (Unpredictable_WBOVERLAPLD):
  Constraint_UNKNOWN with the written-back address as the UNKNOWN value — the loaded data is
  written first and the writeback last, so the register ends up holding the new base address.
* Store with writeback and ``Rn == Rt`` (Unpredictable_WBOVERLAPST): Constraint_NONE, the value
  stored is the register's value before the writeback.
* LDP/LDPSW/LDNP (general registers) with ``Rt == Rt2`` (Unpredictable_LDPOVERLAP):
  Constraint_UNKNOWN; the register receives the *first* element (QEMU writes Rt last).
  LDP (SIMD&FP) and LDXP/LDAXP with ``Rt == Rt2``: Constraint_UNKNOWN; the register receives
  the *second* element (QEMU writes Rt2 last).
* STXR/STXP with the status register equal to a data register or the base
  (Unpredictable_DATAOVERLAP): Constraint_UNKNOWN; the store uses the register's value before
  the status write, then the status is written.

Exclusive monitors (B2.9, AArch64.SetExclusiveMonitors / AArch64.ExclusiveMonitorsPass):
the local monitor marks exactly the physical address and size of the Load-Exclusive
(``EXCL_VALID/EXCL_ADDR/EXCL_SIZE``). A Store-Exclusive passes only for the same physical
address and size (a different size is CONSTRAINED UNPREDICTABLE; we fail it); memory aborts are
detected before the monitor check (IMPLEMENTATION DEFINED order) and a Store-Exclusive always
clears the monitor. Non-exclusive stores of this PE do not clear its own monitor (IMPLEMENTATION
DEFINED). The global monitor is modelled by snooping: on a machine with more than one PE every
store made by these handlers clears the monitors of the *other* PEs whose marked address lies in
the same Exclusives Reservation Granule (CTR_EL0.ERG) and sends them an event (a PE waiting in
WFE wakes up), as the Arm ARM requires when a global monitor goes from Exclusive to Open.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.bits import MASK32, sext, sext32, ult
from armvirt.cpu.memory import (ACC_ATOMIC, ACC_ORDERED, ACC_RMW, ACC_UNPRIV, ACC_WRITE,
                                acc_iss, check_alignment, check_alignment_q, check_sp_alignment,
                                mem_check_write, mem_read, mem_write, translate)
from armvirt.cpu.memory import store_snoop as _stored
from armvirt.cpu.memory import store_snoop_acc
from armvirt.cpu.sysregs import fp_access_check
from armvirt.exec.common import set_w, set_x, set_x_or_sp


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _base(c, M, pc, n):
    """The base register of an access: SP (after AArch64.CheckSPAlignment) when n = 31, else
    X[n]. Returns (ok, address)."""
    if n == 31:
        if not check_sp_alignment(c, M, pc):
            return False, 0
        return True, c[L.SP]
    return True, c[n]


@njit(cache=True, inline="always")
def _extend_reg(v, option, shift):
    """ExtendReg(m, extend_type, shift) for the load/store offset options (option<1> = 1):
    010 UXTW, 011 LSL/UXTX, 110 SXTW, 111 SXTX."""
    if option == 2:
        v = v & MASK32
    elif option == 6:
        v = sext32(v)
    return v << shift


@njit(cache=True, inline="always")
def _gpr_iss(size, opc, rt):
    """acc_iss for a single general-register access with size/opc of the load/store register
    classes: SSE for the sign-extending loads, SF when the register is 64 bits wide."""
    if opc == 2:
        sf = True
    elif opc == 3:
        sf = False
    else:
        sf = size == 3
    return acc_iss(size, opc >= 2, rt, sf, False)


@njit(cache=True, inline="always")
def _load_value(v, size, opc):
    """The register value of a load of 1 << size bytes (``v`` zero-extended): opc 01 zero-extends,
    10 sign-extends to 64 bits, 11 sign-extends to 32 bits (then zero-extends the W result)."""
    if opc == 2:
        return sext(v, 8 << size)
    if opc == 3:
        return sext(v, 8 << size) & MASK32
    return v


@njit(cache=True)
def _ldst_gpr(c, M, address, size, opc, rt, acc):
    """One general-register load or store of 1 << size bytes (opc as in the load/store register
    classes). Returns ok; on a load the register is written only after the access succeeded."""
    nbytes = 1 << size
    if opc == 0:
        if not mem_write(c, M, address, nbytes, c[rt], acc):
            return False
        store_snoop_acc(c, M, address, nbytes, acc)
        return True
    ok, v = mem_read(c, M, address, nbytes, acc)
    if not ok:
        return False
    set_x(c, rt, _load_value(v, size, opc))
    return True


@njit(cache=True)
def _fp_read(c, M, address, scale):
    """Read a SIMD&FP element of 1 << scale bytes (scale 0..4). Returns (ok, low64, high64)."""
    if scale == 4:
        if not check_alignment_q(c, M, address, 0):
            return False, 0, 0
        ok, lo = mem_read(c, M, address, 8, 0)
        if not ok:
            return False, 0, 0
        ok, hi = mem_read(c, M, address + 8, 8, 0)
        return ok, lo, hi
    ok, v = mem_read(c, M, address, 1 << scale, 0)
    return ok, v, 0


@njit(cache=True, inline="always")
def _crosses_page(address, nbytes):
    """Do the nbytes at address span two 4 KB pages?"""
    return ((address ^ (address + nbytes - 1)) >> 12) != 0


@njit(cache=True)
def _fp_check_write(c, M, address, scale):
    """Every check a SIMD&FP element store would make (alignment as one access of the element
    size, then translation of each 8-byte half of a Q element). Returns ok."""
    if scale == 4:
        if not check_alignment_q(c, M, address, ACC_WRITE):
            return False
        if mem_check_write(c, M, address, 8, 0) < 0:
            return False
        return mem_check_write(c, M, address + 8, 8, 0) >= 0
    return mem_check_write(c, M, address, 1 << scale, 0) >= 0


@njit(cache=True)
def _fp_write(c, M, address, scale, lo, hi):
    """Store a SIMD&FP element of 1 << scale bytes. A Q element is checked for 16-byte
    alignment, and for both halves first when it spans two pages. Returns ok."""
    if scale == 4:
        if not check_alignment_q(c, M, address, ACC_WRITE):
            return False
        if _crosses_page(address, 16) and not _fp_check_write(c, M, address, 4):
            return False
        if not mem_write(c, M, address, 8, lo, 0):
            return False
        if not mem_write(c, M, address + 8, 8, hi, 0):
            return False
        _stored(c, M, address, 16)
        return True
    if not mem_write(c, M, address, 1 << scale, lo, 0):
        return False
    _stored(c, M, address, 1 << scale)
    return True


@njit(cache=True)
def _ldst_fp(c, M, address, scale, is_load, t):
    """One SIMD&FP register load or store. A load of B/H/S/D zeroes the rest of V[t]."""
    vb = L.V_BASE + 2 * t
    if is_load:
        ok, lo, hi = _fp_read(c, M, address, scale)
        if not ok:
            return False
        c[vb] = lo
        c[vb + 1] = hi
        return True
    return _fp_write(c, M, address, scale, c[vb], c[vb + 1])


# ---------------------------------------------------------------------------------------------
# Load/store register, general registers
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_LDST_uimm(c, M, pc, size, opc, imm12, Rn, Rt):
    """C6.2 LDR/STR/LDRB/STRB/LDRH/STRH/LDRSB/LDRSH/LDRSW (immediate), unsigned offset:
    address = X[n]|SP + imm12 << size."""
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    _ldst_gpr(c, M, base + (imm12 << size), size, opc, Rt, _gpr_iss(size, opc, Rt))


@njit(cache=True)
def trans_LDST_imm9(c, M, pc, size, opc, imm9, Rn, Rt, wback, postindex):
    """C6.2 LDUR/STUR/LDURB/... (unscaled offset) and LDR/STR/... (immediate) post-index and
    pre-index: 9-bit signed byte offset; writeback after the access (see the module docstring
    for Rn == Rt)."""
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    address = base if postindex else base + imm9
    acc = 0 if wback else _gpr_iss(size, opc, Rt)
    if not _ldst_gpr(c, M, address, size, opc, Rt, acc):
        return
    if wback:
        set_x_or_sp(c, Rn, base + imm9)


@njit(cache=True)
def trans_LDST_unpriv(c, M, pc, size, opc, imm9, Rn, Rt):
    """C6.2 LDTR/STTR/LDTRB/STTRB/LDTRH/STTRH/LDTRSB/LDTRSH/LDTRSW: unscaled offset, the access
    made with EL0 permissions when executed at EL1 (ACC_UNPRIV; the memory layer applies it)."""
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    _ldst_gpr(c, M, base + imm9, size, opc, Rt, ACC_UNPRIV | _gpr_iss(size, opc, Rt))


@njit(cache=True)
def trans_LDST_reg(c, M, pc, size, opc, Rm, option, S, Rn, Rt):
    """C6.2 LDR/STR/LDRB/STRB/LDRH/STRH/LDRSB/LDRSH/LDRSW (register):
    address = X[n]|SP + ExtendReg(m, option, S ? size : 0)."""
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    offset = _extend_reg(c[Rm], option, size if S else 0)
    _ldst_gpr(c, M, base + offset, size, opc, Rt, _gpr_iss(size, opc, Rt))


@njit(cache=True)
def trans_LDR_lit(c, M, pc, sf, imm19, Rt):
    """C6.2 LDR (literal): W or X from PC + imm19 * 4."""
    size = 3 if sf else 2
    ok, v = mem_read(c, M, pc + (imm19 << 2), 1 << size, acc_iss(size, False, Rt, sf == 1, False))
    if not ok:
        return
    set_x(c, Rt, v)


@njit(cache=True)
def trans_LDRSW_lit(c, M, pc, imm19, Rt):
    """C6.2 LDRSW (literal): a word from PC + imm19 * 4, sign-extended to X."""
    ok, v = mem_read(c, M, pc + (imm19 << 2), 4, acc_iss(2, True, Rt, True, False))
    if not ok:
        return
    set_x(c, Rt, sext32(v))


@njit(cache=True)
def trans_PRFM_lit(c, M, pc, imm19, Rt):
    """C6.2 PRFM (literal): a hint; no cache model, so no effect (and no fault)."""
    return


@njit(cache=True)
def trans_PRFM_imm(c, M, pc, imm12, Rn, Rt):
    """C6.2 PRFM (immediate): a hint with no effect (no SP alignment check for prefetches)."""
    return


@njit(cache=True)
def trans_PRFUM(c, M, pc, imm9, Rn, Rt):
    """C6.2 PRFUM: prefetch (unscaled offset), a hint with no effect."""
    return


@njit(cache=True)
def trans_PRFM_reg(c, M, pc, Rm, option, S, Rn, Rt):
    """C6.2 PRFM (register): a hint with no effect."""
    return


# ---------------------------------------------------------------------------------------------
# Load/store pair, general registers
# ---------------------------------------------------------------------------------------------
# The decode table names the direction/acquire bit ``L``, which would shadow the layout module:
# the generated dispatcher passes arguments by position, so those handlers call it ``L_``.
@njit(cache=True)
def trans_LDSTP(c, M, pc, opc, L_, imm7, Rt2, Rn, Rt, wback, postindex):
    """C6.2 LDP/STP (post-index, pre-index, signed offset), LDPSW, LDNP/STNP: two W or X
    registers at address and address + 4|8 (offset imm7 scaled by the element size). A store
    checks both accesses before writing either (see the module docstring for Rt == Rt2 and
    writeback overlaps)."""
    scale = 2 + (opc >> 1)
    nbytes = 1 << scale
    offset = imm7 << scale
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    address = base if postindex else base + offset
    if L_ == 0:
        if _crosses_page(address, 2 * nbytes):
            if mem_check_write(c, M, address, nbytes, 0) < 0:
                return
            if mem_check_write(c, M, address + nbytes, nbytes, 0) < 0:
                return
        d1 = c[Rt]
        d2 = c[Rt2]
        if not mem_write(c, M, address, nbytes, d1, 0):
            return
        if not mem_write(c, M, address + nbytes, nbytes, d2, 0):
            return
        _stored(c, M, address, 2 * nbytes)
    else:
        ok, d1 = mem_read(c, M, address, nbytes, 0)
        if not ok:
            return
        ok, d2 = mem_read(c, M, address + nbytes, nbytes, 0)
        if not ok:
            return
        if opc == 1:  # LDPSW
            d1 = sext32(d1)
            d2 = sext32(d2)
        set_x(c, Rt2, d2)
        set_x(c, Rt, d1)   # Rt == Rt2: the first element (as QEMU)
    if wback:
        set_x_or_sp(c, Rn, base + offset)


@njit(cache=True)
def trans_LDSTP_fp(c, M, pc, opc, L_, imm7, Rt2, Rn, Rt, wback, postindex):
    """C7.2 LDP/STP (SIMD&FP) (post-index, pre-index, signed offset) and LDNP/STNP (SIMD&FP):
    two S, D or Q registers."""
    if not fp_access_check(c, M, pc):
        return
    scale = 2 + opc
    nbytes = 1 << scale
    offset = imm7 << scale
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    address = base if postindex else base + offset
    v1 = L.V_BASE + 2 * Rt
    v2 = L.V_BASE + 2 * Rt2
    if L_ == 0:
        if _crosses_page(address, 2 * nbytes):
            if not _fp_check_write(c, M, address, scale):
                return
            if not _fp_check_write(c, M, address + nbytes, scale):
                return
        lo1 = c[v1]
        hi1 = c[v1 + 1]
        lo2 = c[v2]
        hi2 = c[v2 + 1]
        if not _fp_write(c, M, address, scale, lo1, hi1):
            return
        if not _fp_write(c, M, address + nbytes, scale, lo2, hi2):
            return
    else:
        ok, lo1, hi1 = _fp_read(c, M, address, scale)
        if not ok:
            return
        ok, lo2, hi2 = _fp_read(c, M, address + nbytes, scale)
        if not ok:
            return
        c[v1] = lo1
        c[v1 + 1] = hi1
        c[v2] = lo2       # Rt == Rt2: the second element (as QEMU)
        c[v2 + 1] = hi2
    if wback:
        set_x_or_sp(c, Rn, base + offset)


# ---------------------------------------------------------------------------------------------
# Load/store register, SIMD&FP
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_LDST_fp_uimm(c, M, pc, size, opc, imm12, Rn, Rt):
    """C7.2 LDR/STR (immediate, SIMD&FP), unsigned offset: B/H/S/D/Q (scale = opc<1>:size)."""
    if not fp_access_check(c, M, pc):
        return
    scale = ((opc >> 1) << 2) | size
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    _ldst_fp(c, M, base + (imm12 << scale), scale, opc & 1, Rt)


@njit(cache=True)
def trans_LDST_fp_imm9(c, M, pc, size, opc, imm9, Rn, Rt, wback, postindex):
    """C7.2 LDUR/STUR (SIMD&FP) and LDR/STR (immediate, SIMD&FP) post-index and pre-index."""
    if not fp_access_check(c, M, pc):
        return
    scale = ((opc >> 1) << 2) | size
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    address = base if postindex else base + imm9
    if not _ldst_fp(c, M, address, scale, opc & 1, Rt):
        return
    if wback:
        set_x_or_sp(c, Rn, base + imm9)


@njit(cache=True)
def trans_LDST_fp_reg(c, M, pc, size, opc, Rm, option, S, Rn, Rt):
    """C7.2 LDR/STR (register, SIMD&FP): offset ExtendReg(m, option, S ? scale : 0)."""
    if not fp_access_check(c, M, pc):
        return
    scale = ((opc >> 1) << 2) | size
    ok, base = _base(c, M, pc, Rn)
    if not ok:
        return
    offset = _extend_reg(c[Rm], option, scale if S else 0)
    _ldst_fp(c, M, base + offset, scale, opc & 1, Rt)


@njit(cache=True)
def trans_LDR_lit_fp(c, M, pc, opc, imm19, Rt):
    """C7.2 LDR (literal, SIMD&FP): S, D or Q from PC + imm19 * 4."""
    if not fp_access_check(c, M, pc):
        return
    _ldst_fp(c, M, pc + (imm19 << 2), 2 + opc, 1, Rt)


# ---------------------------------------------------------------------------------------------
# FMOV (general)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_FMOV_gen(c, M, pc, sf, ftype, rmode, opcode, Rn, Rd):
    """C7.2 FMOV (general): Wd <-> Sn, Xd <-> Dn, Xd <-> Vn.D[1] (no conversion). Writing S or D
    zeroes the rest of the 128-bit register; writing Vd.D[1] leaves D[0] alone."""
    if not fp_access_check(c, M, pc):
        return
    if opcode == 6:  # to the general register
        v = c[L.V_BASE + 2 * Rn + rmode]
        if sf:
            set_x(c, Rd, v)
        else:
            set_w(c, Rd, v)
    else:
        v = c[Rn]
        vb = L.V_BASE + 2 * Rd
        if rmode == 1:
            c[vb + 1] = v
        else:
            c[vb] = v if sf else v & MASK32
            c[vb + 1] = 0


# ---------------------------------------------------------------------------------------------
# Exclusives, load-acquire/store-release
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _mark_exclusive(c, pa, size):
    """AArch64.SetExclusiveMonitors: mark [pa, pa+size) in the local (and global) monitor."""
    c[L.EXCL_VALID] = 1
    c[L.EXCL_ADDR] = pa
    c[L.EXCL_SIZE] = size


@njit(cache=True, inline="always")
def _exclusive_pass(c, pa, size):
    """IsExclusiveLocal for the marked physical address and size."""
    return c[L.EXCL_VALID] != 0 and c[L.EXCL_ADDR] == pa and c[L.EXCL_SIZE] == size


@njit(cache=True, inline="always")
def _store_exclusive_abandoned(c, M):
    """A Store-Exclusive whose store did not complete: after an exception the monitor is clear
    (ExclusiveMonitorsPass cleared it before the access); for an MMIO exit the instruction will be
    replayed and must still see its monitor."""
    if M[L.M_MACH][L.EXIT_CODE] == L.EXIT_NONE:
        c[L.EXCL_VALID] = 0


@njit(cache=True)
def trans_LDXR(c, M, pc, size, o0, Rn, Rt):
    """C6.2 LDXR/LDXRB/LDXRH and LDAXR/LDAXRB/LDAXRH: load, zero-extend, and mark the physical
    address in the exclusive monitor. Must be aligned (ACC_ATOMIC)."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    ok, v = mem_read(c, M, address, nbytes, ACC_ATOMIC)
    if not ok:
        return
    _mark_exclusive(c, translate(c, M, address, ACC_ATOMIC, nbytes), nbytes)
    set_x(c, Rt, v)


@njit(cache=True)
def trans_STXR(c, M, pc, size, Rs, o0, Rn, Rt):
    """C6.2 STXR/STXRB/STXRH and STLXR/STLXRB/STLXRH: store if the exclusive monitor passes;
    W[s] = 0 on success, 1 on failure; the monitor is cleared either way."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    data = c[Rt]
    pa = mem_check_write(c, M, address, nbytes, ACC_ATOMIC)
    if pa < 0:
        return
    status = 1
    if _exclusive_pass(c, pa, nbytes):
        if not mem_write(c, M, address, nbytes, data, ACC_ATOMIC):
            _store_exclusive_abandoned(c, M)
            return
        _stored(c, M, address, nbytes)
        status = 0
    c[L.EXCL_VALID] = 0
    set_x(c, Rs, status)


@njit(cache=True)
def trans_LDXP(c, M, pc, sz, o0, Rt2, Rn, Rt):
    """C6.2 LDXP/LDAXP: two W registers from one aligned doubleword, or two X registers from a
    16-byte-aligned quadword; marks the whole pair in the exclusive monitor."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    if sz == 0:
        ok, v = mem_read(c, M, address, 8, ACC_ATOMIC)
        if not ok:
            return
        d1 = v & MASK32
        d2 = (v >> 32) & MASK32
        nbytes = 8
    else:
        if not check_alignment(c, M, address, 16, ACC_ATOMIC):
            return
        ok, d1 = mem_read(c, M, address, 8, ACC_ATOMIC)
        if not ok:
            return
        ok, d2 = mem_read(c, M, address + 8, 8, ACC_ATOMIC)
        if not ok:
            return
        nbytes = 16
    _mark_exclusive(c, translate(c, M, address, ACC_ATOMIC, nbytes), nbytes)
    set_x(c, Rt, d1)
    set_x(c, Rt2, d2)   # Rt == Rt2: the second element (as QEMU)


@njit(cache=True)
def trans_STXP(c, M, pc, sz, Rs, o0, Rt2, Rn, Rt):
    """C6.2 STXP/STLXP: store a pair of W (one doubleword) or X (one 16-byte-aligned quadword)
    registers if the exclusive monitor passes for the whole pair; W[s] = status."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    d1 = c[Rt]
    d2 = c[Rt2]
    if sz == 0:
        nbytes = 8
        pa = mem_check_write(c, M, address, 8, ACC_ATOMIC)
        if pa < 0:
            return
    else:
        nbytes = 16
        if not check_alignment(c, M, address, 16, ACC_ATOMIC | ACC_WRITE):
            return
        pa = mem_check_write(c, M, address, 16, ACC_ATOMIC)  # aligned: one page, both
        if pa < 0:
            return
    status = 1
    if _exclusive_pass(c, pa, nbytes):
        if sz == 0:
            ok = mem_write(c, M, address, 8, (d1 & MASK32) | (d2 << 32), ACC_ATOMIC)
        else:
            ok = mem_write(c, M, address, 8, d1, ACC_ATOMIC)
            if ok:
                ok = mem_write(c, M, address + 8, 8, d2, ACC_ATOMIC)
        if not ok:
            _store_exclusive_abandoned(c, M)
            return
        _stored(c, M, address, nbytes)
        status = 0
    c[L.EXCL_VALID] = 0
    set_x(c, Rs, status)


@njit(cache=True)
def trans_LDAR(c, M, pc, size, Rn, Rt):
    """C6.2 LDAR/LDARB/LDARH: load-acquire (ordering is moot here); must be aligned
    (ACC_ORDERED); syndrome with AR = 1."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    ok, v = mem_read(c, M, address, 1 << size,
                     ACC_ORDERED | acc_iss(size, False, Rt, size == 3, True))
    if not ok:
        return
    set_x(c, Rt, v)


@njit(cache=True)
def trans_STLR(c, M, pc, size, Rn, Rt):
    """C6.2 STLR/STLRB/STLRH: store-release; must be aligned (ACC_ORDERED); syndrome AR = 1."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    if mem_write(c, M, address, nbytes, c[Rt],
                 ACC_ORDERED | acc_iss(size, False, Rt, size == 3, True)):
        _stored(c, M, address, nbytes)


# ---------------------------------------------------------------------------------------------
# Atomics (FEAT_LSE)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_LDOP(c, M, pc, size, A, R, Rs, Rn, Rt, opc):
    """C6.2 LDADD/LDCLR/LDEOR/LDSET/LDSMAX/LDSMIN/LDUMAX/LDUMIN (and their A/L/AL, B/H forms;
    ST<op> is the alias with Rt = ZR): atomically load, combine with X[s], store; X[t] = the old
    value zero-extended. Aligned only (ACC_ATOMIC); checked as a write first, so an abort has
    WnR = 1 and nothing changes."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    if mem_check_write(c, M, address, nbytes, ACC_ATOMIC | ACC_RMW) < 0:
        return
    ok, old = mem_read(c, M, address, nbytes, ACC_ATOMIC)
    if not ok:
        return
    s = c[Rs]
    bits = 8 << size
    if opc == 0:
        new = old + s
    elif opc == 1:
        new = old & ~s
    elif opc == 2:
        new = old ^ s
    elif opc == 3:
        new = old | s
    elif opc == 4 or opc == 5:
        a = sext(old, bits)
        b = sext(s, bits)
        if opc == 4:
            new = a if a > b else b
        else:
            new = a if a < b else b
    else:
        a = old
        b = s if size == 3 else s & ((1 << bits) - 1)
        if opc == 6:
            new = b if ult(a, b) else a
        else:
            new = a if ult(a, b) else b
    if not mem_write(c, M, address, nbytes, new, ACC_ATOMIC):
        return
    _stored(c, M, address, nbytes)
    set_x(c, Rt, old)


@njit(cache=True)
def trans_SWP(c, M, pc, size, A, R, Rs, Rn, Rt):
    """C6.2 SWP/SWPA/SWPAL/SWPL (and B/H): atomically store X[s] and return the old value in
    X[t], zero-extended."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    if mem_check_write(c, M, address, nbytes, ACC_ATOMIC | ACC_RMW) < 0:
        return
    ok, old = mem_read(c, M, address, nbytes, ACC_ATOMIC)
    if not ok:
        return
    if not mem_write(c, M, address, nbytes, c[Rs], ACC_ATOMIC):
        return
    _stored(c, M, address, nbytes)
    set_x(c, Rt, old)


@njit(cache=True)
def trans_CAS(c, M, pc, size, L_, Rs, o0, Rn, Rt):
    """C6.2 CAS/CASA/CASAL/CASL (and B/H): compare memory with X[s] (low bits); store X[t] only
    when equal; X[s] = the old value, zero-extended. Checked as a write either way."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    nbytes = 1 << size
    if mem_check_write(c, M, address, nbytes, ACC_ATOMIC | ACC_RMW) < 0:
        return
    ok, old = mem_read(c, M, address, nbytes, ACC_ATOMIC)
    if not ok:
        return
    expect = c[Rs] if size == 3 else c[Rs] & ((1 << (8 << size)) - 1)
    if old == expect:
        if not mem_write(c, M, address, nbytes, c[Rt], ACC_ATOMIC):
            return
        _stored(c, M, address, nbytes)
    set_x(c, Rs, old)


@njit(cache=True)
def trans_CASP(c, M, pc, sz, L_, Rs, o0, Rn, Rt):
    """C6.2 CASP/CASPA/CASPAL/CASPL: compare-and-swap a pair of W (one aligned doubleword) or X
    (one 16-byte-aligned quadword) registers; <Rs, Rs+1> receives the old pair."""
    ok, address = _base(c, M, pc, Rn)
    if not ok:
        return
    s1 = c[Rs]
    s2 = c[Rs + 1]
    t1 = c[Rt]
    t2 = c[Rt + 1]
    if sz == 0:
        if mem_check_write(c, M, address, 8, ACC_ATOMIC | ACC_RMW) < 0:
            return
        ok, old = mem_read(c, M, address, 8, ACC_ATOMIC)
        if not ok:
            return
        if old == ((s1 & MASK32) | (s2 << 32)):
            if not mem_write(c, M, address, 8, (t1 & MASK32) | (t2 << 32), ACC_ATOMIC):
                return
            _stored(c, M, address, 8)
        set_x(c, Rs, old & MASK32)
        set_x(c, Rs + 1, (old >> 32) & MASK32)
        return
    if not check_alignment(c, M, address, 16, ACC_ATOMIC | ACC_WRITE):
        return
    if mem_check_write(c, M, address, 16, ACC_ATOMIC | ACC_RMW) < 0:  # aligned: one page
        return
    ok, lo = mem_read(c, M, address, 8, ACC_ATOMIC)
    if not ok:
        return
    ok, hi = mem_read(c, M, address + 8, 8, ACC_ATOMIC)
    if not ok:
        return
    if lo == s1 and hi == s2:
        if not mem_write(c, M, address, 8, t1, ACC_ATOMIC):
            return
        if not mem_write(c, M, address + 8, 8, t2, ACC_ATOMIC):
            return
        _stored(c, M, address, 16)
    set_x(c, Rs, lo)
    set_x(c, Rs + 1, hi)
