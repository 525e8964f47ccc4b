"""IEEE 754 arithmetic as the Arm ARM's shared pseudocode defines it, on integer bit patterns.

Python floats and numpy give neither a single-rounding FMA nor round-to-odd, FZ, DN or the
cumulative flags, so every operation here works on the encodings themselves (Arm ARM, shared
pseudocode ``library/fpexc``, ``library/fprounding``, ``library/fpsupport``...).

API (every function is jitted and allocation-free):

* Operands and results are int64 holding an N-bit encoding (N = 16, 32 or 64; a 64-bit value is
  its raw int64 bit pattern). ``fpcr`` is the FPCR value (RMode 23:22, FZ 24, DN 25, AHP 26).
* Every operation returns ``(result, flags)``; ``flags`` are the FPSR cumulative bits it raised
  (``vreg.FPSR_IOC`` ...), to be OR-ed in with ``vreg.fpsr_accumulate``. (Armv8.0 lets the trap
  enables be RAZ/WI, as here, so FPProcessException is just "set the flag".)
* Comparisons return ``(bool_as_int, flags)``; ``fp_compare`` returns ``(nzcv, flags)``.
* Rounding modes are the ASL's FPRounding values: ``RND_TIEEVEN, RND_POSINF, RND_NEGINF,
  RND_ZERO`` (= FPCR.RMode 0..3), ``RND_TIEAWAY``, ``RND_ODD``; ``fpcr_rounding(fpcr)`` is
  FPRoundingMode.
* Armv8.0 has no FEAT_FP16 arithmetic: half precision appears only in conversions
  (``fp_convert``, FPCR.AHP honoured, never flushed: no FZ16), in FRECPE-style helpers never.

Functions: fp_unpack, fp_round, fp_process_nan(s)(3), fp_default_nan, fp_add, fp_sub, fp_mul,
fp_mulx, fp_div, fp_muladd, fp_sqrt, fp_max, fp_min, fp_maxnum, fp_minnum, fp_compare,
fp_compare_eq/ge/gt, fp_round_int, fp_to_fixed, fixed_to_fp, fp_convert, fp_recip_estimate,
fp_rsqrt_estimate, fp_recip_step_fused, fp_rsqrt_step_fused, fp_recpx, fp_abs, fp_neg.

Internally a finite nonzero value is ``(sign, exp, mant)`` meaning ``(-1)^sign * mant * 2^exp``
with ``0 < mant < 2^63``. Results of inexact operations (quotients, roots, aligned sums) carry
at least 8 bits below the rounding point with a sticky bit in bit 0, which rounds exactly as the
real value would; sums of aligned operands use a doubled scale so the sticky bit is never on a
rounding boundary after a subtraction.
"""
import numpy as np

from armvirt.jit import njit
from armvirt.bits import umulh, ult

FPSR_IOC = 1 << 0
FPSR_DZC = 1 << 1
FPSR_OFC = 1 << 2
FPSR_UFC = 1 << 3
FPSR_IXC = 1 << 4
FPSR_IDC = 1 << 7

# FPType
T_ZERO = 0
T_NONZERO = 1
T_INF = 2
T_QNAN = 3
T_SNAN = 4

# FPRounding
RND_TIEEVEN = 0
RND_POSINF = 1
RND_NEGINF = 2
RND_ZERO = 3
RND_TIEAWAY = 4
RND_ODD = 5

FPCR_FZ = 1 << 24
FPCR_DN = 1 << 25
FPCR_AHP = 1 << 26


# ---------------------------------------------------------------------------------------------
# Formats and small helpers
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _ebits(N):
    return 5 if N == 16 else (8 if N == 32 else 11)


@njit(cache=True, inline="always")
def _fbits(N):
    return 10 if N == 16 else (23 if N == 32 else 52)


@njit(cache=True, inline="always")
def fpcr_rounding(fpcr):
    """FPRoundingMode(fpcr): FPCR.RMode."""
    return (fpcr >> 22) & 3


@njit(cache=True)
def _msb(x):
    """Index of the highest set bit of x > 0 (int64 < 2^63)."""
    n = 0
    if x >> 32:
        x >>= 32
        n += 32
    if x >> 16:
        x >>= 16
        n += 16
    if x >> 8:
        x >>= 8
        n += 8
    if x >> 4:
        x >>= 4
        n += 4
    if x >> 2:
        x >>= 2
        n += 2
    if x >> 1:
        n += 1
    return n


@njit(cache=True, inline="always")
def _lsr(x, n):
    """Logical shift right of a 64-bit pattern, 0 <= n (n >= 64 gives 0)."""
    if n == 0:
        return x
    if n >= 64:
        return 0
    return (x >> n) & ((1 << (64 - n)) - 1)


@njit(cache=True, inline="always")
def fp_zero(sign, N):
    """FPZero(sign)."""
    return sign << (N - 1) if N != 64 else (-0x8000000000000000 if sign else 0)


@njit(cache=True, inline="always")
def _signbit(sign, N):
    return fp_zero(sign, N)


@njit(cache=True, inline="always")
def fp_infinity(sign, N):
    """FPInfinity(sign)."""
    return _signbit(sign, N) | (((1 << _ebits(N)) - 1) << _fbits(N))


@njit(cache=True, inline="always")
def fp_max_normal(sign, N):
    """FPMaxNormal(sign)."""
    return _signbit(sign, N) | ((((1 << _ebits(N)) - 2) << _fbits(N)) | ((1 << _fbits(N)) - 1))


@njit(cache=True, inline="always")
def fp_default_nan(N):
    """FPDefaultNaN(): positive, quiet, zero payload."""
    return (((1 << _ebits(N)) - 1) << _fbits(N)) | (1 << (_fbits(N) - 1))


