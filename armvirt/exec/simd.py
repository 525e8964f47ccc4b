"""Advanced SIMD integer data processing (``armvirt/isa/simd.decode``).

One handler per encoding class of the Arm ARM (C4.1 "Data Processing -- Scalar Floating-Point
and Advanced SIMD"), with a lane loop and a switch on the class's opcode; the vector and AdvSIMD
scalar forms of a class share it (``scalar`` = 1: one element, the result written as a scalar).
Instruction semantics are those of the C7.2 pseudocode of each instruction, named in comments by
its mnemonic.  The access check (CheckFPAdvSIMDEnabled64) is made by ``execute_fpsimd`` before
any handler runs.

Elements are int64 values (``armvirt/exec/vreg.py``): an element read for a signed operation is
sign-extended, for an unsigned one zero-extended; a 64-bit element is its raw int64 pattern, so
the few operations allowed on 64-bit lanes (saturating add/sub, compares, shifts, ADD/SUB, ABS,
NEG) treat that size with explicit unsigned helpers.  Saturation (SatQ / SignedSatQ /
UnsignedSatQ) sets FPSR.QC.
"""
from armvirt.jit import njit

from armvirt.bits import lsr, ult
from armvirt.exec.common import set_w, set_x
from armvirt.exec.vreg import (FPSR_QC, elem_of, elem_sext, emask, fpsr_accumulate, put_elem,
                               set_v, set_vq, set_vscalar, v_hi, v_lo)

