"""Advanced SIMD floating-point forms (``armvirt/isa/simd_fp.decode``), vector and scalar.

One handler per encoding class, a lane loop and a switch on the operation (compile time of the
core matters more than a branch per lane). Operands are read into local words first and the
destination written once (``vreg`` conventions); FPSR flags of all lanes are OR-ed and
accumulated once. Arithmetic is ``fparith``; the two-operand switch is ``fp.fp_binop``.
"""
from armvirt.jit import njit

from armvirt.exec.fp import (B_ABD, B_ACGE, B_ACGT, B_ADD, B_CMEQ, B_CMGE, B_CMGT, B_DIV,
                             B_MAX, B_MAXNM, B_MIN, B_MINNM, B_MUL, B_MULX, B_RECPS, B_RSQRTS,
                             B_SUB, fp_binop, vfp_expand_imm)
from armvirt.exec.vreg import (elem, elem_of, emask, fpcr as read_fpcr, fpsr_accumulate,
                               put_elem, set_v, set_v64, set_vq, set_vscalar, v_hi, v_lo)
from armvirt.exec import fparith as A

_FMLA = 100
_FMLS = 101
_NONE = -1
# Three same, FP: U:a:opcode<2:0> -> operation (the predicate rejects _NONE).
THREE_SAME = (B_MAXNM, _FMLA, B_ADD, B_MULX, B_CMEQ, _NONE, B_MAX, B_RECPS,
              B_MINNM, _FMLS, B_SUB, _NONE, _NONE, _NONE, B_MIN, B_RSQRTS,
              B_MAXNM, _NONE, B_ADD, B_MUL, B_CMGE, B_ACGE, B_MAX, B_DIV,
              B_MINNM, _NONE, B_ABD, _NONE, B_CMGT, B_ACGT, B_MIN, _NONE)


@njit(cache=True)
def trans_FP_3same(c, M, pc, Q, U, a, sz, Rm, op, Rn, Rd, scalar):
    """FADD FSUB FMUL FDIV FMULX FABD FMAX(NM) FMIN(NM) FMLA FMLS FRECPS FRSQRTS FCMEQ FCMGE FCMGT
    FACGE FACGT, and the pairwise FADDP FMAX(NM)P FMIN(NM)P (on the concatenation Vm:Vn)."""
    esize = 32 << sz
    elements = 1 if scalar else (64 << Q) // esize
    code = THREE_SAME[U * 16 + a * 8 + op]
    pair = U == 1 and (op == 0 or op == 6 or (op == 2 and a == 0))  # not FABD
    fpcr = read_fpcr(c)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    mlo, mhi = v_lo(c, Rm), v_hi(c, Rm)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    half = elements >> 1
    rlo = 0
    rhi = 0
    flags = 0
    for e in range(elements):
        if pair:
            if e < half:
                x = elem_of(nlo, nhi, 2 * e, esize)
                y = elem_of(nlo, nhi, 2 * e + 1, esize)
            else:
                x = elem_of(mlo, mhi, 2 * (e - half), esize)
                y = elem_of(mlo, mhi, 2 * (e - half) + 1, esize)
        else:
            x = elem_of(nlo, nhi, e, esize)
            y = elem_of(mlo, mhi, e, esize)
        if code == _FMLA or code == _FMLS:
            if code == _FMLS:
                x = A.fp_neg(x, esize)
            r, f = A.fp_muladd(elem_of(dlo, dhi, e, esize), x, y, esize, fpcr)
        else:
            r, f = fp_binop(code, x, y, esize, fpcr)
        flags |= f
        rlo, rhi = put_elem(rlo, rhi, e, esize, r)
    fpsr_accumulate(c, flags)
    if scalar:
        set_vscalar(c, Rd, rlo, esize)
    else:
        set_vq(c, Rd, rlo, rhi, Q)