@njit(cache=True, inline="always")
def fp_two(sign, N):
    """FPTwo(sign): exponent bias + 1, zero fraction."""
    bias = (1 << (_ebits(N) - 1)) - 1
    return _signbit(sign, N) | ((bias + 1) << _fbits(N))


@njit(cache=True, inline="always")
def fp_one_point_five(sign, N):
    """FPOnePointFive(sign)."""
    bias = (1 << (_ebits(N) - 1)) - 1
    return _signbit(sign, N) | (bias << _fbits(N)) | (1 << (_fbits(N) - 1))


@njit(cache=True, inline="always")
def fp_abs(op, N):
    """FPAbs: clear the sign bit (NaNs included, no exception)."""
    return op & ~_signbit(1, N) & (-1 if N == 64 else (1 << N) - 1)


@njit(cache=True, inline="always")
def fp_neg(op, N):
    """FPNeg: invert the sign bit (NaNs included, no exception)."""
    return (op ^ _signbit(1, N)) & (-1 if N == 64 else (1 << N) - 1)


# ---------------------------------------------------------------------------------------------
# FPUnpack, FPRound
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def fp_unpack(x, N, fpcr, ahp):
    """FPUnpackBase: ``(fptype, sign, exp, mant, flags)``; value = mant * 2^exp when Nonzero.

    FPCR.FZ flushes single and double denormals to zero (IDC); half is never flushed (no FZ16 in
    Armv8.0). ``ahp`` selects FPCR.AHP's alternative half format (FPUnpackCV), where exponent
    all-ones is an ordinary number."""
    E = _ebits(N)
    F = _fbits(N)
    sign = _lsr(x, N - 1) & 1
    exp = _lsr(x, F) & ((1 << E) - 1)
    frac = x & ((1 << F) - 1)
    bias = (1 << (E - 1)) - 1
    if exp == 0:
        if frac == 0:
            return T_ZERO, sign, 0, 0, 0
        if N != 16 and (fpcr & FPCR_FZ):
            return T_ZERO, sign, 0, 0, FPSR_IDC
        return T_NONZERO, sign, 1 - bias - F, frac, 0
    if exp == (1 << E) - 1 and not (N == 16 and ahp):
        if frac == 0:
            return T_INF, sign, 0, 0, 0
        if (frac >> (F - 1)) & 1:
            return T_QNAN, sign, 0, 0, 0
        return T_SNAN, sign, 0, 0, 0
    return T_NONZERO, sign, exp - bias - F, frac | (1 << F), 0


@njit(cache=True)
def fp_round(sign, exp, mant, N, fpcr, rounding, cv):
    """FPRoundBase of the value (-1)^sign * mant * 2^exp (mant > 0; inexact values carry a sticky
    bit well below the rounding point). ``cv`` is FPRoundCV: FPCR.AHP applies to a half
    result. Output flush (FPCR.FZ, not for half) happens before rounding, setting UFC; Underflow
    is detected before rounding, as the pseudocode does."""
    E = _ebits(N)
    F = _fbits(N)
    min_exp = 2 - (1 << (E - 1))
    m = _msb(mant)
    mant = mant << (62 - m)
    exponent = exp + m  # value = (mant / 2^62) * 2^exponent, mant / 2^62 in [1, 2)
    flags = 0
    if N != 16 and (fpcr & FPCR_FZ) and exponent < min_exp:
        return fp_zero(sign, N), FPSR_UFC
    biased = exponent - min_exp + 1
    sh = 62 - F
    if biased <= 0:
        sh += 1 - biased
        biased = 0
    # int_mant and the error class: 0 exact, 1 below half, 2 half, 3 above half.
    if sh >= 64:  # mant < 2^63 <= half
        int_mant = 0
        err = 1
    else:
        int_mant = mant >> sh
        rem = mant & ((1 << sh) - 1)
        half = 1 << (sh - 1)
        err = 0 if rem == 0 else (1 if rem < half else (2 if rem == half else 3))
    if biased == 0 and err != 0:
        flags |= FPSR_UFC
    if rounding == RND_TIEEVEN:
        round_up = err == 3 or (err == 2 and (int_mant & 1) == 1)
        overflow_to_inf = True
    elif rounding == RND_POSINF:
        round_up = err != 0 and sign == 0
        overflow_to_inf = sign == 0
    elif rounding == RND_NEGINF:
        round_up = err != 0 and sign == 1
        overflow_to_inf = sign == 1
    else:  # ZERO, ODD
        round_up = False
        overflow_to_inf = False
    if round_up:
        int_mant += 1
        if int_mant == (1 << F):
            biased = 1
        if int_mant == (1 << (F + 1)):
            biased += 1
            int_mant >>= 1
    if err != 0 and rounding == RND_ODD:
        int_mant |= 1
    if not (N == 16 and cv and (fpcr & FPCR_AHP)):
        if biased >= (1 << E) - 1:
            result = fp_infinity(sign, N) if overflow_to_inf else fp_max_normal(sign, N)
            flags |= FPSR_OFC
            err = 1
        else:
            result = _signbit(sign, N) | (biased << F) | (int_mant & ((1 << F) - 1))
    else:
        if biased >= (1 << E):
            result = (sign << 15) | 0x7FFF
            flags |= FPSR_IOC
            err = 0
        else:
            result = (sign << 15) | (biased << F) | (int_mant & ((1 << F) - 1))
    if err != 0:
        flags |= FPSR_IXC
    return result, flags


@njit(cache=True, inline="always")
def _round(sign, exp, mant, N, fpcr):
    return fp_round(sign, exp, mant, N, fpcr, fpcr_rounding(fpcr), False)


@njit(cache=True, inline="always")
def _exact_zero(fpcr, N):
    """Sign of an exact zero sum: -0 only when rounding toward minus infinity."""
    return fp_zero(1 if fpcr_rounding(fpcr) == RND_NEGINF else 0, N)


