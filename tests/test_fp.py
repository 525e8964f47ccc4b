"""Floating point: every FP/AdvSIMD-FP encoding family against unicorn, and fparith's corners.

Differential part: for each pattern of ``fp.decode``, ``simd_fp.decode`` and ``FP_int``
(fpmove.decode), hypothesis draws a word of the family (random fields, kept when our decoder
gives that pattern: the predicates' holes are the capstone tests' business), 32 vector
registers whose lanes are weighted towards special values (+-0, +-inf, quiet and signalling
NaNs, denormals, the smallest and largest normals, the values around the integer conversion
limits, small halves for ties), general registers with integer limits, and an FPCR with every
RMode/FZ/DN/AHP combination; armvirt and unicorn (QEMU's softfloat) must agree on V, X, NZCV
and FPSR. ``ARMVIRT_FP_EXAMPLES`` sets the examples per family (default 40); the ``slow``
sweep (``ARMVIRT_FP_SWEEP=1``) runs 1000 per family.

Unit part: values computed by hand from the Arm ARM pseudocode for the corners an oracle built
on QEMU may not show (see each test's docstring).
"""
from __future__ import annotations

import os
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from armvirt.isa import _decoder as D
from armvirt.isa import gen_decoder as G
from armvirt.exec import fparith as F

from oracle import compare

TABLE = G.load_table()
FP_PATTERNS = [p.name for p in TABLE.patterns
               if p.file in ("fp.decode", "simd_fp.decode") or p.name == "FP_int"]
EXAMPLES = int(os.environ.get("ARMVIRT_FP_EXAMPLES", "40"))

S_SPECIAL = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001,
             0x7F800001, 0xFFA00000, 0x00000001, 0x807FFFFF, 0x00800000, 0x80800000,
             0x7F7FFFFF, 0xFF7FFFFF, 0x3F800000, 0xBF800000, 0x3F000000, 0x3FC00000,
             0x40200000, 0xC0200000, 0x4EFFFFFF, 0x4F000000, 0xCF000000, 0xCF000001,
             0x4F800000, 0x4F7FFFFF, 0x5F000000, 0x5EFFFFFF, 0xDF000000, 0x5F800000,
             0x00400000, 0x7E800000, 0x01000000, 0x3EAAAAAB, 0x40000000, 0x40400000]
D_SPECIAL = [0x0, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
             0x7FF8000000000000, 0xFFF8000000000123, 0x7FF0000000000001, 0xFFF4000000000000,
             0x0000000000000001, 0x800FFFFFFFFFFFFF, 0x0010000000000000, 0x8010000000000000,
             0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x3FF0000000000000, 0xBFF0000000000000,
             0x3FE0000000000000, 0x3FF8000000000000, 0x4004000000000000, 0xC004000000000000,
             0x41DFFFFFFFC00000, 0x41E0000000000000, 0xC1E0000000000000, 0xC1E0000000200000,
             0x41EFFFFFFFE00000, 0x41F0000000000000, 0x43E0000000000000, 0x43DFFFFFFFFFFFFF,
             0xC3E0000000000000, 0x43F0000000000000, 0x47EFFFFFE0000000, 0x3810000000000000,
             0x36A0000000000000, 0x7FE0000000000000, 0x3FD5555555555555, 0x4000000000000000]
H_SPECIAL = [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0x0001, 0x03FF, 0x0400, 0x7BFF,
             0x3C00, 0xBC00, 0x3800, 0x3E00]
X_SPECIAL = [0, 1, 2, 3, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 1 << 31, (1 << 31) - 1,
             (1 << 32) - 1, 1 << 32, 0xFFFFFFFF80000000, (1 << 53) + 1, (1 << 24) + 1,
             0x7FFFFFFFFFFFFC00, 0xFFFFFFFFFFFFFC01]


def _small_float(r: random.Random, esize: int) -> int:
    """k/4 for a small k: exact ties for the rounding modes and integral results."""
    v = r.randint(-40, 40) / 4
    if esize == 32:
        return struct.unpack("<I", struct.pack("<f", v))[0]
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _lane(r: random.Random, esize: int) -> int:
    k = r.random()
    if esize == 16:
        return r.choice(H_SPECIAL) if k < 0.5 else r.getrandbits(16)
    if k < 0.45:
        return r.choice(S_SPECIAL if esize == 32 else D_SPECIAL)
    if k < 0.6:
        return _small_float(r, esize)
    if k < 0.75:  # a normal of moderate exponent
        bias = 127 if esize == 32 else 1023
        f = 23 if esize == 32 else 52
        e = bias + r.randint(-30, 30)
        return (r.getrandbits(1) << (esize - 1)) | (e << f) | r.getrandbits(f)
    return r.getrandbits(esize)