@njit(cache=True)
def _unop(U, a, opcode, x, N, fpcr):
    """The same-size FP rows of two-register miscellaneous on one element."""
    if opcode <= 0b01110:  # compares with zero: GT/GE, EQ/LE, LT
        if opcode == 0b01100:
            t, f = A.fp_compare_op(x, 0, N, fpcr, 1 if U else 2)
        elif opcode == 0b01101:
            if U:
                t, f = A.fp_compare_op(0, x, N, fpcr, 1)
            else:
                t, f = A.fp_compare_op(x, 0, N, fpcr, 0)
        else:
            t, f = A.fp_compare_op(0, x, N, fpcr, 2)
        return (emask(N) if t else 0), f
    if opcode == 0b01111:
        return (A.fp_neg(x, N) if U else A.fp_abs(x, N)), 0
    if opcode <= 0b11001:  # FRINT: U:o1:o2 with o1 = opcode<0>, o2 = a
        o1 = opcode & 1
        if U == 0:
            return A.fp_round_int(x, N, fpcr, (o1 << 1) | a, False)
        if o1 == 0:
            return A.fp_round_int(x, N, fpcr, A.RND_TIEAWAY, False)
        return A.fp_round_int(x, N, fpcr, A.fpcr_rounding(fpcr), a == 0)
    if opcode <= 0b11100:  # FCVT<N,P,M,Z,A><S,U> (vector): to an integer of the same size
        rnd = A.RND_TIEAWAY if opcode == 0b11100 else (((opcode & 1) << 1) | a)
        return A.fp_to_fixed(x, N, 0, N, U == 1, fpcr, rnd)
    if opcode == 0b11101:
        if a == 0:
            return A.fixed_to_fp(x, N, 0, U == 1, N, fpcr, A.fpcr_rounding(fpcr))
        if U:
            return A.fp_rsqrt_estimate(x, N, fpcr)
        return A.fp_recip_estimate(x, N, fpcr)
    if U:
        return A.fp_sqrt(x, N, fpcr)
    return A.fp_recpx(x, N, fpcr)


