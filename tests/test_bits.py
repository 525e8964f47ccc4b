"""The signedness helpers of armvirt.bits against Python's arbitrary-precision integers."""
from hypothesis import given, strategies as st

from armvirt import bits

U64 = (1 << 64) - 1
s64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


def u(x: int) -> int:
    return x & U64


def s(x: int) -> int:
    x &= U64
    return x - (1 << 64) if x >> 63 else x


@given(s64, st.integers(0, 63))
def test_lsr(x, n):
    assert bits.lsr(x, n) == s(u(x) >> n)


@given(s64, s64)
def test_unsigned_compare(a, b):
    assert bits.ult(a, b) == (u(a) < u(b))
    assert bits.ule(a, b) == (u(a) <= u(b))


@given(s64, s64.filter(lambda v: v != 0))
def test_udiv(a, b):
    assert bits.udiv64(a, b) == s(u(a) // u(b))


@given(s64, s64.filter(lambda v: v != 0))
def test_sdiv_truncates_toward_zero(a, b):
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    assert bits.sdiv64(a, b) == s(q)


@given(s64, s64)
def test_high_multiplies(a, b):
    assert bits.umulh(a, b) == s((u(a) * u(b)) >> 64)
    assert bits.smulh(a, b) == s((a * b) >> 64)


@given(s64, st.integers(1, 64))
def test_sign_and_zero_extend(x, n):
    low = u(x) & ((1 << n) - 1)
    assert bits.zext(x, n) == s(low)
    assert bits.sext(x, n) == (low - (1 << n) if low >> (n - 1) else low)


@given(s64, st.integers(0, 127), st.sampled_from([32, 64]))
def test_ror(x, n, width):
    v = u(x) & ((1 << width) - 1)
    r = n % width
    expect = ((v >> r) | (v << (width - r))) & ((1 << width) - 1)
    assert u(bits.ror(x, n, width)) == expect


@given(s64, st.sampled_from([32, 64]))
def test_clz(x, width):
    v = u(x) & ((1 << width) - 1)
    assert bits.clz(x, width) == width - v.bit_length()


def _decode_bit_masks_ref(n, imms, immr, width):
    """DecodeBitMasks for logical immediates, straight from the Arm ARM pseudocode."""
    combined = (n << 6) | (~imms & 0x3F)
    length = combined.bit_length() - 1
    if length < 1:
        return None
    levels = (1 << length) - 1
    if (imms & levels) == levels:
        return None
    esize = 1 << length
    if esize > width:
        return None
    S, R = imms & levels, immr & levels
    welem = (1 << (S + 1)) - 1
    welem = ((welem >> R) | (welem << (esize - R))) & ((1 << esize) - 1)
    return sum(welem << i for i in range(0, width, esize))


@given(st.integers(0, 1), st.integers(0, 63), st.integers(0, 63), st.sampled_from([32, 64]))
def test_decode_bit_masks(n, imms, immr, width):
    ref = _decode_bit_masks_ref(n, imms, immr, width)
    valid, wmask, _ = bits.decode_bit_masks(n, imms, immr, True, width)
    assert valid == (ref is not None)
    if ref is not None:
        assert u(wmask) == ref
