"""Data processing: immediate (dp_imm.decode) and register (dp_reg.decode) forms.

Every handler follows the contract of ``armvirt.exec.common``: ``trans_X(c, M, pc, <pattern
fields>)``, register values are int64, 32-bit forms zero the upper half (``set_w`` or an explicit
``& MASK32``), register 31 is XZR except where the encoding makes it SP.

The flag-setting arithmetic is AddWithCarry() of the Arm ARM shared pseudocode; the shifts,
extends and masks are ShiftReg(), ExtendReg() and DecodeBitMasks().  Section numbers in the
docstrings are those of the Arm ARM (DDI 0487) issue whose C6.2 list includes FEAT_MTE, FEAT_TME
and BC.cond; they move between issues, the instruction names do not.
"""
import numpy as np

from armvirt import layout as L
from armvirt.bits import lsr, sdiv64, sext, sext32, smulh, udiv64, ule, ult, umulh
from armvirt.exec.common import (MASK32, condition_holds, set_w, set_x, set_x_or_sp,
                                 x_or_sp)
from armvirt.jit import njit


def _crc_table(poly_reflected: int) -> np.ndarray:
    t = np.zeros(256, dtype=np.int64)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly_reflected if crc & 1 else crc >> 1
        t[i] = crc
    return t


def _logic_imm_table() -> np.ndarray:
    """wmask of DecodeBitMasks(N, imms, immr, TRUE, 64) for every N:immr:imms (0 where the
    encoding is reserved).  The 32-bit immediates (N = 0) are the low halves: their element
    size is at most 32 bits and the 64-bit value repeats it.  Plain Python, so that importing
    the module compiles nothing; tests/test_exec_dp.py checks every entry against
    armvirt.bits.decode_bit_masks."""
    t = np.zeros(1 << 13, dtype=np.int64)
    for i in range(1 << 13):
        n, immr, imms = i >> 12, (i >> 6) & 0x3F, i & 0x3F
        length = ((n << 6) | (~imms & 0x3F)).bit_length() - 1   # HighestSetBit(N:NOT(imms))
        if length < 1:
            continue
        esize = 1 << length
        levels = esize - 1
        s, r = imms & levels, immr & levels
        if s == levels:
            continue                                             # all ones: reserved
        welem = (1 << (s + 1)) - 1
        welem = ((welem >> r) | (welem << (esize - r))) & ((1 << esize) - 1)   # ROR(welem, r)
        w = 0
        for k in range(0, 64, esize):                            # Replicate(welem, 64)
            w |= welem << k
        t[i] = w - (1 << 64) if w >> 63 else w
    return t


# The bitmask immediate of every Logical (immediate) encoding, indexed by N:immr:imms, so that
# the handler is a single load.
LOGIC_IMM = _logic_imm_table()

# Byte-at-a-time tables of the bit-reflected CRC-32 (0x04C11DB7, reflected 0xEDB88320) at
# 0..255 and CRC-32C (0x1EDC6F41, reflected 0x82F63B78) at 256..511.
CRC_TABLES = np.concatenate((_crc_table(0xEDB88320), _crc_table(0x82F63B78)))

# ---------------------------------------------------------------------------------------------
# Shared pseudocode
# ---------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def add_with_carry(c, sf, x, y, carry, setflags):
    """AddWithCarry(x, y, carry) on 64 (sf = 1) or 32 bits; PSTATE.NZCV = nzcv when setflags.
    Returns the result, zero-extended for the 32-bit forms.

    The 32-bit form runs in the top half of a 64-bit add (operands and carry-in shifted left
    by 32), where bit 63 is the 32-bit sign, the carry out of bit 63 is the 32-bit carry out
    and the low 32 bits are zero: one short path serves both widths (small handlers are what
    LLVM inlines into the dispatcher)."""
    sh = 0 if sf else 32
    x = x << sh
    y = y << sh
    r = x + y + (carry << sh)
    if setflags:
        set_add_flags(c, x, y, r, carry)
    return lsr(r, sh)