@njit(cache=True)
def trans_FP_2misc(c, M, pc, Q, U, sz, Rn, Rd, a, opcode, scalar):
    """Two-register miscellaneous, FP (vector and scalar): FABS FNEG FSQRT FRINT* FCVT*S/U
    SCVTF UCVTF FRECPE FRSQRTE FRECPX FCM<GT,GE,EQ,LE,LT> #0.0, and the precision changes FCVTN,
    FCVTXN (round to odd), FCVTL."""
    fpcr = read_fpcr(c)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    flags = 0
    if opcode == 0b10110:  # FCVTN{2} / FCVTXN{2}: 2*esize -> esize, into Vpart[d, Q]
        D = 16 << sz
        S = 2 * D
        rnd = A.RND_ODD if U else A.fpcr_rounding(fpcr)
        res = 0
        for e in range(1 if scalar else 64 // D):
            r, f = A.fp_convert(elem_of(nlo, nhi, e, S), S, D, fpcr, rnd)
            flags |= f
            res, _ = put_elem(res, 0, e, D, r)
        fpsr_accumulate(c, flags)
        if scalar:
            set_vscalar(c, Rd, res, D)
        elif Q:
            set_v(c, Rd, v_lo(c, Rd), res)
        else:
            set_v64(c, Rd, res)
        return
    if opcode == 0b10111:  # FCVTL{2}: Vpart[n, Q] widened
        S = 16 << sz
        src = nhi if Q else nlo
        rlo = 0
        rhi = 0
        for e in range(64 // S):
            r, f = A.fp_convert(elem_of(src, 0, e, S), S, 2 * S, fpcr, A.fpcr_rounding(fpcr))
            flags |= f
            rlo, rhi = put_elem(rlo, rhi, e, 2 * S, r)
        fpsr_accumulate(c, flags)
        set_v(c, Rd, rlo, rhi)
        return
    esize = 32 << sz
    rlo = 0
    rhi = 0
    for e in range(1 if scalar else (64 << Q) // esize):
        r, f = _unop(U, a, opcode, elem_of(nlo, nhi, e, esize), esize, fpcr)
        flags |= f
        rlo, rhi = put_elem(rlo, rhi, e, esize, r)
    fpsr_accumulate(c, flags)
    if scalar:
        set_vscalar(c, Rd, rlo, esize)
    else:
        set_vq(c, Rd, rlo, rhi, Q)


@njit(cache=True, inline="always")
def _maxmin_code(a, op):
    """Pairwise / across-lanes opcode<1:0> (00 max/min-num, 01 add, 11 max/min) and a."""
    if op == 1:
        return B_ADD
    if op == 0:
        return B_MINNM if a else B_MAXNM
    return B_MIN if a else B_MAX


@njit(cache=True)
def trans_FP_pairwise_s(c, M, pc, a, sz, op, Rn, Rd):
    """FADDP, FMAXP, FMINP, FMAXNMP, FMINNMP (scalar): the two elements of Vn's low 2*esize."""
    esize = 32 << sz
    r, flags = fp_binop(_maxmin_code(a, op), elem(c, Rn, 0, esize), elem(c, Rn, 1, esize),
                        esize, read_fpcr(c))
    fpsr_accumulate(c, flags)
    set_vscalar(c, Rd, r, esize)


@njit(cache=True)
def trans_FP_across(c, M, pc, Q, a, sz, op, Rn, Rd):
    """FMAXV, FMINV, FMAXNMV, FMINNMV (4S): Reduce() pairs halves: op(op(e0,e1), op(e2,e3))."""
    code = _maxmin_code(a, op)
    fpcr = read_fpcr(c)
    x, f1 = fp_binop(code, elem(c, Rn, 0, 32), elem(c, Rn, 1, 32), 32, fpcr)
    y, f2 = fp_binop(code, elem(c, Rn, 2, 32), elem(c, Rn, 3, 32), 32, fpcr)
    r, f3 = fp_binop(code, x, y, 32, fpcr)
    fpsr_accumulate(c, f1 | f2 | f3)
    set_vscalar(c, Rd, r, 32)


@njit(cache=True)
def trans_FP_elem(c, M, pc, Q, U, sz, L, Rm, H, Rn, Rd, op, scalar):
    """FMLA, FMLS, FMUL, FMULX (by element; vector and scalar)."""
    esize = 32 << sz
    index = ((H << 1) | L) if sz == 0 else H
    y = elem(c, Rm, index, esize)
    fpcr = read_fpcr(c)
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    dlo, dhi = v_lo(c, Rd), v_hi(c, Rd)
    rlo = 0
    rhi = 0
    flags = 0
    for e in range(1 if scalar else (64 << Q) // esize):
        x = elem_of(nlo, nhi, e, esize)
        if op == 2:
            r, f = fp_binop(B_MULX if U else B_MUL, x, y, esize, fpcr)
        else:
            if op == 1:
                x = A.fp_neg(x, esize)
            r, f = A.fp_muladd(elem_of(dlo, dhi, e, esize), x, y, esize, fpcr)
        flags |= f
        rlo, rhi = put_elem(rlo, rhi, e, esize, r)
    fpsr_accumulate(c, flags)
    if scalar:
        set_vscalar(c, Rd, rlo, esize)
    else:
        set_vq(c, Rd, rlo, rhi, Q)


@njit(cache=True)
def trans_FMOV_vimm(c, M, pc, Q, op, abc, defgh, Rd):
    """FMOV (vector, immediate): VFPExpandImm(a:b:c:d:e:f:g:h) in every lane (2S/4S, or 2D)."""
    imm8 = (abc << 5) | defgh
    if op:
        v = vfp_expand_imm(imm8, 64)
        set_v(c, Rd, v, v)
    else:
        v = vfp_expand_imm(imm8, 32)
        v = v | (v << 32)
        set_vq(c, Rd, v, v, Q)


@njit(cache=True)
def trans_FP_cvt_fixed(c, M, pc, Q, U, ib, Rn, Rd, esz, op, scalar):
    """SCVTF/UCVTF and FCVTZS/FCVTZU (vector and scalar, fixed-point): fbits = esize * 2 -
    UInt(immh:immb), which is ``esz - ib`` with the immh<3:2> bits the pattern fixes."""
    fbits = esz - ib
    fpcr = read_fpcr(c)
    unsigned = U == 1
    nlo, nhi = v_lo(c, Rn), v_hi(c, Rn)
    rlo = 0
    rhi = 0
    flags = 0
    for e in range(1 if scalar else (64 << Q) // esz):
        x = elem_of(nlo, nhi, e, esz)
        if op:
            r, f = A.fp_to_fixed(x, esz, fbits, esz, unsigned, fpcr, A.RND_ZERO)
        else:
            r, f = A.fixed_to_fp(x, esz, fbits, unsigned, esz, fpcr, A.fpcr_rounding(fpcr))
        flags |= f
        rlo, rhi = put_elem(rlo, rhi, e, esz, r)
    fpsr_accumulate(c, flags)
    if scalar:
        set_vscalar(c, Rd, rlo, esz)
    else:
        set_vq(c, Rd, rlo, rhi, Q)
