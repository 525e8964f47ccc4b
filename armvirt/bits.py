"""Bit-level helpers shared by the jitted core.

Register values are kept as **int64** everywhere in the core (numba notes: mixing uint64 and
int64 silently produces float64). Operations whose meaning depends on signedness — logical shift
right, unsigned compare, unsigned divide, high multiply — are written once here and checked
against Python integers by ``tests/test_bits.py``.

Names follow the Arm ARM's shared pseudocode where one exists (``ZeroExtend``, ``SignExtend``,
``ROR``, ``DecodeBitMasks``, ``HighestSetBit``, ``CountLeadingZeroBits``).
"""
from armvirt.jit import njit

MASK32 = 0xFFFFFFFF
INT64_MIN = -0x8000000000000000


@njit(cache=True, inline="always")
def to_s64(x):
    """Reinterpret a Python int in [0, 2**64) as int64 (no-op on int64 inputs in numba)."""
    return x - (1 << 64) if x >= (1 << 63) else x


@njit(cache=True, inline="always")
def lsr(x, n):
    """Logical shift right of a 64-bit value by n (0 <= n <= 63)."""
    if n == 0:
        return x
    return (x >> n) & ((1 << (64 - n)) - 1)


@njit(cache=True, inline="always")
def lsl(x, n):
    """Logical shift left of a 64-bit value by n (0 <= n <= 63), wrapping."""
    return x << n


@njit(cache=True, inline="always")
def ult(a, b):
    """Unsigned a < b for 64-bit values held as int64."""
    return (a ^ INT64_MIN) < (b ^ INT64_MIN)


@njit(cache=True, inline="always")
def ule(a, b):
    return (a ^ INT64_MIN) <= (b ^ INT64_MIN)


@njit(cache=True, inline="always")
def zext32(x):
    """ZeroExtend(x<31:0>, 64)."""
    return x & MASK32


@njit(cache=True, inline="always")
def sext32(x):
    """SignExtend(x<31:0>, 64)."""
    x = x & MASK32
    return x - (1 << 32) if x & 0x80000000 else x


@njit(cache=True, inline="always")
def sext(x, bits):
    """SignExtend(x<bits-1:0>, 64) for 1 <= bits <= 64."""
    if bits >= 64:
        return x
    sh = 64 - bits
    return (x << sh) >> sh


@njit(cache=True, inline="always")
def zext(x, bits):
    """ZeroExtend(x<bits-1:0>, 64) for 1 <= bits <= 64."""
    if bits >= 64:
        return x
    return x & ((1 << bits) - 1)


@njit(cache=True, inline="always")
def ones(bits):
    """Ones(bits) as int64 (bits = 64 gives -1)."""
    if bits >= 64:
        return -1
    return (1 << bits) - 1


@njit(cache=True, inline="always")
def ror(x, n, width):
    """ROR(x, n) on a width-bit value (width 32 or 64), result zero-extended."""
    n = n % width
    if width == 32:
        x = x & MASK32
        if n == 0:
            return x
        return ((x >> n) | (x << (32 - n))) & MASK32
    if n == 0:
        return x
    return lsr(x, n) | (x << (64 - n))


@njit(cache=True)
def udiv64(a, b):
    """Unsigned 64-bit division, b != 0 (A64 UDIV; division by zero is handled by the caller)."""
    if a >= 0 and b > 0:
        return a // b
    # Long division on the unsigned representation: b > 2**63 or a >= 2**63.
    if b < 0:  # divisor >= 2**63: quotient is 0 or 1
        return 1 if ule(b, a) else 0
    q = (lsr(a, 1) // b) << 1
    r = a - q * b
    if ule(b, r):
        q += 1
    return q


@njit(cache=True)
def sdiv64(a, b):
    """Signed 64-bit division truncating toward zero (A64 SDIV), b != 0; INT64_MIN / -1 wraps."""
    if b == -1:
        return -a  # wraps for INT64_MIN as the architecture requires
    if b == INT64_MIN:  # |b| does not fit in int64: the quotient is 1 or 0
        return 1 if a == INT64_MIN else 0
    # Python-style floor division differs from truncation for mixed signs: divide magnitudes.
    ua = -a if a < 0 else a
    ub = -b if b < 0 else b
    if a == INT64_MIN:
        q = udiv64(a, ub)  # |INT64_MIN| = 2**63 as unsigned
    else:
        q = ua // ub
    return -q if (a < 0) != (b < 0) else q


@njit(cache=True)
def umulh(a, b):
    """High 64 bits of the unsigned 128-bit product (A64 UMULH)."""
    a_lo = a & MASK32
    a_hi = lsr(a, 32)
    b_lo = b & MASK32
    b_hi = lsr(b, 32)
    ll = a_lo * b_lo
    lh = a_lo * b_hi
    hl = a_hi * b_lo
    hh = a_hi * b_hi
    mid = lsr(ll, 32) + (lh & MASK32) + (hl & MASK32)
    return hh + lsr(lh, 32) + lsr(hl, 32) + lsr(mid, 32)


@njit(cache=True)
def smulh(a, b):
    """High 64 bits of the signed 128-bit product (A64 SMULH)."""
    h = umulh(a, b)
    if a < 0:
        h -= b
    if b < 0:
        h -= a
    return h


@njit(cache=True, inline="always")
def clz(x, width):
    """CountLeadingZeroBits of a width-bit value."""
    if width == 32:
        x = x & MASK32
    n = 0
    bit = width - 1
    while bit >= 0 and ((x >> bit) & 1) == 0:
        n += 1
        bit -= 1
    return n


@njit(cache=True)
def highest_set_bit(x, width):
    """HighestSetBit(x): index of the most significant 1, or -1 when x is zero."""
    for i in range(width - 1, -1, -1):
        if (x >> i) & 1:
            return i
    return -1


@njit(cache=True)
def replicate(x, esize, width):
    """Replicate the esize-bit pattern x to fill width bits."""
    r = 0
    for i in range(0, width, esize):
        r |= (x & ones(esize)) << i
    return r


@njit(cache=True)
def decode_bit_masks(n, imms, immr, immediate, width):
    """DecodeBitMasks(immN, imms, immr, immediate, M) from the Arm ARM shared pseudocode.

    Returns (valid, wmask, tmask) with masks zero-extended to ``width`` (32 or 64) bits.
    ``valid`` is False where the pseudocode says UNDEFINED (reserved element size, or
    the all-ones pattern for a logical immediate).
    """
    length = highest_set_bit((n << 6) | ((~imms) & 0x3F), 7)
    if length < 1:
        return False, 0, 0
    levels = ones(length)
    if immediate and (imms & levels) == levels:
        return False, 0, 0
    s = imms & levels
    r = immr & levels
    diff = (s - r) & 0x3F  # 6-bit subtraction, as the pseudocode's UInt(d)
    esize = 1 << length
    d = diff & levels
    welem = ones(s + 1)
    telem = ones(d + 1)
    # ROR on an esize-bit element
    if r != 0:
        welem = ((welem >> r) | (welem << (esize - r))) & ones(esize)
    wmask = replicate(welem, esize, width)
    tmask = replicate(telem, esize, width)
    if esize > width:
        return False, 0, 0
    return True, wmask & ones(width), tmask & ones(width)
