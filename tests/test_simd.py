"""Differential tests of the Advanced SIMD integer instructions (armvirt/isa/simd.decode,
armvirt/exec/simd.py) against unicorn.

For every pattern of simd.decode (an encoding class, or part of one: every arrangement, every
opcode, vector and scalar), hypothesis draws random values for the pattern's free bits (kept
when our decoder says the word is that pattern, i.e. allocated) and random contents for all 32
vector registers and the general registers, with edge values weighted in lane by lane (0, 1,
all ones, the signed limits and their neighbours, the saturation limits of every element
size).  Both emulators run the word; the X and V registers, NZCV, FPSR (QC) and memory must be
identical.  A short run per pattern by default; the ``slow`` sweep draws many more.

Per-family unit tests below pin corners with values worked out from the Arm ARM pseudocode
(saturation to the 64-bit limits, rounding shifts by the full element width, URECPE/URSQRTE),
so that a shared mistake of unicorn and armvirt would still show.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import oracle
from armvirt.isa import _decoder as D
from armvirt.isa import gen_decoder as G

TABLE = G.load_table()
PATTERNS = [p for p in TABLE.patterns if p.file == "simd.decode"]
U64 = (1 << 64) - 1

# No shrinking: an example has ~65 draws (every register), and the failure message already
# names the word and the differing registers.
NO_SHRINK = [Phase.explicit, Phase.reuse, Phase.generate]
FEW = settings(max_examples=40, deadline=None, phases=NO_SHRINK,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
MANY = settings(max_examples=120, deadline=None, phases=NO_SHRINK,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _edges(bits: int) -> list[int]:
    m = (1 << bits) - 1
    h = 1 << (bits - 1)
    return [0, 1, 2, m, m - 1, h, h - 1, h + 1, h >> 1, (h >> 1) - 1]


@st.composite
def q128(draw) -> int:
    """A 128-bit register value: lanes of one random element size, each an edge value of that
    size or random; sometimes a fully random value."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.integers(0, (1 << 128) - 1))
    bits = draw(st.sampled_from([8, 16, 32, 64]))
    lane = st.one_of(st.sampled_from(_edges(bits)), st.integers(0, (1 << bits) - 1))
    v = 0
    for i in range(128 // bits):
        v |= draw(lane) << (i * bits)
    return v


xval = st.one_of(st.sampled_from([0, 1, U64, 1 << 63, (1 << 63) - 1, 0xFFFF_FFFF, 0x80]),
                 st.integers(0, U64))


def _word(p, free: int) -> int:
    return p.value | (free & ~p.mask & 0xFFFF_FFFF)


def _check(p, data):
    # Bytes, not an integer: hypothesis favours small integers, which would leave Q/U/size
    # (the high bits) mostly zero.
    free = int.from_bytes(data.draw(st.binary(min_size=4, max_size=4), label="free bits"),
                          "little")
    w = _word(p, free)
    if D.decode(w) != p.op:
        # Unallocated combination (the predicate said no): draw again from allocated ones.
        from hypothesis import assume
        assume(False)
    v = [data.draw(q128(), label=f"q{i}") for i in range(32)]
    x = [data.draw(xval, label=f"x{i}") for i in range(31)]
    fpsr = data.draw(st.sampled_from([0, 0, 0, 1 << 27]), label="fpsr")
    oracle.compare([w], x, v=v, fpcr=0, fpsr=fpsr)


@pytest.mark.parametrize("name", [p.name for p in PATTERNS])
@FEW
@given(data=st.data())
def test_simd_against_unicorn(name, data):
    _check(TABLE.by_name[name], data)


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in PATTERNS])
@MANY
@given(data=st.data())
def test_simd_against_unicorn_sweep(name, data):
    _check(TABLE.by_name[name], data)


# ---------------------------------------------------------------------------------------------
# Corners from the Arm ARM pseudocode (armvirt alone: the expected values are computed here)
# ---------------------------------------------------------------------------------------------
def _run(words, v, x=(), fpsr=0):
    ours = oracle.Ours() if oracle._ours is None else oracle._ours
    oracle._ours = ours
    x = list(x) + [0] * (31 - len(x))
    return ours.run(words, x, oracle.DATA + 0x800, 0, bytes(oracle.DATA_SIZE), v, 0, fpsr)


def _q(lo: int, hi: int = 0) -> int:
    return (hi << 64) | lo