@njit(cache=True, inline="always")
def set_add_flags(c, x, y, r, carry):
    """PSTATE.NZCV = the nzcv of AddWithCarry for the 64-bit sum r = x + y + carry-in (32-bit
    forms: x, y, r in the top half, low halves zero); carry is the carry-in as 0 or 1."""
    # unsigned carry out: the wrapped sum is below x (or equal to it with a carry in)
    if carry:
        cy = 1 if ule(r, x) else 0
    else:
        cy = 1 if ult(r, x) else 0
    z = 1 if r == 0 else 0
    c[L.NZCV] = (lsr(r, 63) << 3) | (z << 2) | (cy << 1) | lsr((x ^ r) & (y ^ r), 63)


@njit(cache=True, inline="always")
def set_logic_flags(c, sf, r):
    """PSTATE.NZCV = result<datasize-1>:IsZeroBit(result):'00' (ANDS, BICS); r already masked."""
    n = lsr(r, 63) if sf else r >> 31
    z = 1 if r == 0 else 0
    c[L.NZCV] = (n << 3) | (z << 2)


@njit(cache=True, inline="always")
def shift_reg(x, typ, amount, sf):
    """ShiftReg(): LSL/LSR/ASR/ROR (typ 0..3) by 0 <= amount < datasize; 32-bit results are
    zero-extended.

    A W operand is shifted in the top half of the register (so bit 63 is its sign and bits
    leaving it at the bottom are dropped by the final LSR #32); for ROR the word is first
    copied into the bottom half too, and a 64-bit rotation of two equal halves rotates each.
    Branch-light on purpose: small handlers are what LLVM inlines into the dispatcher."""
    sh = 0 if sf else 32
    v = x << sh
    if typ == 0:
        v = v << amount
    elif typ == 3:
        v = v | lsr(v, sh)
        v = lsr(v, amount) | (v << ((64 - amount) & 63))
    else:
        v = v >> amount
        if typ == 1:  # LSR: clear the amount copies of the sign bit that ASR shifted in
            v = v & ~((-1 << (63 - amount)) << 1)
    return lsr(v, sh)


@njit(cache=True, inline="always")
def extend_reg(x, option, shift):
    """ExtendReg(): UXTB/UXTH/UXTW/UXTX/SXTB/SXTH/SXTW/SXTX (option 0..7), then LSL #shift.
    The 8 << option<1:0> source bits are moved to the top and back (arithmetic shift to
    sign-extend, logical to zero-extend)."""
    sh = 64 - (8 << (option & 3))
    v = x << sh
    v = v >> sh if option & 4 else lsr(v, sh)
    return v << shift


@njit(cache=True, inline="always")
def clz64(x):
    """CountLeadingZeroBits of a 64-bit value (binary search: no loop)."""
    if x == 0:
        return 64
    n = 0
    if (x >> 32) == 0:
        n += 32
        x = x << 32
    if (x >> 48) == 0:
        n += 16
        x = x << 16
    if (x >> 56) == 0:
        n += 8
        x = x << 8
    if (x >> 60) == 0:
        n += 4
        x = x << 4
    if (x >> 62) == 0:
        n += 2
        x = x << 2
    if x >= 0:
        n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Data processing -- immediate
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def trans_ADR(c, M, pc, immlo, immhi, Rd):
    """C6.2.10 ADR: X[d] = PC + SignExtend(immhi:immlo)."""
    set_x(c, Rd, pc + ((immhi << 2) | immlo))


@njit(cache=True)
def trans_ADRP(c, M, pc, immlo, immhi, Rd):
    """C6.2.11 ADRP: X[d] = PC<63:12>:Zeros(12) + SignExtend(immhi:immlo:Zeros(12))."""
    set_x(c, Rd, (pc & -4096) + (((immhi << 2) | immlo) << 12))