def _vreg(r: random.Random) -> int:
    esize = r.choice((16, 32, 32, 64, 64))
    v = 0
    for i in range(128 // esize):
        v |= _lane(r, esize) << (i * esize)
    return v


def _word(p, r: random.Random) -> int:
    free = ~p.mask & 0xFFFFFFFF
    for _ in range(2000):
        w = p.value | (r.getrandbits(32) & free)
        if D.decode(w) == p.op:
            return w
    raise AssertionError(f"{p.name}: no word decodes to it")


FPCRS = [(rm << 22) | (fz << 24) | (dn << 25) | (ahp << 26)
         for rm in range(4) for fz in (0, 1) for dn in (0, 1) for ahp in (0, 1)]


def _run_family(name: str, seed: int, fpcr: int) -> None:
    p = TABLE.by_name[name]
    r = random.Random(seed)
    w = _word(p, r)
    v = [_vreg(r) for _ in range(32)]
    x = [r.choice(X_SPECIAL) if r.random() < 0.5 else r.getrandbits(64) for _ in range(31)]
    compare([w], x, v=v, fpcr=fpcr, nzcv=r.getrandbits(4) << 28)


@pytest.mark.parametrize("name", FP_PATTERNS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**64 - 1), fpcr=st.sampled_from(FPCRS))
def test_family_against_unicorn(name, seed, fpcr):
    _run_family(name, seed, fpcr)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("ARMVIRT_FP_SWEEP"), reason="ARMVIRT_FP_SWEEP=1 runs it")
@pytest.mark.parametrize("name", FP_PATTERNS)
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(seed=st.integers(0, 2**64 - 1), fpcr=st.sampled_from(FPCRS))
def test_family_sweep(name, seed, fpcr):
    _run_family(name, seed, fpcr)


# ---------------------------------------------------------------------------------------------
# fparith corners, computed from the Arm ARM pseudocode

RMODE = {"RN": 0, "RP": 1, "RM": 2, "RZ": 3}
FZ = 1 << 24
DN = 1 << 25
AHP = 1 << 26


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<q", struct.pack("<d", x))[0]


def test_round_every_mode_at_a_tie():
    """FPRound: 1 + 2^-24 (exactly half an ulp of single above 1.0) in the four FPCR modes and
    round-to-odd (FCVTXN): RN ties to even, RP up, RM/RZ down, odd sets the LSB. IXC each time."""
    op = f64(1.0 + 2.0 ** -24)
    expect = {0: 0x3F800000, 1: 0x3F800001, 2: 0x3F800000, 3: 0x3F800000}
    for rm, r in expect.items():
        assert F.fp_convert(op, 64, 32, rm << 22, rm) == (r, F.FPSR_IXC)
    assert F.fp_convert(op, 64, 32, 0, F.RND_ODD) == (0x3F800001, F.FPSR_IXC)


def test_flush_to_zero_input_and_output():
    """FZ: a denormal input is zero with IDC (FPUnpack); a result below the smallest normal is
    +-0 with UFC and no IXC (FPRound flushes before rounding)."""
    den = 0x00000001
    assert F.fp_add(den, 0, 32, FZ) == (0, F.FPSR_IDC)
    assert F.fp_add(den, 0, 32, 0) == (den, 0)
    tiny = f32(2.0 ** -100)
    assert F.fp_mul(tiny, 0x80000000 | tiny, 32, FZ) == (0x80000000, F.FPSR_UFC)
    # Without FZ: underflow (tiny and inexact) and inexact.
    r, fl = F.fp_mul(f32(1.3 * 2.0 ** -70), f32(2.0 ** -70), 32, 0)
    assert fl == F.FPSR_UFC | F.FPSR_IXC


def test_half_precision_is_never_flushed():
    """Armv8.0 has no FZ16: FCVT to/from half keeps half denormals even with FPCR.FZ set."""
    assert F.fp_convert(0x0001, 16, 32, FZ, 0) == (f32(2.0 ** -24), 0)
    assert F.fp_convert(f32(2.0 ** -24), 32, 16, FZ, 0) == (0x0001, 0)


def test_alternative_half_precision():
    """FPCR.AHP: exponent 11111 is an ordinary number (no inf/NaN); NaN and infinity sources
    give zero / the largest value with IOC; overflow saturates with IOC, not OFC/IXC."""
    assert F.fp_convert(0x7C00, 16, 32, AHP, 0) == (f32(65536.0), 0)
    assert F.fp_convert(0x7FC00000, 32, 16, AHP, 0) == (0, F.FPSR_IOC)
    assert F.fp_convert(0xFF800000, 32, 16, AHP, 0) == (0xFFFF, F.FPSR_IOC)
    assert F.fp_convert(f32(1e6), 32, 16, AHP, 0) == (0x7FFF, F.FPSR_IOC)
    assert F.fp_convert(f32(1e6), 32, 16, 0, 0) == (0x7C00, F.FPSR_OFC | F.FPSR_IXC)