def test_sqadd_64bit_saturates_and_sets_qc():
    # SQADD v0.2d, v1.2d, v2.2d: INT64_MAX + 1 -> INT64_MAX, INT64_MIN + -1 -> INT64_MIN; QC.
    v = [0] * 32
    v[1] = _q((1 << 63) - 1, 1 << 63)
    v[2] = _q(1, U64)
    s = _run([0x4EE20C20], v)
    assert s.v[0] == _q((1 << 63) - 1, 1 << 63)
    assert s.fpsr == 1 << 27


def test_uqsub_64bit_floors_at_zero():
    # UQSUB d0, d1, d2: 1 - 2 -> 0 and QC; the upper half of V0 is cleared (scalar write).
    v = [0] * 32
    v[0] = _q(5, 7)
    v[1], v[2] = 1, 2
    s = _run([0x7EE22C20], v)
    assert s.v[0] == 0 and s.fpsr == 1 << 27


def test_urshr_64bit_by_64_rounds_from_bit_63():
    # URSHR d0, d1, #64: (x + 2^63) >> 64 = bit 63 of x (the 65-bit intermediate of the ASL).
    v = [0] * 32
    v[1] = 1 << 63
    s = _run([0x7F402420], v)
    assert s.v[0] == 1
    v[1] = (1 << 63) - 1
    assert _run([0x7F402420], v).v[0] == 0


def test_srshl_by_minus_64_rounds_to_zero_or_one_step():
    # SRSHL d0, d1, d2 with shift -64: (x + 2^63) >> 64 on the signed value is 0 for every x.
    v = [0] * 32
    v[2] = 0xC0                                  # -64 in the low byte
    for x in (1 << 63, (1 << 63) - 1, U64, 1):
        v[1] = x
        assert _run([0x5EE25420], v).v[0] == 0


def test_sqdmulh_min_times_min_saturates():
    # SQDMULH v0.4s, v1.4s, v2.4s: (-2^31 * -2^31 * 2) >> 32 = 2^31 -> 0x7FFFFFFF, QC.
    v = [0] * 32
    v[1] = v[2] = _q(0x8000_0000_8000_0000, 0x8000_0000_8000_0000)
    s = _run([0x4EA2B420], v)
    assert s.v[0] == _q(0x7FFF_FFFF_7FFF_FFFF, 0x7FFF_FFFF_7FFF_FFFF) and s.fpsr == 1 << 27


def test_urecpe_ursqrte_values_from_the_estimate_tables():
    # URECPE v0.2s, v1.2s.  Input 0x80000000: RecipEstimate(256) = ((2^19 / 513) + 1) / 2 =
    # (1021 + 1) / 2 = 511 -> 0x1FF << 23 = 0xFF800000; input < 2^31 gives all ones.
    v = [0] * 32
    v[1] = _q(0x7FFF_FFFF_8000_0000)
    assert _run([0x0EA1C820], v).v[0] == _q(0xFFFF_FFFF_FF80_0000)
    # URSQRTE v0.2s, v1.2s.  Input 0x40000000: a = 128 -> 257; smallest b >= 512 with
    # 257 (b+1)^2 >= 2^28 is b = 1022, r = (1022 + 1) / 2 = 511 -> 0xFF800000; an input
    # below 2^30 gives all ones.
    v[1] = _q(0x3FFF_FFFF_4000_0000)
    assert _run([0x2EA1C820], v).v[0] == _q(0xFFFF_FFFF_FF80_0000)


def test_no_crypto_or_later_simd_advertised_or_decoded():
    """ID_AA64ISAR0_EL1 advertises no AES/PMULL, SHA1, SHA2, SHA3, SM3, SM4, RDM or DotProd
    (fields 7:4, 11:8, 15:12, 35:32, 39:36, 43:40, 31:28, 47:44), and their encodings are
    UNALLOCATED: PMULL v0.1q, v1.1d, v2.1d; AESE v0.16b, v1.16b; SQRDMLAH v0.4s, v1.4s, v2.4s."""
    from armvirt.machine import Machine
    isar0 = Machine(ram_size=1 << 20).reg("ID_AA64ISAR0_EL1")
    for lsb in (4, 8, 12, 28, 32, 36, 40, 44):
        assert (isar0 >> lsb) & 0xF == 0, lsb
    for w in (0x0EE2E020, 0x4E284820, 0x6E828420):
        assert D.decode(w) == D.UNALLOCATED, hex(w)