# ---------------------------------------------------------------------------------------------
# NaN processing
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def fp_process_nan(fptype, op, N, fpcr):
    """FPProcessNaN: quieten a signalling NaN (IOC); FPCR.DN gives the default NaN."""
    flags = 0
    result = op
    if fptype == T_SNAN:
        result = op | (1 << (_fbits(N) - 1))
        flags = FPSR_IOC
    if fpcr & FPCR_DN:
        result = fp_default_nan(N)
    return result, flags


@njit(cache=True)
def fp_process_nans(t1, t2, op1, op2, N, fpcr):
    """FPProcessNaNs: ``(done, result, flags)``; signalling NaNs first, then quiet, in operand
    order."""
    if t1 == T_SNAN:
        r, f = fp_process_nan(t1, op1, N, fpcr)
    elif t2 == T_SNAN:
        r, f = fp_process_nan(t2, op2, N, fpcr)
    elif t1 == T_QNAN:
        r, f = fp_process_nan(t1, op1, N, fpcr)
    elif t2 == T_QNAN:
        r, f = fp_process_nan(t2, op2, N, fpcr)
    else:
        return False, 0, 0
    return True, r, f


@njit(cache=True)
def fp_process_nans3(t1, t2, t3, op1, op2, op3, N, fpcr):
    """FPProcessNaNs3: as fp_process_nans over three operands."""
    if t1 == T_SNAN:
        r, f = fp_process_nan(t1, op1, N, fpcr)
    elif t2 == T_SNAN:
        r, f = fp_process_nan(t2, op2, N, fpcr)
    elif t3 == T_SNAN:
        r, f = fp_process_nan(t3, op3, N, fpcr)
    elif t1 == T_QNAN:
        r, f = fp_process_nan(t1, op1, N, fpcr)
    elif t2 == T_QNAN:
        r, f = fp_process_nan(t2, op2, N, fpcr)
    elif t3 == T_QNAN:
        r, f = fp_process_nan(t3, op3, N, fpcr)
    else:
        return False, 0, 0
    return True, r, f


# ---------------------------------------------------------------------------------------------
# 128-bit helpers (unsigned, values < 2^127 so hi stays non-negative)
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _umul128(a, b):
    return umulh(a, b), a * b


@njit(cache=True)
def _shl128(hi, lo, n):
    if n == 0:
        return hi, lo
    if n >= 64:
        return lo << (n - 64), 0
    return (hi << n) | _lsr(lo, 64 - n), lo << n


@njit(cache=True)
def _shr128_sticky(hi, lo, n):
    """(hi:lo) >> n, and whether a nonzero bit was shifted out."""
    if n == 0:
        return hi, lo, False
    if n >= 128:
        return 0, 0, (hi | lo) != 0
    if n >= 64:
        k = n - 64
        st = lo != 0 or (k > 0 and (hi & ((1 << k) - 1)) != 0)
        return 0, _lsr(hi, k), st
    st = (lo & ((1 << n) - 1)) != 0
    return _lsr(hi, n), _lsr(lo, n) | (hi << (64 - n)), st


@njit(cache=True)
def _msb128(hi, lo):
    if hi != 0:
        return 64 + _msb(hi)
    if lo < 0:
        return 63
    return _msb(lo)


@njit(cache=True)
def _compress128(hi, lo):
    """(mant, shift): hi:lo = mant * 2^shift up to a sticky bit 0, with mant < 2^63."""
    if hi == 0 and lo >= 0:
        return lo, 0
    sh = _msb128(hi, lo) - 61
    h, l_, st = _shr128_sticky(hi, lo, sh)
    return l_ | (1 if st else 0), sh


# ---------------------------------------------------------------------------------------------
# Core real-number operations on unpacked values
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _addv(s1, e1, m1, s2, e2, m2):
    d1 = 60 - _msb(m1)
    m1 <<= d1
    e1 -= d1
    d2 = 60 - _msb(m2)
    m2 <<= d2
    e2 -= d2
    if e1 < e2:
        s1, e1, m1, s2, e2, m2 = s2, e2, m2, s1, e1, m1
    d = e1 - e2
    a = m1 << 1
    if d >= 62:
        b = 1
    else:
        b = ((m2 >> d) << 1) | (1 if (m2 & ((1 << d) - 1)) != 0 else 0)
    if s1 == s2:
        return s1, e1 - 1, a + b
    r = a - b
    if r < 0:
        return s2, e1 - 1, -r
    return s1, e1 - 1, r


@njit(cache=True)
def _mulv(e1, m1, e2, m2):
    """(exp, mant) of the product of two mantissas (up to 53 bits each)."""
    hi, lo = _umul128(m1, m2)
    mant, sh = _compress128(hi, lo)
    return e1 + e2 + sh, mant