@njit(cache=True)
def trans_ADDSUB_imm(c, M, pc, sf, op, S, sh, imm12, Rn, Rd):
    """C6.2.4 ADD (immediate), C6.2.8 ADDS (immediate), C6.2.357 SUB (immediate), C6.2.363 SUBS
    (immediate).  Rn is SP when 31; Rd is SP when 31 unless S = 1."""
    imm = imm12 << 12 if sh else imm12
    # operand2 = NOT(imm) and carry-in 1 when subtracting: imm ^ -op is ~imm for op = 1
    r = add_with_carry(c, sf, x_or_sp(c, Rn), imm ^ -op, op, S)
    if S:
        set_x(c, Rd, r)
    else:
        set_x_or_sp(c, Rd, r)


@njit(cache=True)
def trans_LOGIC_imm(c, M, pc, sf, opc, N, immr, imms, Rn, Rd):
    """C6.2.12 AND (immediate), C6.2.240 ORR (immediate), C6.2.119 EOR (immediate), C6.2.14 ANDS
    (immediate): imm = DecodeBitMasks(N, imms, immr, TRUE).  Rd is SP when 31 unless ANDS."""
    imm = LOGIC_IMM[(N << 12) | (immr << 6) | imms]
    if sf == 0:
        imm = imm & MASK32
    x = c[Rn]
    if opc == 1:
        r = x | imm
    elif opc == 2:
        r = x ^ imm
    else:
        r = x & imm
    if sf == 0:
        r = r & MASK32
    if opc == 3:
        set_logic_flags(c, sf, r)
        set_x(c, Rd, r)
    else:
        set_x_or_sp(c, Rd, r)


@njit(cache=True)
def trans_MOVN(c, M, pc, sf, hw, imm16, Rd):
    """C6.2.226 MOVN: X[d] = NOT(LSL(imm16, hw * 16))."""
    r = ~(imm16 << (hw << 4))
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_MOVZ(c, M, pc, sf, hw, imm16, Rd):
    """C6.2.227 MOVZ: X[d] = LSL(imm16, hw * 16)."""
    set_x(c, Rd, imm16 << (hw << 4))


@njit(cache=True)
def trans_MOVK(c, M, pc, sf, hw, imm16, Rd):
    """C6.2.225 MOVK: X[d]<pos+15:pos> = imm16, the other bits kept."""
    pos = hw << 4
    r = (c[Rd] & ~(0xFFFF << pos)) | (imm16 << pos)
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


# Bitfield moves.  The predicate guarantees N == sf and immr, imms < datasize, so
# DecodeBitMasks(N, imms, immr, FALSE) has esize == datasize:
#   wmask = ROR(Ones(imms + 1), immr), tmask = Ones(((imms - immr) MOD datasize) + 1).
# Two cases follow (as in the Arm ARM's alias conditions):
#   imms >= immr: the field src<imms:immr> lands at bit 0        ([SU]BFX, BFXIL, LSR, ASR)
#   imms <  immr: the field src<imms:0> lands at bit datasize - immr   ([SU]BFIZ, BFI, LSL)
# which is what (top AND NOT(tmask)) OR (bot AND tmask) computes, without building masks.


@njit(cache=True)
def trans_SBFM(c, M, pc, sf, N, immr, imms, Rn, Rd):
    """C6.2 SBFM (ASR (immediate), SBFIZ, SBFX, SXTB/SXTH/SXTW aliases): the field is
    sign-extended from its top bit src<imms>."""
    x = c[Rn]
    if imms >= immr:
        r = sext(lsr(x, immr), imms - immr + 1)
    else:
        r = sext(x, imms + 1) << ((64 if sf else 32) - immr)
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_BFM(c, M, pc, sf, N, immr, imms, Rn, Rd):
    """C6.2 BFM (BFI, BFXIL, BFC aliases): the field replaces the same bits of X[d]; the other
    bits of X[d] are kept (upper half zeroed for W)."""
    x = c[Rn]
    d = c[Rd]
    if imms >= immr:
        mask = (1 << (imms - immr + 1)) - 1 if imms - immr < 63 else -1
        r = (d & ~mask) | (lsr(x, immr) & mask)
    else:
        sh = (64 if sf else 32) - immr
        mask = ((1 << (imms + 1)) - 1) << sh
        r = (d & ~mask) | ((x << sh) & mask)
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_UBFM(c, M, pc, sf, N, immr, imms, Rn, Rd):
    """C6.2 UBFM (LSL/LSR (immediate), UBFIZ, UBFX, UXTB/UXTH aliases): the field is
    zero-extended."""
    x = c[Rn]
    if imms >= immr:
        w = imms - immr + 1
        r = lsr(x, immr)
        if w < 64:
            r = r & ((1 << w) - 1)
    else:
        r = (x & ((1 << (imms + 1)) - 1)) << ((64 if sf else 32) - immr)
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_EXTR(c, M, pc, sf, N, Rm, imms, Rn, Rd):
    """C6.2 EXTR (ROR (immediate) alias when Rn == Rm): X[d] = (X[n]:X[m])<lsb+datasize-1:lsb>,
    lsb = imms."""
    lo = c[Rm]
    if imms == 0:
        r = lo
    elif sf:
        r = lsr(lo, imms) | (c[Rn] << (64 - imms))
    else:
        r = ((lo & MASK32) >> imms) | (c[Rn] << (32 - imms))
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