def test_nan_propagation_and_default_nan():
    """FPProcessNaNs: a signalling NaN wins over a quiet one (quietened, IOC) even as the second
    operand; FPCR.DN returns the default NaN; FPMulAdd checks the addend first (Armv8.0
    FPProcessNaNs3 order: addend, op1, op2) and gives the default NaN with IOC for a quiet-NaN
    addend plus 0 * inf."""
    q, s = 0x7FC00005, 0x7F800007
    assert F.fp_add(q, s, 32, 0) == (0x7FC00007, F.FPSR_IOC)
    assert F.fp_add(q, s, 32, DN) == (0x7FC00000, F.FPSR_IOC)
    assert F.fp_muladd(q, 0x7FC00009, f32(1.0), 32, 0) == (q, 0)
    assert F.fp_muladd(q, 0, 0x7F800000, 32, 0) == (0x7FC00000, F.FPSR_IOC)


def test_fma_single_rounding():
    """FPMulAdd rounds once: (1 + 2^-52)^2 - 1 - 2^-51 = 2^-104 exactly, which a separately
    rounded product (1 + 2^-51) would lose entirely."""
    a = f64(1.0 + 2.0 ** -52)
    addend = f64(-(1.0 + 2.0 ** -51))
    assert F.fp_muladd(addend, a, a, 64, 0) == (f64(2.0 ** -104), 0)


def test_exact_zero_sign_follows_rounding_mode():
    """An exact zero sum of opposite values is +0, or -0 when rounding toward minus infinity."""
    one, mone = f32(1.0), f32(-1.0)
    assert F.fp_add(one, mone, 32, 0) == (0, 0)
    assert F.fp_add(one, mone, 32, 2 << 22) == (0x80000000, 0)


def test_to_integer_limits():
    """FPToFixed saturates with IOC; NaN converts to 0 with IOC; -0.5 to unsigned by RZ is 0,
    inexact but not invalid; 2^31 - 0.5 to int32 by RN (tie to even) overflows."""
    assert F.fp_to_fixed(f64(2.0 ** 63), 64, 0, 64, False, 0, 3) == (2 ** 63 - 1, F.FPSR_IOC)
    assert F.fp_to_fixed(f64(-2.0 ** 63), 64, 0, 64, False, 0, 3) == (-2 ** 63, 0)
    assert F.fp_to_fixed(0x7FF8000000000000, 64, 0, 32, False, 0, 3) == (0, F.FPSR_IOC)
    assert F.fp_to_fixed(f64(-0.5), 64, 0, 32, True, 0, 3) == (0, F.FPSR_IXC)
    assert F.fp_to_fixed(f64(2.0 ** 31 - 0.5), 64, 0, 32, False, 0, 0) == (0x7FFFFFFF,
                                                                        F.FPSR_IOC)
    assert F.fp_to_fixed(f64(2.5), 64, 0, 64, False, 0, F.RND_TIEAWAY) == (3, F.FPSR_IXC)
    assert F.fp_to_fixed(f64(-2.5), 64, 0, 64, False, 0, F.RND_TIEAWAY) == (-3, F.FPSR_IXC)


def test_frint_exact_and_ties():
    """FPRoundInt: FRINTX raises IXC only when the value changed; TIEAWAY rounds -2.5 to -3;
    a negative value rounding to zero keeps its sign."""
    assert F.fp_round_int(f64(2.5), 64, 0, 0, True) == (f64(2.0), F.FPSR_IXC)
    assert F.fp_round_int(f64(2.0), 64, 0, 0, True) == (f64(2.0), 0)
    assert F.fp_round_int(f64(-2.5), 64, 0, F.RND_TIEAWAY, False) == (f64(-3.0), 0)
    assert F.fp_round_int(f64(-0.25), 64, 0, 0, False) == (f64(-0.0), 0)


def test_estimates_from_the_tables():
    """FRECPE(3.0) = 0x3EAA8000 and FRSQRTE(4.0) = 0x3EFF8000 (RecipEstimate(384) = 341,
    RecipSqrtEstimate(128) = 511); FRECPE of a tiny value overflows (OFC|IXC, inf in RN, max
    normal in RZ); FRECPX(8.0) = 2^-4 (inverted exponent)."""
    assert F.fp_recip_estimate(f32(3.0), 32, 0) == (0x3EAA8000, 0)
    assert F.fp_rsqrt_estimate(f32(4.0), 32, 0) == (0x3EFF8000, 0)
    assert F.fp_recip_estimate(0x00000001, 32, 0) == (0x7F800000, F.FPSR_OFC | F.FPSR_IXC)
    assert F.fp_recip_estimate(0x00000001, 32, 3 << 22) == (0x7F7FFFFF,
                                                            F.FPSR_OFC | F.FPSR_IXC)
    assert F.fp_recpx(f32(8.0), 32, 0) == (0x3E800000, 0)


def test_fixed_point_conversions():
    """FixedToFP of the unsigned 2^64 - 1 (rounds up to 2^64) and of INT64_MIN with fbits."""
    assert F.fixed_to_fp(-1, 64, 0, True, 64, 0, 0) == (f64(2.0 ** 64), F.FPSR_IXC)
    assert F.fixed_to_fp(-2 ** 63, 64, 3, False, 64, 0, 0) == (f64(-2.0 ** 60), 0)