@njit(cache=True)
def _muladdv(sA, eA, mA, sP, e1, m1, e2, m2):
    """(sign, exp, mant) of addend + product exactly to 61+ bits with sticky; mant 0 for an exact
    zero. The 106-bit product and the addend are put at bit 124 of a 128-bit word pair, the
    smaller aligned (with sticky) at doubled scale."""
    ph, pl = _umul128(m1, m2)
    ep = e1 + e2
    k = 124 - _msb128(ph, pl)
    ph, pl = _shl128(ph, pl, k)
    ep -= k
    k = 124 - _msb(mA)
    ah, al = _shl128(0, mA, k)
    ea = eA - k
    # x = larger exponent, y = smaller
    if ep >= ea:
        xs, xh, xl, ys, yh, yl, d, e = sP, ph, pl, sA, ah, al, ep - ea, ep
    else:
        xs, xh, xl, ys, yh, yl, d, e = sA, ah, al, sP, ph, pl, ea - ep, ea
    xh, xl = _shl128(xh, xl, 1)
    yh, yl, st = _shr128_sticky(yh, yl, d)
    yh, yl = _shl128(yh, yl, 1)
    if st:
        yl |= 1
    e -= 1
    if xs == ys:
        lo = xl + yl
        hi = xh + yh + (1 if ult(lo, xl) else 0)
        rs = xs
    else:
        if xh > yh or (xh == yh and not ult(xl, yl)):
            lo = xl - yl
            hi = xh - yh - (1 if ult(xl, yl) else 0)
            rs = xs
        else:
            lo = yl - xl
            hi = yh - xh - (1 if ult(yl, xl) else 0)
            rs = ys
    if hi == 0 and lo == 0:
        return rs, 0, 0
    mant, sh = _compress128(hi, lo)
    return rs, e + sh, mant


@njit(cache=True)
def _divv(e1, m1, e2, m2):
    """(exp, mant) of m1*2^e1 / m2*2^e2: 61 quotient bits by long division in 10-bit digits
    (the divisor has 53 bits, so a shifted remainder stays below 2^63), sticky in bit 0."""
    d1 = 52 - _msb(m1)
    m1 <<= d1
    e1 -= d1
    d2 = 52 - _msb(m2)
    m2 <<= d2
    e2 -= d2
    q = m1 // m2
    r = m1 - q * m2
    for _ in range(6):
        r <<= 10
        d = r // m2
        q = (q << 10) | d
        r -= d * m2
    return e1 - e2 - 60, q | (1 if r != 0 else 0)


@njit(cache=True)
def _sqrtv(e, m):
    """(exp, mant) of sqrt(m*2^e): 58 root bits digit by digit, sticky in bit 0."""
    if e & 1:
        m <<= 1
        e -= 1
    pairs = (_msb(m) + 2) // 2
    z = 58 - pairs  # zero bit pairs appended to the radicand
    root = 0
    r = 0
    for i in range(58):
        pos = 2 * (57 - i)  # bit position of this pair in radicand m * 4^z
        if pos >= 2 * z:
            nxt = (m >> (pos - 2 * z)) & 3
        else:
            nxt = 0
        r = (r << 2) | nxt
        t = (root << 2) | 1
        if r >= t:
            r -= t
            root = (root << 1) | 1
        else:
            root <<= 1
    return (e >> 1) - z, root | (1 if r != 0 else 0)


# ---------------------------------------------------------------------------------------------
# Arithmetic
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _fp_addsub(op1, op2, N, fpcr, sub):
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    done, r, f = fp_process_nans(t1, t2, op1, op2, N, fpcr)
    if done:
        return r, flags | f
    if sub:
        s2 ^= 1
    inf1 = t1 == T_INF
    inf2 = t2 == T_INF
    if inf1 and inf2 and s1 != s2:
        return fp_default_nan(N), flags | FPSR_IOC
    if (inf1 and s1 == 0) or (inf2 and s2 == 0):
        return fp_infinity(0, N), flags
    if inf1 or inf2:
        return fp_infinity(1, N), flags
    z1 = t1 == T_ZERO
    z2 = t2 == T_ZERO
    if z1 and z2 and s1 == s2:
        return fp_zero(s1, N), flags
    if z1 and z2:
        return _exact_zero(fpcr, N), flags
    if z1:
        r, f = _round(s2, e2, m2, N, fpcr)
        return r, flags | f
    if z2:
        r, f = _round(s1, e1, m1, N, fpcr)
        return r, flags | f
    s, e, m = _addv(s1, e1, m1, s2, e2, m2)
    if m == 0:
        return _exact_zero(fpcr, N), flags
    r, f = _round(s, e, m, N, fpcr)
    return r, flags | f


@njit(cache=True)
def fp_add(op1, op2, N, fpcr):
    """FPAdd."""
    return _fp_addsub(op1, op2, N, fpcr, False)


@njit(cache=True)
def fp_sub(op1, op2, N, fpcr):
    """FPSub."""
    return _fp_addsub(op1, op2, N, fpcr, True)


@njit(cache=True)
def _fp_mul(op1, op2, N, fpcr, mulx):
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    done, r, f = fp_process_nans(t1, t2, op1, op2, N, fpcr)
    if done:
        return r, flags | f
    s = s1 ^ s2
    inf1 = t1 == T_INF
    inf2 = t2 == T_INF
    z1 = t1 == T_ZERO
    z2 = t2 == T_ZERO
    if (inf1 and z2) or (z1 and inf2):
        if mulx:
            return fp_two(s, N), flags
        return fp_default_nan(N), flags | FPSR_IOC
    if inf1 or inf2:
        return fp_infinity(s, N), flags
    if z1 or z2:
        return fp_zero(s, N), flags
    e, m = _mulv(e1, m1, e2, m2)
    r, f = _round(s, e, m, N, fpcr)
    return r, flags | f


@njit(cache=True)
def fp_mul(op1, op2, N, fpcr):
    """FPMul."""
    return _fp_mul(op1, op2, N, fpcr, False)


@njit(cache=True)
def fp_mulx(op1, op2, N, fpcr):
    """FPMulX: as FPMul, but infinity times zero is 2.0 with the product's sign."""
    return _fp_mul(op1, op2, N, fpcr, True)