# ---------------------------------------------------------------------------------------------
# Data processing -- register
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def trans_LOGIC_reg(c, M, pc, sf, opc, shift, N, Rm, imm6, Rn, Rd):
    """C6.2.13 AND, C6.2.32 BIC, C6.2.241 ORR, C6.2.239 ORN, C6.2.120 EOR, C6.2.118 EON, C6.2.15
    ANDS, C6.2.33 BICS (shifted register): opc:N selects; operand2 = ShiftReg(m, shift, imm6),
    inverted when N = 1."""
    y = shift_reg(c[Rm], shift, imm6, sf)
    if N:
        y = ~y
    x = c[Rn]
    if opc == 1:
        r = x | y
    elif opc == 2:
        r = x ^ y
    else:
        r = x & y
    if sf == 0:
        r = r & MASK32
    if opc == 3:
        set_logic_flags(c, sf, r)
    set_x(c, Rd, r)


@njit(cache=True)
def trans_ADDSUB_shift(c, M, pc, sf, op, S, shift, Rm, imm6, Rn, Rd):
    """C6.2.5 ADD, C6.2.9 ADDS, C6.2.358 SUB, C6.2.364 SUBS (shifted register): register 31 is
    XZR for Rd, Rn and Rm."""
    # AddWithCarry(X[n], ShiftReg(m) or NOT(...), op) with both operands kept in the top half
    # for W (see add_with_carry), written out to keep this hot handler small.
    sh = 0 if sf else 32
    y = c[Rm] << sh
    if shift == 0:
        y = y << imm6
    else:
        y = y >> imm6
        if shift == 1:  # LSR: clear the copies of the sign bit
            y = y & ~((-1 << (63 - imm6)) << 1)
    y = (y ^ -op) & (-1 << sh)     # NOT for SUB; the low half of a W operand must stay zero
    x = c[Rn] << sh
    r = x + y + (op << sh)
    if S:
        set_add_flags(c, x, y, r, op)
    set_x(c, Rd, lsr(r, sh))


@njit(cache=True)
def trans_ADDSUB_ext(c, M, pc, sf, op, S, Rm, option, imm3, Rn, Rd):
    """C6.2.3 ADD, C6.2.7 ADDS, C6.2.356 SUB, C6.2.362 SUBS (extended register): operand2 =
    ExtendReg(m, option, imm3); Rn is SP when 31, Rd is SP when 31 unless S = 1."""
    y = extend_reg(c[Rm], option, imm3)
    r = add_with_carry(c, sf, x_or_sp(c, Rn), y ^ -op, op, S)
    if S:
        set_x(c, Rd, r)
    else:
        set_x_or_sp(c, Rd, r)


@njit(cache=True)
def trans_ADDSUB_carry(c, M, pc, sf, op, S, Rm, Rn, Rd):
    """C6.2.1 ADC, C6.2.2 ADCS, C6.2.265 SBC, C6.2.266 SBCS: AddWithCarry(X[n], X[m] or
    NOT(X[m]), PSTATE.C)."""
    set_x(c, Rd, add_with_carry(c, sf, c[Rn], c[Rm] ^ -op, (c[L.NZCV] >> 1) & 1, S))


