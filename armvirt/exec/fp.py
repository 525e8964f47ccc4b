"""Scalar floating-point data processing (``armvirt/isa/fp.decode``, and the FP<->integer
conversions of ``fpmove.decode``), plus the operation switch the AdvSIMD FP handlers share.

Arithmetic is ``armvirt/exec/fparith.py`` (IEEE 754 per the Arm ARM, on encodings); this file
only reads operands, picks the operation and writes results (Arm ARM C7.2, the FP instructions'
"Operation" pseudocode). Every ``fpsimd``-unit handler runs after ``execute_fpsimd`` made the
CheckFPAdvSIMDEnabled access check; ``trans_FP_int`` is in the main unit and makes it itself.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu.sysregs import fp_access_check
from armvirt.exec.common import condition_holds, set_w, set_x
from armvirt.exec.vreg import elem, emask, fpcr as read_fpcr, fpsr_accumulate, set_vscalar
from armvirt.exec import fparith as A

# Binary operations of fp_binop: 0..8 are FP data-processing (2 source)'s opcode values.
B_MUL = 0
B_DIV = 1
B_ADD = 2
B_SUB = 3
B_MAX = 4
B_MIN = 5
B_MAXNM = 6
B_MINNM = 7
B_NMUL = 8
B_MULX = 9
B_ABD = 10
B_CMEQ = 11
B_CMGE = 12
B_CMGT = 13
B_ACGE = 14
B_ACGT = 15
B_RECPS = 16
B_RSQRTS = 17


@njit(cache=True)
def fp_binop(op, x, y, N, fpcr):
    """One two-operand FP operation (the ``B_*`` codes): ``(result, fpsr_flags)``; compares give
    all ones or zero of N bits."""
    if op == B_MUL:
        return A.fp_mul(x, y, N, fpcr)
    if op == B_DIV:
        return A.fp_div(x, y, N, fpcr)
    if op == B_ADD:
        return A.fp_add(x, y, N, fpcr)
    if op == B_SUB:
        return A.fp_sub(x, y, N, fpcr)
    if op == B_MAX:
        return A.fp_max(x, y, N, fpcr)
    if op == B_MIN:
        return A.fp_min(x, y, N, fpcr)
    if op == B_MAXNM:
        return A.fp_maxnum(x, y, N, fpcr)
    if op == B_MINNM:
        return A.fp_minnum(x, y, N, fpcr)
    if op == B_NMUL:
        r, f = A.fp_mul(x, y, N, fpcr)
        return A.fp_neg(r, N), f
    if op == B_MULX:
        return A.fp_mulx(x, y, N, fpcr)
    if op == B_ABD:
        r, f = A.fp_sub(x, y, N, fpcr)
        return A.fp_abs(r, N), f
    if op == B_RECPS:
        return A.fp_recip_step_fused(x, y, N, fpcr)
    if op == B_RSQRTS:
        return A.fp_rsqrt_step_fused(x, y, N, fpcr)
    if op == B_ACGE or op == B_ACGT:
        x = A.fp_abs(x, N)
        y = A.fp_abs(y, N)
    cmp = 0 if op == B_CMEQ else (1 if op == B_CMGE or op == B_ACGE else 2)
    t, f = A.fp_compare_op(x, y, N, fpcr, cmp)
    return (emask(N) if t else 0), f


@njit(cache=True, inline="always")
def ptype_bits(ptype):
    """The element size of ``ptype`` (00 single, 01 double, 11 half)."""
    return 32 if ptype == 0 else (64 if ptype == 1 else 16)


@njit(cache=True)
def vfp_expand_imm(imm8, N):
    """VFPExpandImm: sign imm8<7>, exponent NOT(b):Replicate(b, E-3):imm8<5:4> with b =
    imm8<6>, fraction imm8<3:0> followed by zeros."""
    E = 8 if N == 32 else (11 if N == 64 else 5)
    F = N - E - 1
    b6 = (imm8 >> 6) & 1
    exp = ((b6 ^ 1) << (E - 1)) | ((((1 << (E - 3)) - 1) if b6 else 0) << 2) | ((imm8 >> 4) & 3)
    return A.fp_zero((imm8 >> 7) & 1, N) | (exp << F) | ((imm8 & 15) << (F - 4))


@njit(cache=True)
def trans_FP_1src(c, M, pc, ptype, opcode, Rn, Rd):
    """FMOV (register), FABS, FNEG, FSQRT, FCVT (precision), FRINT<N,P,M,Z,A,X,I> (scalar)."""
    N = ptype_bits(ptype)
    fpcr = read_fpcr(c)
    x = elem(c, Rn, 0, N)
    flags = 0
    D = N
    if opcode == 0:
        r = x
    elif opcode == 1:
        r = A.fp_abs(x, N)
    elif opcode == 2:
        r = A.fp_neg(x, N)
    elif opcode == 3:
        r, flags = A.fp_sqrt(x, N, fpcr)
    elif opcode < 8:  # FCVT: opc = opcode<1:0> is the destination type
        D = ptype_bits(opcode & 3)
        r, flags = A.fp_convert(x, N, D, fpcr, A.fpcr_rounding(fpcr))
    else:
        exact = opcode == 14
        if opcode >= 14:
            rnd = A.fpcr_rounding(fpcr)
        elif opcode == 12:
            rnd = A.RND_TIEAWAY
        else:
            rnd = opcode - 8  # FRINTN/P/M/Z: FPDecodeRounding order
        r, flags = A.fp_round_int(x, N, fpcr, rnd, exact)
    fpsr_accumulate(c, flags)
    set_vscalar(c, Rd, r, D)


@njit(cache=True)
def trans_FP_cmp(c, M, pc, ptype, Rm, Rn, opc):
    """FCMP / FCMPE (opc<1>), with #0.0 when opc<0> = 1: PSTATE.NZCV = FPCompare()."""
    N = ptype_bits(ptype)
    fpcr = read_fpcr(c)
    y = 0 if opc & 1 else elem(c, Rm, 0, N)
    nzcv, flags = A.fp_compare(elem(c, Rn, 0, N), y, N, fpcr, (opc >> 1) == 1)
    fpsr_accumulate(c, flags)
    c[L.NZCV] = nzcv