@njit(cache=True)
def fp_div(op1, op2, N, fpcr):
    """FPDiv."""
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    done, r, f = fp_process_nans(t1, t2, op1, op2, N, fpcr)
    if done:
        return r, flags | f
    s = s1 ^ s2
    inf1 = t1 == T_INF
    inf2 = t2 == T_INF
    z1 = t1 == T_ZERO
    z2 = t2 == T_ZERO
    if (inf1 and inf2) or (z1 and z2):
        return fp_default_nan(N), flags | FPSR_IOC
    if inf1 or z2:
        return fp_infinity(s, N), flags | (0 if inf1 else FPSR_DZC)
    if z1 or inf2:
        return fp_zero(s, N), flags
    e, m = _divv(e1, m1, e2, m2)
    r, f = _round(s, e, m, N, fpcr)
    return r, flags | f


@njit(cache=True)
def _muladd_values(tA, sA, eA, mA, t1, s1, e1, m1, t2, s2, e2, m2, N, fpcr):
    """The non-NaN part of FPMulAdd on unpacked operands: addend + op1 * op2, one rounding."""
    inf1 = t1 == T_INF
    inf2 = t2 == T_INF
    z1 = t1 == T_ZERO
    z2 = t2 == T_ZERO
    infA = tA == T_INF
    zA = tA == T_ZERO
    sP = s1 ^ s2
    infP = inf1 or inf2
    zP = z1 or z2
    if (inf1 and z2) or (z1 and inf2) or (infA and infP and sA != sP):
        return fp_default_nan(N), FPSR_IOC
    if (infA and sA == 0) or (infP and sP == 0):
        return fp_infinity(0, N), 0
    if (infA and sA == 1) or (infP and sP == 1):
        return fp_infinity(1, N), 0
    if zA and zP:
        if sA == sP:
            return fp_zero(sA, N), 0
        return _exact_zero(fpcr, N), 0
    if zP:
        return _round(sA, eA, mA, N, fpcr)
    if zA:
        e, m = _mulv(e1, m1, e2, m2)
        return _round(sP, e, m, N, fpcr)
    s, e, m = _muladdv(sA, eA, mA, sP, e1, m1, e2, m2)
    if m == 0:
        return _exact_zero(fpcr, N), 0
    return _round(s, e, m, N, fpcr)


@njit(cache=True)
def fp_muladd(addend, op1, op2, N, fpcr):
    """FPMulAdd: addend + op1 * op2 with a single rounding (FMADD, FMLA; the negated forms
    negate operands first, with FPNeg, as the instructions' pseudocode does)."""
    tA, sA, eA, mA, fA = fp_unpack(addend, N, fpcr, False)
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = fA | f1 | f2
    done, r, f = fp_process_nans3(tA, t1, t2, addend, op1, op2, N, fpcr)
    if tA == T_QNAN and ((t1 == T_INF and t2 == T_ZERO) or (t1 == T_ZERO and t2 == T_INF)):
        return fp_default_nan(N), flags | f | FPSR_IOC
    if done:
        return r, flags | f
    r, f = _muladd_values(tA, sA, eA, mA, t1, s1, e1, m1, t2, s2, e2, m2, N, fpcr)
    return r, flags | f


@njit(cache=True)
def _step_fused(op1, op2, N, fpcr, rsqrt):
    """FPRecipStepFused (2 - op1*op2) / FPRSqrtStepFused ((3 - op1*op2) / 2)."""
    op1 = fp_neg(op1, N)
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    done, r, f = fp_process_nans(t1, t2, op1, op2, N, fpcr)
    if done:
        return r, flags | f
    inf1 = t1 == T_INF
    inf2 = t2 == T_INF
    z1 = t1 == T_ZERO
    z2 = t2 == T_ZERO
    if (inf1 and z2) or (z1 and inf2):
        return (fp_one_point_five(0, N) if rsqrt else fp_two(0, N)), flags
    if inf1 or inf2:
        return fp_infinity(s1 ^ s2, N), flags
    # addend 2 (= 1 * 2^1) or 3, the sum then halved for FRSQRTS (= 3 * 2^-1 + product/2)
    if rsqrt:
        if z1 or z2:
            return fp_one_point_five(0, N), flags
        s, e, m = _muladdv(0, 0, 3, s1 ^ s2, e1, m1, e2, m2)
        if m == 0:
            return _exact_zero(fpcr, N), flags
        r, f = _round(s, e - 1, m, N, fpcr)
        return r, flags | f
    if z1 or z2:
        return fp_two(0, N), flags
    s, e, m = _muladdv(0, 1, 1, s1 ^ s2, e1, m1, e2, m2)
    if m == 0:
        return _exact_zero(fpcr, N), flags
    r, f = _round(s, e, m, N, fpcr)
    return r, flags | f


@njit(cache=True)
def fp_recip_step_fused(op1, op2, N, fpcr):
    """FPRecipStepFused (FRECPS): 2.0 - op1 * op2, one rounding."""
    return _step_fused(op1, op2, N, fpcr, False)


@njit(cache=True)
def fp_rsqrt_step_fused(op1, op2, N, fpcr):
    """FPRSqrtStepFused (FRSQRTS): (3.0 - op1 * op2) / 2.0, one rounding."""
    return _step_fused(op1, op2, N, fpcr, True)