@njit(cache=True)
def trans_CONDCMP_reg(c, M, pc, sf, op, Rm, cond, Rn, nzcv):
    """C6.2.49 CCMN (register), C6.2.51 CCMP (register): the flags of X[n] + X[m] (CCMN) or
    X[n] - X[m] (CCMP) if ConditionHolds(cond), else the immediate nzcv."""
    if condition_holds(c, cond):
        add_with_carry(c, sf, c[Rn], c[Rm] ^ -op, op, True)
    else:
        c[L.NZCV] = nzcv


@njit(cache=True)
def trans_CONDCMP_imm(c, M, pc, sf, op, imm5, cond, Rn, nzcv):
    """C6.2.48 CCMN (immediate), C6.2.50 CCMP (immediate): as the register forms with
    operand2 = ZeroExtend(imm5)."""
    if condition_holds(c, cond):
        add_with_carry(c, sf, c[Rn], imm5 ^ -op, op, True)
    else:
        c[L.NZCV] = nzcv


@njit(cache=True)
def trans_CONDSEL(c, M, pc, sf, op, Rm, cond, o2, Rn, Rd):
    """C6.2.103 CSEL, C6.2.106 CSINC, C6.2.107 CSINV, C6.2.108 CSNEG (op:o2): X[n] if
    ConditionHolds(cond), else X[m], X[m] + 1, NOT(X[m]) or -X[m]."""
    if condition_holds(c, cond):
        r = c[Rn]
    else:
        r = c[Rm]
        if op:
            r = ~r
        if o2:
            r = r + 1
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_DIV(c, M, pc, sf, Rm, o1, Rn, Rd):
    """C6.2.388 UDIV, C6.2.270 SDIV: quotient rounded toward zero; a zero divisor gives 0 and
    SDIV of the most negative value by -1 wraps.  (Its cycles: the profile's ``divide`` class.)"""
    x = c[Rn]
    y = c[Rm]
    if sf:
        if y == 0:
            r = 0
        elif o1:
            r = sdiv64(x, y)
        else:
            r = udiv64(x, y)
        set_x(c, Rd, r)
    else:
        if o1:
            x = sext32(x)
            y = sext32(y)
        else:
            x = x & MASK32
            y = y & MASK32
        if y == 0:
            r = 0
        elif o1:
            r = sdiv64(x, y)   # |x|, |y| <= 2**31: exact, INT32_MIN / -1 = 2**31 wraps in set_w
        else:
            r = x // y
        set_w(c, Rd, r)


@njit(cache=True)
def trans_SHIFTV(c, M, pc, sf, Rm, op2, Rn, Rd):
    """C6.2.214 LSLV, C6.2.217 LSRV, C6.2.18 ASRV, C6.2.263 RORV: ShiftReg(n, op2,
    UInt(X[m]) MOD datasize)."""
    if sf:
        set_x(c, Rd, shift_reg(c[Rn], op2, c[Rm] & 63, 1))
    else:
        set_w(c, Rd, shift_reg(c[Rn], op2, c[Rm] & 31, 0))


@njit(cache=True)
def trans_CRC32(c, M, pc, sf, Rm, C, sz, Rn, Rd):
    """C6.2 CRC32B/H/W/X, CRC32CB/H/W/X (C = 1: polynomial 0x1EDC6F41): the bit-reflected CRC
    of X[m]<8 << sz - 1:0> into the accumulator W[n], no inversion (table driven, byte at a time:
    BitReverse(Poly32Mod2(...)) of the pseudocode is the reflected CRC)."""
    acc = c[Rn] & MASK32
    val = c[Rm]
    base = C << 8
    for _ in range(1 << sz):
        acc = CRC_TABLES[base | ((acc ^ val) & 0xFF)] ^ (acc >> 8)
        val = val >> 8
    set_w(c, Rd, acc)