@njit(cache=True)
def trans_FP_ccmp(c, M, pc, ptype, Rm, cond, Rn, op, nzcv):
    """FCCMP / FCCMPE (op = 1): FPCompare when the condition holds, else the immediate NZCV."""
    if condition_holds(c, cond):
        N = ptype_bits(ptype)
        nzcv, flags = A.fp_compare(elem(c, Rn, 0, N), elem(c, Rm, 0, N), N, read_fpcr(c),
                                   op == 1)
        fpsr_accumulate(c, flags)
    c[L.NZCV] = nzcv


@njit(cache=True)
def trans_FP_imm(c, M, pc, ptype, imm8, Rd):
    """FMOV (scalar, immediate)."""
    N = ptype_bits(ptype)
    set_vscalar(c, Rd, vfp_expand_imm(imm8, N), N)


@njit(cache=True)
def trans_FP_2src(c, M, pc, ptype, Rm, opcode, Rn, Rd):
    """FMUL FDIV FADD FSUB FMAX FMIN FMAXNM FMINNM FNMUL (scalar)."""
    N = ptype_bits(ptype)
    r, flags = fp_binop(opcode, elem(c, Rn, 0, N), elem(c, Rm, 0, N), N, read_fpcr(c))
    fpsr_accumulate(c, flags)
    set_vscalar(c, Rd, r, N)


@njit(cache=True)
def trans_FCSEL(c, M, pc, ptype, Rm, cond, Rn, Rd):
    """FCSEL: V[d] = ConditionHolds(cond) ? V[n] : V[m] (no FP exceptions)."""
    N = ptype_bits(ptype)
    r = elem(c, Rn, 0, N) if condition_holds(c, cond) else elem(c, Rm, 0, N)
    set_vscalar(c, Rd, r, N)


@njit(cache=True)
def trans_FP_3src(c, M, pc, ptype, o1, Rm, o0, Ra, Rn, Rd):
    """FMADD, FMSUB (negated Rn), FNMADD (negated Ra and Rn), FNMSUB (negated Ra): FPMulAdd with
    one rounding; the negations are FPNeg of the operands, NaNs included."""
    N = ptype_bits(ptype)
    a = elem(c, Ra, 0, N)
    n = elem(c, Rn, 0, N)
    if o1:
        a = A.fp_neg(a, N)
    if o0 != o1:
        n = A.fp_neg(n, N)
    r, flags = A.fp_muladd(a, n, elem(c, Rm, 0, N), N, read_fpcr(c))
    fpsr_accumulate(c, flags)
    set_vscalar(c, Rd, r, N)


@njit(cache=True)
def trans_FP_fixed(c, M, pc, sf, ptype, rmode, opcode, scale, Rn, Rd):
    """SCVTF/UCVTF (scalar, fixed-point) and FCVTZS/FCVTZU (scalar, fixed-point): fbits = 64 -
    scale; to fixed point always rounds toward zero."""
    N = ptype_bits(ptype)
    fbits = 64 - scale
    intsize = 64 if sf else 32
    fpcr = read_fpcr(c)
    unsigned = (opcode & 1) == 1
    if rmode == 3:
        r, flags = A.fp_to_fixed(elem(c, Rn, 0, N), N, fbits, intsize, unsigned, fpcr,
                                 A.RND_ZERO)
        fpsr_accumulate(c, flags)
        if sf:
            set_x(c, Rd, r)
        else:
            set_w(c, Rd, r)
    else:
        r, flags = A.fixed_to_fp(c[Rn], intsize, fbits, unsigned, N, fpcr, A.fpcr_rounding(fpcr))
        fpsr_accumulate(c, flags)
        set_vscalar(c, Rd, r, N)


@njit(cache=True)
def trans_FP_int(c, M, pc, sf, ptype, rmode, opcode, Rn, Rd):
    """FCVT<N,P,M,Z>S/U (rmode is the rounding), SCVTF/UCVTF, FCVTAS/FCVTAU (scalar, integer).
    Main unit (shares FMOV (general)'s class): makes the FP access check itself."""
    if not fp_access_check(c, M, pc):
        return
    N = ptype_bits(ptype)
    intsize = 64 if sf else 32
    fpcr = read_fpcr(c)
    unsigned = (opcode & 1) == 1
    if opcode == 2 or opcode == 3:
        r, flags = A.fixed_to_fp(c[Rn], intsize, 0, unsigned, N, fpcr, A.fpcr_rounding(fpcr))
        fpsr_accumulate(c, flags)
        set_vscalar(c, Rd, r, N)
        return
    rnd = A.RND_TIEAWAY if opcode >= 4 else rmode
    r, flags = A.fp_to_fixed(elem(c, Rn, 0, N), N, 0, intsize, unsigned, fpcr, rnd)
    fpsr_accumulate(c, flags)
    if sf:
        set_x(c, Rd, r)
    else:
        set_w(c, Rd, r)