@njit(cache=True)
def fp_sqrt(op, N, fpcr):
    """FPSqrt."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        r, f = fp_process_nan(t, op, N, fpcr)
        return r, flags | f
    if t == T_ZERO:
        return fp_zero(s, N), flags
    if t == T_INF and s == 0:
        return fp_infinity(0, N), flags
    if s == 1:
        return fp_default_nan(N), flags | FPSR_IOC
    e, m = _sqrtv(e, m)
    r, f = _round(0, e, m, N, fpcr)
    return r, flags | f


# ---------------------------------------------------------------------------------------------
# Maximum / minimum
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _value_lt(t1, s1, e1, m1, t2, s2, e2, m2):
    """value1 < value2 for non-NaN unpacked operands (infinities as +-inf, zeros equal)."""
    # map to a key: (class, magnitude) ordering on the real line
    if t1 == T_ZERO and t2 == T_ZERO:
        return False
    n1 = 0 if t1 == T_ZERO else (1 - 2 * s1)  # sign as -1/0/+1
    n2 = 0 if t2 == T_ZERO else (1 - 2 * s2)
    if n1 != n2:
        return n1 < n2
    # same nonzero sign: compare magnitudes
    if t1 == T_INF or t2 == T_INF:
        if t1 == t2:
            return False
        mag_lt = t2 == T_INF
    else:
        k1 = _msb(m1) + e1
        k2 = _msb(m2) + e2
        if k1 != k2:
            mag_lt = k1 < k2
        else:
            a = m1 << (62 - _msb(m1))
            b = m2 << (62 - _msb(m2))
            if a == b:
                return False
            mag_lt = a < b
    return mag_lt if n1 > 0 else not mag_lt


@njit(cache=True)
def _fp_maxmin(op1, op2, N, fpcr, is_max, num):
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    if num:  # FPMaxNum/FPMinNum: a single quiet NaN loses to any number
        if t1 == T_QNAN and t2 != T_QNAN:
            op1 = fp_infinity(1 if is_max else 0, N)
            t1, s1 = T_INF, (1 if is_max else 0)
        elif t1 != T_QNAN and t2 == T_QNAN:
            op2 = fp_infinity(1 if is_max else 0, N)
            t2, s2 = T_INF, (1 if is_max else 0)
    done, r, f = fp_process_nans(t1, t2, op1, op2, N, fpcr)
    if done:
        return r, flags | f
    if is_max:
        first = _value_lt(t2, s2, e2, m2, t1, s1, e1, m1)  # value1 > value2
    else:
        first = _value_lt(t1, s1, e1, m1, t2, s2, e2, m2)
    if first:
        t, s, op = t1, s1, op1
    else:
        t, s, op = t2, s2, op2
    if t == T_INF:
        return fp_infinity(s, N), flags
    if t == T_ZERO:
        s = (s1 & s2) if is_max else (s1 | s2)
        return fp_zero(s, N), flags
    return op, flags  # FPRound of a representable value is the value itself


@njit(cache=True)
def fp_max(op1, op2, N, fpcr):
    """FPMax."""
    return _fp_maxmin(op1, op2, N, fpcr, True, False)


@njit(cache=True)
def fp_min(op1, op2, N, fpcr):
    """FPMin."""
    return _fp_maxmin(op1, op2, N, fpcr, False, False)


@njit(cache=True)
def fp_maxnum(op1, op2, N, fpcr):
    """FPMaxNum."""
    return _fp_maxmin(op1, op2, N, fpcr, True, True)


@njit(cache=True)
def fp_minnum(op1, op2, N, fpcr):
    """FPMinNum."""
    return _fp_maxmin(op1, op2, N, fpcr, False, True)


# ---------------------------------------------------------------------------------------------
# Comparisons
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def fp_compare(op1, op2, N, fpcr, signal_nans):
    """FPCompare: ``(nzcv, flags)``; unordered is 0011, Invalid for a signalling NaN or, with
    ``signal_nans`` (FCMPE), any NaN."""
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    if t1 >= T_QNAN or t2 >= T_QNAN:
        if t1 == T_SNAN or t2 == T_SNAN or signal_nans:
            flags |= FPSR_IOC
        return 0b0011, flags
    if _value_lt(t1, s1, e1, m1, t2, s2, e2, m2):
        return 0b1000, flags
    if _value_lt(t2, s2, e2, m2, t1, s1, e1, m1):
        return 0b0010, flags
    return 0b0110, flags


@njit(cache=True)
def fp_compare_op(op1, op2, N, fpcr, cmp):
    """FPCompareEQ (cmp 0), FPCompareGE (1), FPCompareGT (2): ``(true, flags)``. EQ signals only
    on signalling NaNs, GE and GT on every NaN."""
    t1, s1, e1, m1, f1 = fp_unpack(op1, N, fpcr, False)
    t2, s2, e2, m2, f2 = fp_unpack(op2, N, fpcr, False)
    flags = f1 | f2
    if t1 >= T_QNAN or t2 >= T_QNAN:
        if cmp != 0 or t1 == T_SNAN or t2 == T_SNAN:
            flags |= FPSR_IOC
        return False, flags
    lt = _value_lt(t1, s1, e1, m1, t2, s2, e2, m2)
    gt = _value_lt(t2, s2, e2, m2, t1, s1, e1, m1)
    if cmp == 0:
        return (not lt) and (not gt), flags
    if cmp == 1:
        return not lt, flags
    return gt, flags


@njit(cache=True)
def fp_compare_eq(op1, op2, N, fpcr):
    """FPCompareEQ."""
    return fp_compare_op(op1, op2, N, fpcr, 0)


@njit(cache=True)
def fp_compare_ge(op1, op2, N, fpcr):
    """FPCompareGE."""
    return fp_compare_op(op1, op2, N, fpcr, 1)


@njit(cache=True)
def fp_compare_gt(op1, op2, N, fpcr):
    """FPCompareGT."""
    return fp_compare_op(op1, op2, N, fpcr, 2)


# ---------------------------------------------------------------------------------------------
# Rounding to integral, conversions
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _round_magnitude(m, sh, sign, rounding):
    """Round m * 2^-sh (sh > 0) to an integer magnitude by ``rounding`` for a value of the
    given sign: ``(int_mag, inexact)``; int_mag may wrap to 0 only for m >= 2^63 (callers
    avoid). Same decisions as the ASL's RoundDown + round_up on the signed value."""
    if sh >= 64:  # m < 2^63 <= 2^(sh-1): below half
        t = 0
        half_cls = 1 if m != 0 else 0
    else:
        t = m >> sh
        rem = m & ((1 << sh) - 1)
        half = 1 << (sh - 1)
        half_cls = 0 if rem == 0 else (1 if rem < half else (2 if rem == half else 3))
    up = False
    if rounding == RND_TIEEVEN:
        up = half_cls == 3 or (half_cls == 2 and (t & 1) == 1)
    elif rounding == RND_TIEAWAY:
        up = half_cls >= 2
    elif rounding == RND_POSINF:
        up = half_cls != 0 and sign == 0
    elif rounding == RND_NEGINF:
        up = half_cls != 0 and sign == 1
    return t + (1 if up else 0), half_cls != 0