@njit(cache=True)
def trans_RBIT(c, M, pc, sf, Rn, Rd):
    """C6.2.253 RBIT: reverse the bit order of the datasize-bit value (swap networks)."""
    x = c[Rn] if sf else c[Rn] & MASK32
    x = ((x >> 1) & 0x5555555555555555) | ((x & 0x5555555555555555) << 1)
    x = ((x >> 2) & 0x3333333333333333) | ((x & 0x3333333333333333) << 2)
    x = ((x >> 4) & 0x0F0F0F0F0F0F0F0F) | ((x & 0x0F0F0F0F0F0F0F0F) << 4)
    x = ((x >> 8) & 0x00FF00FF00FF00FF) | ((x & 0x00FF00FF00FF00FF) << 8)
    x = ((x >> 16) & 0x0000FFFF0000FFFF) | ((x & 0x0000FFFF0000FFFF) << 16)
    if sf:
        set_x(c, Rd, lsr(x, 32) | (x << 32))
    else:
        set_w(c, Rd, x)


@njit(cache=True)
def trans_REV(c, M, pc, sf, opc, Rn, Rd):
    """C6.2.257 REV16, C6.2.258 REV32, C6.2.256 REV: opc = 01 reverses the bytes in each
    halfword, 10 in each word (REV of a W register), 11 in the doubleword."""
    x = c[Rn] if sf else c[Rn] & MASK32
    x = ((x >> 8) & 0x00FF00FF00FF00FF) | ((x & 0x00FF00FF00FF00FF) << 8)
    if opc >= 2:
        x = ((x >> 16) & 0x0000FFFF0000FFFF) | ((x & 0x0000FFFF0000FFFF) << 16)
        if opc == 3:
            x = lsr(x, 32) | (x << 32)
    set_x(c, Rd, x)


@njit(cache=True)
def trans_CLZ(c, M, pc, sf, Rn, Rd):
    """C6.2.58 CLZ: CountLeadingZeroBits(X[n])."""
    # W form: the word moved to the top, with a guard bit below it that caps the count at 32
    set_x(c, Rd, clz64(c[Rn] if sf else (c[Rn] << 32) | 0x80000000))


@njit(cache=True)
def trans_CLS(c, M, pc, sf, Rn, Rd):
    """C6.2.57 CLS: CountLeadingSignBits(x) = CountLeadingZeroBits(x<N-1:1> EOR x<N-2:0>)."""
    x = c[Rn] if sf else c[Rn] << 32     # W form: the word in the top half, guard bit below
    set_x(c, Rd, clz64((x ^ (x >> 1)) | (0 if sf else 0x80000000)) - 1)


@njit(cache=True)
def trans_MADDSUB(c, M, pc, sf, Rm, o0, Ra, Rn, Rd):
    """C6.2.218 MADD, C6.2.231 MSUB (MUL, MNEG aliases): X[a] +/- X[n] * X[m] (wrapping)."""
    p = c[Rn] * c[Rm]
    r = c[Ra] - p if o0 else c[Ra] + p
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)


@njit(cache=True)
def trans_MADDSUBL(c, M, pc, U, Rm, o0, Ra, Rn, Rd):
    """C6.2.282 SMADDL, C6.2.287 SMSUBL, C6.2.389 UMADDL, C6.2.391 UMSUBL ([SU]MULL,
    [SU]MNEGL aliases): X[a] +/- (32 x 32 -> 64-bit product of W[n] and W[m])."""
    if U:
        p = (c[Rn] & MASK32) * (c[Rm] & MASK32)
    else:
        p = sext32(c[Rn]) * sext32(c[Rm])
    set_x(c, Rd, c[Ra] - p if o0 else c[Ra] + p)


@njit(cache=True)
def trans_MULH(c, M, pc, U, Rm, Rn, Rd):
    """C6.2.288 SMULH, C6.2.392 UMULH: bits 127:64 of the 128-bit product.  (Its cycles:
    the profile's ``multiply_high`` class.)"""
    if U:
        set_x(c, Rd, umulh(c[Rn], c[Rm]))
    else:
        set_x(c, Rd, smulh(c[Rn], c[Rm]))