INT64_MIN = -0x8000000000000000
INT64_MAX = 0x7FFFFFFFFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Shared arithmetic (the pseudocode's integer library, for esize <= 64 in an int64)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _satq(v, esize, unsigned):
    """SatQ(v, esize, unsigned) for esize < 64 and v a signed int64: (result<esize-1:0>, sat)."""
    if unsigned:
        top = (1 << esize) - 1
        if v > top:
            return top, True
        if v < 0:
            return 0, True
        return v, False
    top = (1 << (esize - 1)) - 1
    if v > top:
        return top, True
    if v < -top - 1:
        return (-top - 1) & ((1 << esize) - 1), True
    return v & ((1 << esize) - 1), False


@njit(cache=True)
def _sat_limit(negative, esize, unsigned):
    """The value a saturating result clamps to: the largest, or (negative) the smallest."""
    if unsigned:
        return 0 if negative else emask(esize)
    if negative:
        return INT64_MIN if esize == 64 else (1 << (esize - 1)) & emask(esize)
    return INT64_MAX if esize == 64 else (1 << (esize - 1)) - 1


@njit(cache=True, inline="always")
def _ext(v, esize, unsigned):
    """SInt()/UInt() of an element value as int64 (a 64-bit unsigned value stays its pattern)."""
    return v if unsigned else elem_sext(v, esize)


@njit(cache=True)
def _qadd(a, b, esize, unsigned):
    """SQADD/UQADD of two extended elements: (result, saturated)."""
    if esize < 64:
        return _satq(a + b, esize, unsigned)
    r = a + b
    if unsigned:
        if ult(r, a):
            return -1, True
        return r, False
    if ((a ^ r) & (b ^ r)) < 0:
        return _sat_limit(a < 0, 64, False), True
    return r, False


@njit(cache=True)
def _qsub(a, b, esize, unsigned):
    """SQSUB/UQSUB of two extended elements: (result, saturated)."""
    if esize < 64:
        return _satq(a - b, esize, unsigned)
    r = a - b
    if unsigned:
        if ult(a, b):
            return 0, True
        return r, False
    if ((a ^ b) & (a ^ r)) < 0:
        return _sat_limit(a < 0, 64, False), True
    return r, False


@njit(cache=True, inline="always")
def _gt(a, b, esize, unsigned):
    """a > b on extended elements (unsigned 64-bit lanes compare as unsigned)."""
    if unsigned and esize == 64:
        return ult(b, a)
    return a > b


@njit(cache=True)
def _shr(a, s, logical, rounding):
    """(a + (rounding ? 1 << (s-1) : 0)) >> s on unbounded integers, s >= 1, without overflow:
    the rounding bit is bit s-1 of a.  ``logical`` for an unsigned 64-bit value."""
    if logical:
        r = lsr(a, s) if s < 64 else 0
        if rounding and s <= 64:
            r += lsr(a, s - 1) & 1
        return r
    r = a >> (s if s < 63 else 63)
    if rounding:
        r += (a >> (s - 1 if s < 64 else 63)) & 1
    return r


@njit(cache=True)
def _qshl(a, sh, esize, src_unsigned, dst_unsigned):
    """SatQ(a << sh, esize, dst_unsigned) for an extended element a and 0 <= sh:
    SQSHL/UQSHL/SQSHLU (immediate and register).  Returns (result, saturated)."""
    if a == 0:
        return 0, False
    negative = (not src_unsigned) and a < 0
    if dst_unsigned and negative:
        return 0, True
    if sh < esize:
        if esize < 64:
            return _satq(a << sh, esize, dst_unsigned)
        r = a << sh
        back = lsr(r, sh) if dst_unsigned else r >> sh
        if back == a:
            return r, False
    return _sat_limit(negative, esize, dst_unsigned), True


@njit(cache=True)
def _shift_reg(a, sh, esize, unsigned, rounding, saturating):
    """[SU]{Q}{R}SHL (register): a shifted left by the signed byte ``sh`` (right when negative,
    with rounding when asked), saturated when asked.  Returns (result<esize-1:0>, saturated)."""
    if sh >= 0:
        if saturating:
            return _qshl(a, sh, esize, unsigned, unsigned)
        return (a << sh if sh < esize else 0) & emask(esize), False
    return _shr(a, -sh, unsigned and esize == 64, rounding) & emask(esize), False


@njit(cache=True)
def _clz(v, esize):
    """CountLeadingZeroBits of an esize-bit value."""
    n = 0
    b = esize - 1
    while b >= 0 and (v >> b) & 1 == 0:
        n += 1
        b -= 1
    return n


@njit(cache=True)
def _pmul(a, b, esize):
    """PolynomialMult of two esize-bit values (2*esize-bit product)."""
    r = 0
    for i in range(esize):
        if (a >> i) & 1:
            r ^= b << i
    return r


@njit(cache=True)
def _sqdmull(a, b, esize):
    """SignedSatQ(2 * a * b, 2 * esize) for signed esize-bit a, b (SQDMULL, SQDMLAL...)."""
    p = a * b
    if esize == 32:
        if p == 1 << 62:
            return INT64_MAX, True
        return 2 * p, False
    r, sat = _satq(2 * p, 2 * esize, False)
    return elem_sext(r, 2 * esize), sat          # signed: it may feed an accumulation


@njit(cache=True)
def _sqdmulh(a, b, esize, rounding):
    """SQDMULH/SQRDMULH: SignedSatQ((2 * a * b + round) >> esize, esize) for esize 16/32."""
    p = a * b
    if rounding:
        p += 1 << (esize - 2)
    return _satq(p >> (esize - 1), esize, False)


@njit(cache=True)
def _recip_estimate_u(v):
    """UnsignedRecipEstimate (URECPE) of a 32-bit value, with the Armv8.0 RecipEstimate()."""
    if (v >> 31) & 1 == 0:
        return 0xFFFFFFFF
    a = (v >> 23) & 0x1FF
    a = a * 2 + 1
    b = (1 << 19) // a
    r = (b + 1) // 2
    return (r & 0x1FF) << 23


@njit(cache=True)
def _rsqrt_estimate_u(v):
    """UnsignedRSqrtEstimate (URSQRTE) of a 32-bit value, with the Armv8.0 RecipSqrtEstimate()."""
    if (v >> 30) & 3 == 0:
        return 0xFFFFFFFF
    a = (v >> 23) & 0x1FF
    if a < 256:
        a = a * 2 + 1
    else:
        a = (a >> 1) << 1
        a = (a + 1) * 2
    b = 512
    while a * (b + 1) * (b + 1) < (1 << 28):
        b += 1
    r = (b + 1) // 2
    return (r & 0x1FF) << 23


@njit(cache=True, inline="always")
def _write(c, d, lo, hi, q, scalar, esize):
    """V[d] = result: a scalar (esize bits), a 64-bit vector (q = 0) or a 128-bit vector."""
    if scalar:
        set_vscalar(c, d, lo, esize)
    else:
        set_vq(c, d, lo, hi, q)


@njit(cache=True, inline="always")
def _write_part(c, d, lo, q, scalar, esize):
    """Vpart[d, part] = result of a narrowing operation: part = Q (the "2" forms write the upper
    half and keep the lower); part 0 zeroes the upper half."""
    if scalar:
        set_vscalar(c, d, lo, esize)
    elif q:
        set_v(c, d, v_lo(c, d), lo)
    else:
        set_vq(c, d, lo, 0, 0)


# ---------------------------------------------------------------------------------------------
# Three same (and scalar three same)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_3same(c, M, pc, Q, U, size, Rm, opcode, Rn, Rd, hi, scalar):
    """C7.2 SHADD SQADD SRHADD AND.. SHSUB SQSUB CMGT CMGE SSHL SQSHL SRSHL SQRSHL SMAX SMIN
    SABD SABA ADD CMTST MLA MUL SMAXP SMINP SQDMULH ADDP, their U forms (UHADD .. CMEQ MLS PMUL
    SQRDMULH) and the scalar forms."""
    o = hi + opcode
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    if o == 3:
        # AND BIC ORR ORN (U = 0), EOR BSL BIT BIF (U = 1), selected by size.
        sel = (U << 2) | size
        if sel == 0:
            rlo, rhi = nlo & mlo, nhi & mhi
        elif sel == 1:
            rlo, rhi = nlo & ~mlo, nhi & ~mhi
        elif sel == 2:
            rlo, rhi = nlo | mlo, nhi | mhi
        elif sel == 3:
            rlo, rhi = nlo | ~mlo, nhi | ~mhi
        elif sel == 4:
            rlo, rhi = nlo ^ mlo, nhi ^ mhi
        elif sel == 5:
            rlo, rhi = mlo ^ ((mlo ^ nlo) & dlo), mhi ^ ((mhi ^ nhi) & dhi)
        elif sel == 6:
            rlo, rhi = dlo ^ ((dlo ^ nlo) & mlo), dhi ^ ((dhi ^ nhi) & mhi)
        else:
            rlo, rhi = dlo ^ ((dlo ^ nlo) & ~mlo), dhi ^ ((dhi ^ nhi) & ~mhi)
        set_vq(c, Rd, rlo, rhi, Q)
        return
    esize = 8 << size
    if o == 16 and not scalar:
        # ADD / SUB on whole words: add the lanes without their top bits, then put the top
        # bits' sum (XOR) back, so no carry crosses a lane boundary.
        h = 0
        for e in range(64 // esize):
            h |= 1 << (e * esize + esize - 1)
        if U:
            rlo = ((nlo | h) - (mlo & ~h)) ^ ((nlo ^ ~mlo) & h)
            rhi = ((nhi | h) - (mhi & ~h)) ^ ((nhi ^ ~mhi) & h)
        else:
            rlo = ((nlo & ~h) + (mlo & ~h)) ^ ((nlo ^ mlo) & h)
            rhi = ((nhi & ~h) + (mhi & ~h)) ^ ((nhi ^ mhi) & h)
        set_vq(c, Rd, rlo, rhi, Q)
        return
    elements = 1 if scalar else (64 << Q) // esize
    unsigned = U == 1
    mask = emask(esize)
    pairwise = o == 20 or o == 21 or o == 23
    rlo = 0
    rhi = 0
    qc = False
    for e in range(elements):
        if pairwise:
            i = 2 * e
            if i < elements:
                ra = elem_of(nlo, nhi, i, esize)
                rb = elem_of(nlo, nhi, i + 1, esize)
            else:
                ra = elem_of(mlo, mhi, i - elements, esize)
                rb = elem_of(mlo, mhi, i + 1 - elements, esize)
        else:
            ra = elem_of(nlo, nhi, e, esize)
            rb = elem_of(mlo, mhi, e, esize)
        a = _ext(ra, esize, unsigned)
        b = _ext(rb, esize, unsigned)
        sat = False
        if o == 0:
            r = (a + b) >> 1
        elif o == 1:
            r, sat = _qadd(a, b, esize, unsigned)
        elif o == 2:
            r = (a + b + 1) >> 1
        elif o == 4:
            r = (a - b) >> 1
        elif o == 5:
            r, sat = _qsub(a, b, esize, unsigned)
        elif o == 6:
            r = mask if _gt(a, b, esize, unsigned) else 0
        elif o == 7:
            r = 0 if _gt(b, a, esize, unsigned) else mask
        elif o >= 8 and o <= 11:
            r, sat = _shift_reg(a, elem_sext(rb & 0xFF, 8), esize, unsigned, o >= 10, o & 1 == 1)
        elif o == 12 or o == 20:
            r = a if a > b else b
        elif o == 13 or o == 21:
            r = a if a < b else b
        elif o == 14 or o == 15:
            r = a - b if a > b else b - a
            if o == 15:
                r += elem_of(dlo, dhi, e, esize)
        elif o == 16:
            r = ra - rb if unsigned else ra + rb
        elif o == 17:
            r = (mask if ra == rb else 0) if unsigned else (mask if ra & rb != 0 else 0)
        elif o == 18:
            p = ra * rb
            r = elem_of(dlo, dhi, e, esize) + (-p if unsigned else p)
        elif o == 19:
            r = _pmul(ra, rb, 8) if unsigned else ra * rb
        elif o == 22:
            r, sat = _sqdmulh(elem_sext(ra, esize), elem_sext(rb, esize), esize, unsigned)
        else:  # 23: ADDP
            r = ra + rb
        qc = qc or sat
        rlo, rhi = put_elem(rlo, rhi, e, esize, r & mask)
    if qc:
        fpsr_accumulate(c, FPSR_QC)
    _write(c, Rd, rlo, rhi, Q, scalar, esize)


# ---------------------------------------------------------------------------------------------
# Three different (and scalar three different)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_3diff(c, M, pc, Q, U, size, Rm, opcode, Rn, Rd, scalar):
    """C7.2 SADDL SADDW SSUBL SSUBW ADDHN SABAL SUBHN SABDL SMLAL SQDMLAL SMLSL SQDMLSL SMULL
    SQDMULL PMULL (8-bit), the U forms (UADDL .. RADDHN RSUBHN .. UMULL) and the scalar
    SQDMLAL/SQDMLSL/SQDMULL.  "2" forms (Q = 1) take the upper halves of the narrow operands."""
    esize = 8 << size
    wsize = 2 * esize
    elements = 1 if scalar else 64 // esize
    unsigned = U == 1
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    half = Q * elements                      # element offset of Vpart[., Q] in narrow elements
    wmask = emask(wsize)
    rlo = 0
    rhi = 0
    qc = False
    narrow = opcode == 4 or opcode == 6
    for e in range(elements):
        if opcode == 1 or opcode == 3 or narrow:
            a = _ext(elem_of(nlo, nhi, e, wsize), wsize, unsigned)
        else:
            a = _ext(elem_of(nlo, nhi, half + e, esize), esize, unsigned)
        if narrow:
            b = elem_of(mlo, mhi, e, wsize)
        else:
            b = _ext(elem_of(mlo, mhi, half + e, esize), esize, unsigned)
        acc = _ext(elem_of(dlo, dhi, e, wsize), wsize, False)
        sat = False
        if opcode <= 1:
            r = a + b
        elif opcode <= 3:
            r = a - b
        elif narrow:
            s = a + b if opcode == 4 else a - b
            if unsigned:                     # RADDHN / RSUBHN
                s += 1 << (esize - 1)
            r = lsr(s, esize) if esize == 32 else s >> esize
        elif opcode == 5 or opcode == 7:
            r = a - b if a > b else b - a
            if opcode == 5:
                r += acc
        elif opcode == 8:
            r = acc + a * b
        elif opcode == 10:
            r = acc - a * b
        elif opcode == 12:
            r = a * b
        elif opcode == 14:
            r = _pmul(a & 0xFF, b & 0xFF, 8)
        else:                                 # 9, 11, 13: SQDMLAL SQDMLSL SQDMULL
            r, sat = _sqdmull(a, b, esize)
            if opcode == 9:
                r, s2 = _qadd(acc, r, wsize, False)
                sat = sat or s2
            elif opcode == 11:
                r, s2 = _qsub(acc, r, wsize, False)
                sat = sat or s2
        qc = qc or sat
        if narrow:
            rlo, rhi = put_elem(rlo, rhi, e, esize, r & emask(esize))
        else:
            rlo, rhi = put_elem(rlo, rhi, e, wsize, r & wmask)
    if qc:
        fpsr_accumulate(c, FPSR_QC)
    if narrow:
        _write_part(c, Rd, rlo, Q, False, esize)
    else:
        _write(c, Rd, rlo, rhi, 1, scalar, wsize)


# ---------------------------------------------------------------------------------------------
# Two-register miscellaneous (and scalar two-register miscellaneous)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_2misc(c, M, pc, Q, U, size, opcode, Rn, Rd, hi, scalar):
    """C7.2 REV64 REV16 SADDLP SUQADD CLS CNT SADALP SQABS CMGT/CMEQ/CMLT #0 ABS XTN SQXTN
    URECPE, the U forms REV32 UADDLP USQADD CLZ NOT RBIT UADALP SQNEG CMGE/CMLE #0 NEG SQXTUN
    SHLL UQXTN URSQRTE, and the scalar forms."""
    o = hi + opcode
    if o == 28:
        size = 2                             # URECPE/URSQRTE: the field is sz, 32-bit lanes
    rbit = o == 5 and U == 1 and size == 1
    if o == 5 and U == 1:
        size = 0                             # NOT/RBIT: size selects the operation, bytes
    esize = 8 << size
    unsigned = U == 1
    mask = emask(esize)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    rlo = 0
    rhi = 0
    qc = False
    if o == 18 or o == 20:                   # XTN SQXTUN SQXTN UQXTN: 2*esize -> esize
        elements = 1 if scalar else 64 // esize
        for e in range(elements):
            w = elem_of(nlo, nhi, e, 2 * esize)
            if o == 18 and U == 0:
                r, sat = w & mask, False
            elif o == 18:                    # SQXTUN: signed source, unsigned result
                r, sat = _satq(elem_sext(w, 2 * esize), esize, True)
            elif unsigned:                   # UQXTN
                if esize == 32:
                    r, sat = (w, False) if ult(w, 1 << 32) else (mask, True)
                else:
                    r, sat = _satq(w, esize, True)
            else:
                r, sat = _satq(elem_sext(w, 2 * esize), esize, False)
            qc = qc or sat
            rlo, rhi = put_elem(rlo, rhi, e, esize, r)
        if qc:
            fpsr_accumulate(c, FPSR_QC)
        _write_part(c, Rd, rlo, Q, scalar, esize)
        return
    if o == 19:                              # SHLL{2}: Vpart[n, Q] widened, << esize
        elements = 64 // esize
        for e in range(elements):
            r = elem_of(nlo, nhi, Q * elements + e, esize) << esize
            rlo, rhi = put_elem(rlo, rhi, e, 2 * esize, r)
        set_v(c, Rd, rlo, rhi)
        return
    if o == 2 or o == 6:                     # [SU]ADDLP, [SU]ADALP: pairs -> 2*esize
        elements = (64 << Q) // (2 * esize)
        wmask = emask(2 * esize)
        for e in range(elements):
            r = (_ext(elem_of(nlo, nhi, 2 * e, esize), esize, unsigned)
                 + _ext(elem_of(nlo, nhi, 2 * e + 1, esize), esize, unsigned))
            if o == 6:
                r += elem_of(dlo, dhi, e, 2 * esize)
            rlo, rhi = put_elem(rlo, rhi, e, 2 * esize, r & wmask)
        set_vq(c, Rd, rlo, rhi, Q)
        return
    elements = 1 if scalar else (64 << Q) // esize
    for e in range(elements):
        ra = elem_of(nlo, nhi, e, esize)
        a = elem_sext(ra, esize)
        sat = False
        if o <= 1:                           # REV64 REV32 REV16: reverse within containers
            csize = 16 if o == 1 else (32 if unsigned else 64)
            r = elem_of(nlo, nhi, e ^ (csize // esize - 1), esize)
        elif o == 3:
            d = elem_of(dlo, dhi, e, esize)
            if unsigned:                     # USQADD: unsigned d + signed n
                if esize < 64:
                    r, sat = _satq(d + a, esize, True)
                elif a >= 0:
                    r = d + a
                    if ult(r, d):
                        r, sat = -1, True
                elif ult(d, -a):
                    r, sat = 0, True
                else:
                    r = d + a
            else:                            # SUQADD: signed d + unsigned n
                sd = elem_sext(d, esize)
                if esize < 64:
                    r, sat = _satq(sd + ra, esize, False)
                elif ra < 0:                 # n >= 2**63
                    r = sd + ra
                    if sd >= 0 or r < 0:
                        r, sat = INT64_MAX, True
                else:
                    r, sat = _qadd(sd, ra, 64, False)
        elif o == 4:
            if unsigned:
                r = _clz(ra, esize)
            else:
                r = _clz(ra ^ (mask if a < 0 else 0), esize) - 1
        elif o == 5:
            if not unsigned:                 # CNT
                r = 0
                for i in range(8):
                    r += (ra >> i) & 1
            elif rbit:
                r = 0
                for i in range(8):
                    r |= ((ra >> i) & 1) << (7 - i)
            else:
                r = ~ra
        elif o == 7:                         # SQABS / SQNEG
            r = -a if (unsigned or a < 0) else a
            if esize == 64:
                if a == INT64_MIN:
                    r, sat = INT64_MAX, True
            else:
                r, sat = _satq(r, esize, False)
        elif o == 8:
            r = mask if (a >= 0 if unsigned else a > 0) else 0
        elif o == 9:
            r = mask if (a <= 0 if unsigned else a == 0) else 0
        elif o == 10:
            r = mask if a < 0 else 0
        elif o == 11:
            r = -a if (unsigned or a < 0) else a
        else:                                # 28: URECPE / URSQRTE
            r = _rsqrt_estimate_u(ra) if unsigned else _recip_estimate_u(ra)
        qc = qc or sat
        rlo, rhi = put_elem(rlo, rhi, e, esize, r & mask)
    if qc:
        fpsr_accumulate(c, FPSR_QC)
    _write(c, Rd, rlo, rhi, Q, scalar, esize)


# ---------------------------------------------------------------------------------------------
# Across lanes, scalar pairwise
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_across(c, M, pc, Q, U, size, o, Rn, Rd, opcode):
    """C7.2 SADDLV/UADDLV (opcode 3), SMAXV/UMAXV (10), SMINV/UMINV (26), ADDV (27)."""
    op = opcode + o
    esize = 8 << size
    elements = (64 << Q) // esize
    unsigned = U == 1
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    r = _ext(elem_of(nlo, nhi, 0, esize), esize, unsigned)
    for e in range(1, elements):
        a = _ext(elem_of(nlo, nhi, e, esize), esize, unsigned)
        if op == 10:
            r = a if a > r else r
        elif op == 26:
            r = a if a < r else r
        else:
            r += a
    rsize = 2 * esize if op == 3 else esize
    set_vscalar(c, Rd, r, rsize)


@njit(cache=True)
def trans_SISD_ADDP(c, M, pc, Rn, Rd):
    """C7.2 ADDP (scalar): Dd = Vn.D[0] + Vn.D[1]."""
    set_vscalar(c, Rd, v_lo(c, Rn) + v_hi(c, Rn), 64)


# ---------------------------------------------------------------------------------------------
# Copy: DUP, INS, SMOV, UMOV
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_copy(c, M, pc, Q, op, imm5, imm4, Rn, Rd, scalar):
    """C7.2 DUP (element), DUP (general), INS (general), INS (element), SMOV, UMOV, and
    DUP (element, scalar) (the MOV alias).  size = LowestSetBit(imm5)."""
    size = 0
    while (imm5 >> size) & 1 == 0:
        size += 1
    esize = 8 << size
    index = imm5 >> (size + 1)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    if op == 1:                              # INS (element)
        v = elem_of(nlo, nhi, imm4 >> size, esize)
        lo, hi = put_elem(v_lo(c, Rd), v_hi(c, Rd), index, esize, v)
        set_v(c, Rd, lo, hi)
        return
    if imm4 == 3:                            # INS (general)
        lo, hi = put_elem(v_lo(c, Rd), v_hi(c, Rd), index, esize, c[Rn] & emask(esize))
        set_v(c, Rd, lo, hi)
        return
    if imm4 == 5 or imm4 == 7:               # SMOV / UMOV
        v = elem_of(nlo, nhi, index, esize)
        if imm4 == 5:
            v = elem_sext(v, esize)
        if Q:
            set_x(c, Rd, v)
        else:
            set_w(c, Rd, v)
        return
    v = elem_of(nlo, nhi, index, esize) if imm4 == 0 else c[Rn] & emask(esize)
    if scalar:
        set_vscalar(c, Rd, v, esize)
        return
    lo = 0
    for e in range(64 // esize):
        lo, hi = put_elem(lo, 0, e, esize, v)
    set_vq(c, Rd, lo, lo, Q)


# ---------------------------------------------------------------------------------------------
# Table lookup, permutes, EXT
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_TBL(c, M, pc, Q, Rm, len_, op, Rn, Rd):
    """C7.2 TBL / TBX (op = 1): one to four table registers, from Vn, wrapping at V31."""
    regs = len_ + 1
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    rlo = 0
    rhi = 0
    for i in range(8 << Q):
        idx = elem_of(mlo, mhi, i, 8)
        if idx < 16 * regs:
            t = (Rn + (idx >> 4)) % 32
            v = elem_of(v_lo(c, t), v_hi(c, t), idx & 15, 8)
        elif op:
            v = elem_of(dlo, dhi, i, 8)
        else:
            v = 0
        rlo, rhi = put_elem(rlo, rhi, i, 8, v)
    set_vq(c, Rd, rlo, rhi, Q)


@njit(cache=True)
def trans_SIMD_ZIP(c, M, pc, Q, size, Rm, opcode, Rn, Rd):
    """C7.2 UZP1/UZP2 (opcode x01), TRN1/TRN2 (x10), ZIP1/ZIP2 (x11); opcode<2> = part."""
    esize = 8 << size
    elements = (64 << Q) // esize
    part = opcode >> 2
    kind = opcode & 3
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    rlo = 0
    rhi = 0
    for e in range(elements):
        if kind == 1:                        # UZP: even/odd elements of m:n
            i = 2 * e + part
            if i < elements:
                v = elem_of(nlo, nhi, i, esize)
            else:
                v = elem_of(mlo, mhi, i - elements, esize)
        elif kind == 2:                      # TRN
            i = (e & ~1) + part
            v = elem_of(mlo, mhi, i, esize) if e & 1 else elem_of(nlo, nhi, i, esize)
        else:                                # ZIP
            i = part * (elements // 2) + (e >> 1)
            v = elem_of(mlo, mhi, i, esize) if e & 1 else elem_of(nlo, nhi, i, esize)
        rlo, rhi = put_elem(rlo, rhi, e, esize, v)
    set_vq(c, Rd, rlo, rhi, Q)


@njit(cache=True)
def trans_SIMD_EXT(c, M, pc, Q, Rm, imm4, Rn, Rd):
    """C7.2 EXT: bytes imm4.. of the concatenation Vm:Vn."""
    nbytes = 8 << Q
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    rlo = 0
    rhi = 0
    for i in range(nbytes):
        k = imm4 + i
        if k < nbytes:
            v = elem_of(nlo, nhi, k, 8)
        else:
            v = elem_of(mlo, mhi, k - nbytes, 8)
        rlo, rhi = put_elem(rlo, rhi, i, 8, v)
    set_vq(c, Rd, rlo, rhi, Q)


# ---------------------------------------------------------------------------------------------
# Modified immediate
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _expand_imm(op, cmode, imm8):
    """AdvSIMDExpandImm(op, cmode, imm8) for the integer cmodes (not 1111): the 64-bit pattern."""
    sel = cmode >> 1
    if sel <= 3:
        w = imm8 << (8 * sel)
        return w | (w << 32)
    if sel <= 5:
        h = imm8 << (8 * (sel - 4))
        return h | (h << 16) | (h << 32) | (h << 48)
    if sel == 6:
        w = (imm8 << 8) | 0xFF if cmode & 1 == 0 else (imm8 << 16) | 0xFFFF
        return w | (w << 32)
    r = 0
    for i in range(8):
        b = imm8 if op == 0 else (0xFF if (imm8 >> i) & 1 else 0)
        r |= b << (8 * i)
    return r


@njit(cache=True)
def trans_SIMD_modimm(c, M, pc, Q, op, abc, cmode, defgh, Rd, cb):
    """C7.2 MOVI, MVNI, ORR (vector, immediate), BIC (vector, immediate)."""
    cmode = cmode + cb
    imm = _expand_imm(op, cmode, (abc << 5) | defgh)
    if cmode & 1 and cmode < 12:             # ORR / BIC (immediate)
        if op:
            imm = ~imm
            set_vq(c, Rd, v_lo(c, Rd) & imm, v_hi(c, Rd) & imm, Q)
        else:
            set_vq(c, Rd, v_lo(c, Rd) | imm, v_hi(c, Rd) | imm, Q)
        return
    if op and cmode != 14:                   # MVNI
        imm = ~imm
    set_vq(c, Rd, imm, imm, Q)


# ---------------------------------------------------------------------------------------------
# Shift by immediate (and scalar shift by immediate)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_shift(c, M, pc, Q, U, immh, immb, opcode, Rn, Rd, hi, scalar):
    """C7.2 SSHR SSRA SRSHR SRSRA SRI SHL SLI SQSHLU SQSHL UQSHL (immediate), SHRN RSHRN
    SQSHRUN SQRSHRUN SQSHRN SQRSHRN SSHLL (and U forms), vector and scalar.
    esize = 8 << HighestSetBit(immh); right shifts by 2*esize - immh:immb, left by
    immh:immb - esize."""
    o = hi + opcode
    hsb = 3
    while (immh >> hsb) & 1 == 0:
        hsb -= 1
    esize = 8 << hsb
    immhb = (immh << 3) | immb
    rshift = 2 * esize - immhb
    lshift = immhb - esize
    unsigned = U == 1
    mask = emask(esize)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    rlo = 0
    rhi = 0
    qc = False
    if o >= 16 and o <= 19:                  # narrowing: 2*esize -> esize
        elements = 1 if scalar else 64 // esize
        wsize = 2 * esize
        src_unsigned = unsigned and o >= 18  # UQSHRN/UQRSHRN; SQSHRUN/SQRSHRUN are signed
        for e in range(elements):
            a = _ext(elem_of(nlo, nhi, e, wsize), wsize, src_unsigned)
            r = _shr(a, rshift, src_unsigned and wsize == 64, o & 1 == 1)
            sat = False
            if o >= 18 or unsigned:          # saturating forms
                if src_unsigned and r < 0:   # >= 2**63: only from a 64-bit unsigned source
                    r, sat = mask, True
                else:
                    r, sat = _satq(r, esize, unsigned)
            qc = qc or sat
            rlo, rhi = put_elem(rlo, rhi, e, esize, r & mask)
        if qc:
            fpsr_accumulate(c, FPSR_QC)
        _write_part(c, Rd, rlo, Q, scalar, esize)
        return
    if o == 20:                              # SSHLL/USHLL{2}
        elements = 64 // esize
        for e in range(elements):
            a = _ext(elem_of(nlo, nhi, Q * elements + e, esize), esize, unsigned)
            rlo, rhi = put_elem(rlo, rhi, e, 2 * esize, (a << lshift) & emask(2 * esize))
        set_v(c, Rd, rlo, rhi)
        return
    elements = 1 if scalar else (64 << Q) // esize
    for e in range(elements):
        ra = elem_of(nlo, nhi, e, esize)
        a = _ext(ra, esize, unsigned)
        d = elem_of(dlo, dhi, e, esize)
        sat = False
        if o <= 6:                           # [SU]SHR [SU]SRA [SU]RSHR [SU]RSRA
            r = _shr(a, rshift, unsigned and esize == 64, o >= 4)
            if o == 2 or o == 6:
                r += d
        elif o == 8:                         # SRI
            m = lsr(mask, rshift) if rshift < 64 else 0
            r = (d & ~m) | (lsr(ra, rshift) & m if rshift < 64 else 0)
        elif o == 10:                        # SHL / SLI
            r = ra << lshift
            if unsigned:
                m = (mask << lshift) & mask
                r = (d & ~m) | (r & m)
        elif o == 12:                        # SQSHLU
            r, sat = _qshl(elem_sext(ra, esize), lshift, esize, False, True)
        else:                                # 14: SQSHL / UQSHL (immediate)
            r, sat = _qshl(a, lshift, esize, unsigned, unsigned)
        qc = qc or sat
        rlo, rhi = put_elem(rlo, rhi, e, esize, r & mask)
    if qc:
        fpsr_accumulate(c, FPSR_QC)
    _write(c, Rd, rlo, rhi, Q, scalar, esize)


# ---------------------------------------------------------------------------------------------
# Vector and scalar x indexed element
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def trans_SIMD_elem(c, M, pc, Q, U, size, L_, Mb, Rm, opcode, H, Rn, Rd, k, scalar):
    """C7.2 MLA MLS MUL SMLAL SMLSL SMULL SQDMLAL SQDMLSL SQDMULL SQDMULH SQRDMULH (by element),
    the U forms UMLAL UMLSL UMULL, and the scalar forms.  16-bit: index H:L:M, Vm in V0-V15;
    32-bit: index H:L, Vm = M:Rm."""
    if k == 0:
        o = opcode << 1
    elif k == 1:
        o = (opcode << 2) | 3
    else:
        o = 13
    esize = 8 << size
    if size == 1:
        index = (H << 2) | (L_ << 1) | Mb
        m = Rm
    else:
        index = (H << 1) | L_
        m = (Mb << 4) | Rm
    unsigned = U == 1 and (o == 2 or o == 6 or o == 10)
    b = _ext(elem_of(v_lo(c, m), v_hi(c, m), index, esize), esize, unsigned)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    rlo = 0
    rhi = 0
    qc = False
    long = (o & 3) >= 2                      # 2 3 6 7 10 11: result 2*esize
    if long:
        elements = 1 if scalar else 64 // esize
        wsize = 2 * esize
        for e in range(elements):
            a = _ext(elem_of(nlo, nhi, Q * elements + e, esize), esize, unsigned)
            acc = elem_sext(elem_of(dlo, dhi, e, wsize), wsize)
            sat = False
            if o & 1:                        # SQDMLAL SQDMLSL SQDMULL
                r, sat = _sqdmull(a, b, esize)
                if o == 3:
                    r, s2 = _qadd(acc, r, wsize, False)
                    sat = sat or s2
                elif o == 7:
                    r, s2 = _qsub(acc, r, wsize, False)
                    sat = sat or s2
            elif o == 2:
                r = acc + a * b
            elif o == 6:
                r = acc - a * b
            else:
                r = a * b
            qc = qc or sat
            rlo, rhi = put_elem(rlo, rhi, e, wsize, r & emask(wsize))
        if qc:
            fpsr_accumulate(c, FPSR_QC)
        _write(c, Rd, rlo, rhi, 1, scalar, wsize)
        return
    elements = 1 if scalar else (64 << Q) // esize
    for e in range(elements):
        a = elem_sext(elem_of(nlo, nhi, e, esize), esize)
        sat = False
        if o == 0:
            r = elem_of(dlo, dhi, e, esize) + a * b
        elif o == 4:
            r = elem_of(dlo, dhi, e, esize) - a * b
        elif o == 8:
            r = a * b
        else:                                # 12 SQDMULH, 13 SQRDMULH
            r, sat = _sqdmulh(a, b, esize, o == 13)
        qc = qc or sat
        rlo, rhi = put_elem(rlo, rhi, e, esize, r & emask(esize))
    if qc:
        fpsr_accumulate(c, FPSR_QC)
    _write(c, Rd, rlo, rhi, Q, scalar, esize)