@njit(cache=True)
def fp_round_int(op, N, fpcr, rounding, exact):
    """FPRoundInt (FRINT*): round to an integral value in the format; ``exact`` (FRINTX) raises
    Inexact when the value changed."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        r, f = fp_process_nan(t, op, N, fpcr)
        return r, flags | f
    if t == T_INF:
        return fp_infinity(s, N), flags
    if t == T_ZERO:
        return fp_zero(s, N), flags
    if e >= 0:
        return op, flags  # already an integer
    mag, inexact = _round_magnitude(m, -e, s, rounding)
    if mag == 0:
        r = fp_zero(s, N)
    else:
        r, f = fp_round(s, 0, mag, N, fpcr, RND_ZERO, False)
        flags |= f
    if inexact and exact:
        flags |= FPSR_IXC
    return r, flags


@njit(cache=True)
def fp_to_fixed(op, N, fbits, M, unsigned, fpcr, rounding):
    """FPToFixed: the M-bit (32/64) integer of op * 2^fbits rounded by ``rounding``, saturated;
    Invalid on NaN (result 0) or saturation, else Inexact when rounded. Result zero-extended
    from M bits."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        return 0, flags | FPSR_IOC
    big = False
    mag = 0
    inexact = False
    if t == T_INF:
        big = True
    elif t == T_NONZERO:
        e += fbits
        if e >= 0:
            top = _msb(m) + e
            if top >= 64:
                big = True
            else:  # < 2^64 as an unsigned pattern (bit 63 set by hand: no wrap in plain Python)
                mag = (m << e) & 0x7FFFFFFFFFFFFFFF
                if top == 63:
                    mag |= -0x8000000000000000
        else:
            mag, inexact = _round_magnitude(m, -e, s, rounding)
    # UnsignedSatQ / SignedSatQ of (-1)^s * mag (mag < 0 here means >= 2^63)
    ixc = FPSR_IXC if inexact else 0
    if unsigned:
        mmask = -1 if M == 64 else 0xFFFFFFFF
        if s == 1 and (big or mag != 0):
            return 0, flags | FPSR_IOC
        if big or (M == 32 and (mag < 0 or mag > mmask)):
            return mmask, flags | FPSR_IOC
        return mag, flags | ixc
    if M == 64:
        if s == 0:
            if big or mag < 0:
                return 0x7FFFFFFFFFFFFFFF, flags | FPSR_IOC
            return mag, flags | ixc
        if big or (mag < 0 and mag != -0x8000000000000000):
            return -0x8000000000000000, flags | FPSR_IOC
        return -mag, flags | ixc
    if s == 0:
        if big or mag < 0 or mag > 0x7FFFFFFF:
            return 0x7FFFFFFF, flags | FPSR_IOC
        return mag, flags | ixc
    if big or mag < 0 or mag > 0x80000000:
        return 0x80000000, flags | FPSR_IOC
    return (-mag) & 0xFFFFFFFF, flags | ixc


@njit(cache=True)
def fixed_to_fp(x, M, fbits, unsigned, N, fpcr, rounding):
    """FixedToFP: the M-bit integer x (signed or unsigned) / 2^fbits to an N-bit float."""
    if M == 32:
        x &= 0xFFFFFFFF
        if not unsigned and x >= 0x80000000:
            x -= 1 << 32
    s = 0
    if unsigned:
        if x == 0:
            return fp_zero(0, N), 0
        if x < 0:  # >= 2^63 as unsigned: halve with sticky
            return fp_round(0, 1 - fbits, _lsr(x, 1) | (x & 1), N, fpcr, rounding, False)
        return fp_round(0, -fbits, x, N, fpcr, rounding, False)
    if x == 0:
        return fp_zero(0, N), 0
    if x < 0:
        s = 1
        if x == -0x8000000000000000:
            return fp_round(1, 63 - fbits, 1, N, fpcr, rounding, False)
        x = -x
    return fp_round(s, -fbits, x, N, fpcr, rounding, False)


@njit(cache=True)
def fp_convert(op, M, N, fpcr, rounding):
    """FPConvert from M-bit to N-bit format (16/32/64; FCVT, FCVTL/FCVTN, FCVTXN with
    RND_ODD). A half source or result uses FPCR.AHP (FPUnpackCV/FPRoundCV); half is never
    flushed."""
    t, s, e, m, flags = fp_unpack(op, M, fpcr, (fpcr & FPCR_AHP) != 0)
    alt_hp = N == 16 and (fpcr & FPCR_AHP) != 0
    if t == T_QNAN or t == T_SNAN:
        if alt_hp:
            r = fp_zero(s, N)
        elif fpcr & FPCR_DN:
            r = fp_default_nan(N)
        else:
            # FPConvertNaN: sign, quiet NaN, payload left-aligned (truncated or zero-filled)
            FM = _fbits(M)
            FN = _fbits(N)
            payload = op & ((1 << (FM - 1)) - 1)
            if FN >= FM:
                payload <<= FN - FM
            else:
                payload = _lsr(payload, FM - FN)
            r = fp_infinity(s, N) | (1 << (FN - 1)) | payload
        if t == T_SNAN or alt_hp:
            flags |= FPSR_IOC
        return r, flags
    if t == T_INF:
        if alt_hp:
            return (s << 15) | 0x7FFF, flags | FPSR_IOC
        return fp_infinity(s, N), flags
    if t == T_ZERO:
        return fp_zero(s, N), flags
    r, f = fp_round(s, e, m, N, fpcr, rounding, True)
    return r, flags | f


# ---------------------------------------------------------------------------------------------
# Estimates
# ---------------------------------------------------------------------------------------------
def _recip_estimate_table():
    """RecipEstimate(a) for a in 256..511 (index a - 256)."""
    out = np.zeros(256, dtype=np.int64)
    for a in range(256, 512):
        a2 = a * 2 + 1
        b = (1 << 19) // a2
        out[a - 256] = (b + 1) // 2
    return out


def _rsqrt_estimate_table():
    """RecipSqrtEstimate(a) for a in 128..511 (index a - 128)."""
    out = np.zeros(384, dtype=np.int64)
    for a0 in range(128, 512):
        if a0 < 256:
            a = a0 * 2 + 1
        else:
            a = ((a0 >> 1) << 1)
            a = (a + 1) * 2
        b = 512
        while a * (b + 1) * (b + 1) < (1 << 28):
            b += 1
        out[a0 - 128] = (b + 1) // 2
    return out


RECIP_ESTIMATE = _recip_estimate_table()
RSQRT_ESTIMATE = _rsqrt_estimate_table()


@njit(cache=True)
def fp_recip_estimate(op, N, fpcr):
    """FPRecipEstimate (FRECPE), Armv8.0: 8-bit estimate from RecipEstimate's table."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        r, f = fp_process_nan(t, op, N, fpcr)
        return r, flags | f
    if t == T_INF:
        return fp_zero(s, N), flags
    if t == T_ZERO:
        return fp_infinity(s, N), flags | FPSR_DZC
    E = _ebits(N)
    F = _fbits(N)
    bias = (1 << (E - 1)) - 1
    k = _msb(m) + e  # floor(log2 |value|)
    if k < -(bias + 1):  # |value| < 2^-(bias+1) (2^-128 single, 2^-1024 double)
        rnd = fpcr_rounding(fpcr)
        if rnd == RND_TIEEVEN:
            oti = True
        elif rnd == RND_POSINF:
            oti = s == 0
        elif rnd == RND_NEGINF:
            oti = s == 1
        else:
            oti = False
        r = fp_infinity(s, N) if oti else fp_max_normal(s, N)
        return r, flags | FPSR_OFC | FPSR_IXC
    if N != 16 and (fpcr & FPCR_FZ) and k >= bias - 1:  # |value| >= 2^126 / 2^1022
        return fp_zero(s, N), flags | FPSR_UFC
    frac = (op & ((1 << F) - 1)) << (52 - F)
    exp = _lsr(op, F) & ((1 << E) - 1)
    if exp == 0:
        if (frac >> 51) & 1 == 0:
            exp = -1
            frac = (frac << 2) & ((1 << 52) - 1)
        else:
            frac = (frac << 1) & ((1 << 52) - 1)
    scaled = 256 | ((frac >> 44) & 0xFF)
    result_exp = 2 * bias - 1 - exp
    est = RECIP_ESTIMATE[scaled - 256]
    frac = (est & 0xFF) << 44
    if result_exp == 0:
        frac = (1 << 51) | (frac >> 1)
    elif result_exp == -1:
        frac = (1 << 50) | (frac >> 2)
        result_exp = 0
    return _signbit(s, N) | (result_exp << F) | (frac >> (52 - F)), flags


@njit(cache=True)
def fp_rsqrt_estimate(op, N, fpcr):
    """FPRSqrtEstimate (FRSQRTE), Armv8.0: 8-bit estimate from RecipSqrtEstimate's table."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        r, f = fp_process_nan(t, op, N, fpcr)
        return r, flags | f
    if t == T_ZERO:
        return fp_infinity(s, N), flags | FPSR_DZC
    if s == 1:
        return fp_default_nan(N), flags | FPSR_IOC
    if t == T_INF:
        return fp_zero(0, N), flags
    E = _ebits(N)
    F = _fbits(N)
    bias = (1 << (E - 1)) - 1
    frac = (op & ((1 << F) - 1)) << (52 - F)
    exp = _lsr(op, F) & ((1 << E) - 1)
    if exp == 0:
        while (frac >> 51) & 1 == 0:
            frac = (frac << 1) & ((1 << 52) - 1)
            exp -= 1
        frac = (frac << 1) & ((1 << 52) - 1)
    if exp & 1 == 0:  # biased exponent even: the unbiased one is odd, scale to [0.5, 1)
        scaled = 256 | ((frac >> 44) & 0xFF)
    else:
        scaled = 128 | ((frac >> 45) & 0x7F)
    result_exp = (3 * bias - 1 - exp) // 2
    est = RSQRT_ESTIMATE[scaled - 128]
    return (result_exp << F) | ((est & 0xFF) << (F - 8)), flags


@njit(cache=True)
def fp_recpx(op, N, fpcr):
    """FPRecpX (FRECPX): sign, inverted exponent (zero exponent -> max exponent - 1), zero
    fraction."""
    t, s, e, m, flags = fp_unpack(op, N, fpcr, False)
    if t == T_QNAN or t == T_SNAN:
        r, f = fp_process_nan(t, op, N, fpcr)
        return r, flags | f
    E = _ebits(N)
    F = _fbits(N)
    exp = _lsr(op, F) & ((1 << E) - 1)
    if exp == 0:
        ne = (1 << E) - 2
    else:
        ne = (~exp) & ((1 << E) - 1)
    return _signbit(s, N) | (ne << F), flags
