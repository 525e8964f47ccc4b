"""Checks of the reference translation walker (tests/refwalk.py) against hand-computed answers,
and a property test that the page-table builder (tests/pagetables.py) and the walker agree.

Expected descriptor addresses, output addresses and fault levels below are worked out by hand
from the Arm ARM (D8.2/D8.3 address translation, descriptor formats; D8.4 permissions), written
as literals, not recomputed with the walker's helpers.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from pagetables import (Allocator, Memory, SCTLR_M, SCTLR_WXN, Tables, accesses, s1_scenarios,
                        s2_scenarios, tcr_el1, tcr_el2, ttbr, two_stage_scenarios, vtcr)
from refwalk import FETCH, READ, WRITE, Access, Stage2, walk_s1, walk_s2

LDTR = Access("read", unpriv=True)
STTR = Access("write", unpriv=True)

# ---------------------------------------------------------------- a hand-written 4K tree
# T0SZ=16 (48-bit VA), 4K granule -> start level 0, indices va[47:39], [38:30], [29:21], [20:12].
VA = 0x0000_0080_8060_4ABC          # L0 index 1, L1 index 2, L2 index 3, L3 index 4, offset 0xABC
L0, L1, L2, L3 = 0x10000, 0x20000, 0x30000, 0x40000
TCR4K = tcr_el1(t0sz=16, tg0=4096, t1sz=25, tg1=4096)


def tree4k(leaf3=0x1234_5C0B, leaf2=None, **over):
    """L0[1] -> L1[2] -> L2[3] -> L3[4] = page 0x12345000 (AF, nG, AttrIndx 2, AP=00)."""
    m = Memory()
    m.write64(0x10008, 0x20003)
    m.write64(0x20010, 0x30003)
    m.write64(0x30018, 0x40003 if leaf2 is None else leaf2)
    m.write64(0x40020, leaf3)
    for a, v in over.items():
        m.write64(int(a[1:], 16), v)
    return m


def s1(m, va=VA, *, el=1, access=READ, tcr=TCR4K, ttbr0=L0, ttbr1=0, sctlr=SCTLR_M, pan=0,
       regime="EL10", s2=None):
    return walk_s1(m, va=va, regime=regime, tcr=tcr, ttbr0=ttbr0, ttbr1=ttbr1, sctlr=sctlr,
                   el=el, access=access, pan=pan, s2=s2)


def assert_fault(r, kind, level, stage=1, s1ptw=False):
    assert r.fault is not None, f"expected {kind} fault, got pa={r.pa}"
    assert (r.fault.type, r.fault.level, r.fault.stage, r.fault.s1ptw) == \
        (kind, level, stage, s1ptw), r.fault


def test_4k_four_level_walk_exact_descriptor_addresses():
    r = s1(tree4k())
    assert r.ok
    assert r.pa == 0x1234_5ABC
    assert (r.level, r.block_size, r.attr_index, r.ng) == (3, 0x1000, 2, True)
    assert r.chain == [(0, 0x10008, 0x20003), (1, 0x20010, 0x30003), (2, 0x30018, 0x40003),
                       (3, 0x40020, 0x1234_5C0B)]


def test_asid_from_ttbr_selected_by_a1():
    m = tree4k()
    assert s1(m, ttbr0=L0 | 0xBEEF << 48).asid == 0xBEEF                 # AS=1: 16 bits
    tcr8 = TCR4K & ~(1 << 36)
    assert s1(m, tcr=tcr8, ttbr0=L0 | 0xBEEF << 48).asid == 0xEF          # AS=0: 8 bits
    tcr_a1 = TCR4K | 1 << 22
    assert s1(m, tcr=tcr_a1, ttbr0=L0, ttbr1=0x1234 << 48).asid == 0x1234


def test_2mib_block():
    r = s1(tree4k(leaf2=0x4020_0401))             # block at L2, AF=1, OA 0x40200000
    assert r.ok and r.pa == 0x4020_4ABC
    assert (r.level, r.block_size) == (2, 0x20_0000)
    assert len(r.chain) == 3


def test_1gib_block_and_level0_block_reserved():
    m = tree4k(**{"a20010": 0x8000_0401})          # L1[2] = 1 GiB block at 0x80000000
    r = s1(m)
    assert r.ok and r.pa == 0x8000_0000 + 0x0060_4ABC and r.block_size == 1 << 30
    m = tree4k(**{"a10008": 0x0000_0401})          # block at level 0: reserved with 4K
    assert_fault(s1(m), "translation", 0)


def test_64k_granule_three_level_walk():
    # T0SZ=16, 64K: start level 1, indices va[47:42], [41:29], [28:16].
    va = 0x0000_1400_E009_1234                    # L1 index 5, L2 index 7, L3 index 9
    m = Memory()
    m.write64(0x10_0028, 0x11_0003)
    m.write64(0x11_0038, 0x12_0003)
    m.write64(0x12_0048, 0x89AB_0403)
    tcr = tcr_el1(t0sz=16, tg0=65536)
    r = s1(m, va, tcr=tcr, ttbr0=0x10_0000)
    assert r.ok and r.pa == 0x89AB_1234 and r.block_size == 1 << 16
    assert [c[:2] for c in r.chain] == [(1, 0x10_0028), (2, 0x11_0038), (3, 0x12_0048)]
    m.write64(0x11_0038, 0x2000_0401)              # 512 MiB block at L2
    r = s1(m, va, tcr=tcr, ttbr0=0x10_0000)
    assert r.ok and r.pa == 0x2000_0000 + (va & 0x1FFF_FFFF) and r.block_size == 1 << 29
    m.write64(0x10_0028, 0x0000_0401)              # level 1 block: not without FEAT_LPA
    assert_fault(s1(m, va, tcr=tcr, ttbr0=0x10_0000), "translation", 1)


def test_16k_granule():
    # T0SZ=17 (47-bit VA), 16K: start level 1, indices va[46:36], [35:25], [24:14].
    va = 0x0000_0030_0A01_8123                    # L1 index 3, L2 index 5, L3 index 6
    m = Memory()
    m.write64(0x8_0018, 0xC_0003)
    m.write64(0xC_0028, 0x10_0003)
    m.write64(0x10_0030, 0x7654_C403)
    tcr = tcr_el1(t0sz=17, tg0=16384)
    r = s1(m, va, tcr=tcr, ttbr0=0x8_0000)
    assert r.ok and r.pa == 0x7654_C123 and r.block_size == 1 << 14
    assert [c[:2] for c in r.chain] == [(1, 0x8_0018), (2, 0xC_0028), (3, 0x10_0030)]
    m.write64(0xC_0028, 0x0200_0401)               # 32 MiB block at L2
    r = s1(m, va, tcr=tcr, ttbr0=0x8_0000)
    assert r.ok and r.pa == 0x0200_0000 + (va & 0x1FF_FFFF) and r.level == 2
    # T0SZ=16 with 16K starts at level 0 with a 2-entry table indexed by va[47].
    m2 = Memory()
    m2.write64(0x8_0008, 0xC_0003)                  # L0[1]
    m2.write64(0xC_0018, 0x10_0003)                 # L1 index va[46:36] = 3
    m2.write64(0x10_0028, 0x14_0003)
    m2.write64(0x14_0030, 0x7654_C403)
    r = s1(m2, (1 << 47) | va, tcr=tcr_el1(t0sz=16, tg0=16384), ttbr0=0x8_0000)
    assert r.ok and r.pa == 0x7654_C123 and [c[0] for c in r.chain] == [0, 1, 2, 3]


def test_ttbr1_high_va():
    # T1SZ=25 (39-bit upper range), 4K: start level 1; va[63:39] must be all ones.
    va = 0xFFFF_FFC0_4060_3000                    # L1 index 0x101, L2 index 3, L3 index 3
    m = Memory()
    m.write64(0x5_0000 + 0x101 * 8, 0x6_0003)
    m.write64(0x6_0018, 0x7_0003)
    m.write64(0x7_0018, 0x3333_3443)               # page, AP=01 (EL0 RW)
    r = s1(m, va + 0x10, ttbr0=L0, ttbr1=0x5_0000)
    assert r.ok and r.pa == 0x3333_3010
    assert r.chain[0][:2] == (1, 0x5_0808)
    # Not all ones above bit 38: outside both ranges.
    assert_fault(s1(m, 0xFFFF_FF00_4060_3000, ttbr1=0x5_0000), "translation", 0)
    # EPD1 disables the TTBR1 walk.
    assert_fault(s1(m, va, tcr=TCR4K | 1 << 23, ttbr1=0x5_0000), "translation", 0)


def test_tbi_and_epd0_and_va_range():
    m = tree4k()
    tagged = VA | 0x5A << 56
    assert_fault(s1(m, tagged), "translation", 0)
    r = s1(m, tagged, tcr=TCR4K | 1 << 37)         # TBI0
    assert r.ok and r.pa == 0x1234_5ABC
    assert_fault(s1(m, tcr=TCR4K | 1 << 7), "translation", 0)         # EPD0
    small = tcr_el1(t0sz=25, tg0=4096)             # 39-bit VA: VA has bit 39 set
    assert_fault(s1(m, tcr=small), "translation", 0)
    # EL2 regime has a single range; TBI is TCR_EL2 bit 20.
    assert_fault(s1(m, tagged, regime="EL2", el=2, tcr=tcr_el2(t0sz=16)), "translation", 0)
    assert s1(m, tagged, regime="EL2", el=2, tcr=tcr_el2(t0sz=16, tbi=1)).pa == 0x1234_5ABC


@pytest.mark.parametrize("level,addr", [(0, 0x10008), (1, 0x20010), (2, 0x30018), (3, 0x40020)])
def test_invalid_entry_translation_fault_at_each_level(level, addr):
    r = s1(tree4k(**{f"a{addr:x}": 0x0000_0000_2000_0402}))   # bit0 = 0
    assert_fault(r, "translation", level)
    assert len(r.chain) == level + 1


def test_reserved_level3_block_encoding():
    assert_fault(s1(tree4k(leaf3=0x1234_5401)), "translation", 3)


def test_access_flag_fault():
    assert_fault(s1(tree4k(leaf3=0x1234_5003)), "access_flag", 3)
    assert_fault(s1(tree4k(leaf2=0x4020_0001)), "access_flag", 2)


def page(ap, uxn=0, pxn=0):
    return 0x1234_5403 | ap << 6 | pxn << 53 | uxn << 54


def test_permissions_el0_el1():
    ro_all, rw_all, rw_el1, ro_el1 = page(0b11), page(0b01), page(0b00), page(0b10)
    assert_fault(s1(tree4k(ro_all), el=0, access=WRITE), "permission", 3)
    assert s1(tree4k(ro_all), el=0, access=READ).ok
    assert s1(tree4k(rw_all), el=0, access=WRITE).ok
    assert_fault(s1(tree4k(rw_el1), el=0, access=READ), "permission", 3)
    assert_fault(s1(tree4k(ro_el1), el=1, access=WRITE), "permission", 3)
    assert s1(tree4k(rw_el1), el=1, access=WRITE).ok
    # PXN fetch at EL1 / UXN fetch at EL0.
    assert_fault(s1(tree4k(page(0b11, pxn=1)), el=1, access=FETCH), "permission", 3)
    assert s1(tree4k(page(0b11, pxn=1)), el=0, access=FETCH).ok
    assert_fault(s1(tree4k(page(0b11, uxn=1)), el=0, access=FETCH), "permission", 3)
    assert s1(tree4k(page(0b11, uxn=1)), el=1, access=FETCH).ok
    # EL0-writable memory is never executable at EL1; execute-only at EL0 (AP=00, UXN=0).
    assert_fault(s1(tree4k(rw_all), el=1, access=FETCH), "permission", 3)
    assert s1(tree4k(rw_el1), el=0, access=FETCH).ok
    # WXN: writable -> execute-never.
    assert_fault(s1(tree4k(rw_el1), el=1, access=FETCH, sctlr=SCTLR_M | SCTLR_WXN),
                 "permission", 3)
    assert s1(tree4k(ro_el1), el=1, access=FETCH, sctlr=SCTLR_M | SCTLR_WXN).ok
    assert s1(tree4k(rw_all), el=0, access=FETCH).ok
    assert_fault(s1(tree4k(rw_all), el=0, access=FETCH, sctlr=SCTLR_M | SCTLR_WXN),
                 "permission", 3)


def test_unprivileged_ldtr_sttr():
    assert_fault(s1(tree4k(page(0b00)), el=1, access=LDTR), "permission", 3)
    assert_fault(s1(tree4k(page(0b11)), el=1, access=STTR), "permission", 3)
    assert s1(tree4k(page(0b01)), el=1, access=STTR).ok
    # In the EL2 regime LDTR/STTR are ordinary accesses.
    assert s1(tree4k(page(0b00)), el=2, regime="EL2", tcr=tcr_el2(t0sz=16), access=STTR).ok


def test_pan():
    m = tree4k(page(0b01))
    assert_fault(s1(m, el=1, pan=1), "permission", 3)
    assert_fault(s1(m, el=1, access=WRITE, pan=1), "permission", 3)
    assert s1(m, el=1, pan=0).ok
    assert s1(m, el=1, access=LDTR, pan=1).ok        # unprivileged accesses are not PAN-checked
    assert s1(m, el=0, pan=1).ok
    assert s1(tree4k(page(0b00)), el=1, pan=1).ok      # not EL0-accessible: PAN irrelevant
    assert s1(tree4k(page(0b11)), el=1, access=FETCH, pan=1).ok   # fetches are not PAN-checked


def test_hierarchical_table_attributes():
    m = tree4k(page(0b01), a20010=0x30003 | 1 << 62)             # APTable[1] at L1: read-only
    assert_fault(s1(m, el=1, access=WRITE), "permission", 3)
    assert s1(m, el=0, access=READ).ok
    m = tree4k(page(0b01), a20010=0x30003 | 1 << 61)             # APTable[0]: no EL0 access
    assert_fault(s1(m, el=0, access=READ), "permission", 3)
    assert s1(m, el=1, access=WRITE, pan=1).ok                    # and no longer PAN-protected
    m = tree4k(page(0b11), a10008=0x20003 | 1 << 60)             # UXNTable at L0
    assert_fault(s1(m, el=0, access=FETCH), "permission", 3)
    m = tree4k(page(0b11), a30018=0x40003 | 1 << 59)             # PXNTable at L2
    assert_fault(s1(m, el=1, access=FETCH), "permission", 3)


def test_el2_regime_permissions():
    t2 = tcr_el2(t0sz=16)
    kw = dict(regime="EL2", el=2, tcr=t2)
    assert_fault(s1(tree4k(page(0b10)), access=WRITE, **kw), "permission", 3)
    assert s1(tree4k(page(0b00)), access=WRITE, **kw).ok
    assert_fault(s1(tree4k(page(0b10, uxn=1)), access=FETCH, **kw), "permission", 3)
    # PXN (bit 53) is RES0 at EL2; AP[1]=1 does not make the page "user-writable".
    assert s1(tree4k(page(0b11, pxn=1)), access=FETCH, **kw).ok
    assert s1(tree4k(page(0b01)), access=FETCH, **kw).ok
    r = s1(tree4k(), **kw)
    assert r.ok and r.ng is False and r.asid is None


def test_address_size_faults():
    assert_fault(s1(tree4k(leaf3=0x100_0000_0403)), "address_size", 3)    # OA bit 40
    assert_fault(s1(tree4k(leaf2=0x100_0000_0003)), "address_size", 2)    # table addr bit 40
    assert_fault(s1(tree4k(), ttbr0=L0 | 1 << 40), "address_size", 0)     # TTBR bit 40
    ips32 = tcr_el1(t0sz=16, tg0=4096, ips=0b000)
    assert_fault(s1(tree4k(leaf3=0x1_0000_0403), tcr=ips32), "address_size", 3)
    assert s1(tree4k(leaf3=0x1_0000_0403)).ok                             # fine at 40 bits
    # IPS larger than PARange is capped at 40 bits.
    ips48 = tcr_el1(t0sz=16, tg0=4096, ips=0b101)
    assert_fault(s1(tree4k(leaf3=0x100_0000_0403), tcr=ips48), "address_size", 3)


def test_external_abort_on_walk():
    m = tree4k()
    m.holes.append((0x30000, 0x31000))
    r = s1(m)
    assert_fault(r, "external", 2)


def test_mmu_off_is_flat():
    r = s1(Memory(), 0x1234_5678, sctlr=0)
    assert r.ok and r.pa == 0x1234_5678
    assert_fault(s1(Memory(), 1 << 40, sctlr=0), "address_size", 0)


# ---------------------------------------------------------------- stage 2

def test_stage2_concatenated_4k():
    # T0SZ=24 (40-bit IPA), SL0=01 -> start level 1 with 2^(40-30)=1024 entries: two
    # concatenated 4K tables (8 KiB, 8 KiB aligned). Index 0x201 lands in the second one.
    ipa = 0x80_4020_3123                          # L1 index 0x201, L2 index 1, L3 index 3
    m = Memory()
    m.write64(0x20_1008, 0x21_0003)
    m.write64(0x21_0008, 0x22_0003)
    m.write64(0x22_0018, 0x5555_5000 | 0x4C3 | 0xF << 2)   # page, AF, S2AP=11, MemAttr 0xF
    vt = 24 | 0b01 << 6 | 0b010 << 16
    r = walk_s2(m, ipa=ipa, vtcr=vt, vttbr=0x20_0000 | 7 << 48, access=READ)
    assert r.ok and r.pa == 0x5555_5123 and r.vmid == 7 and r.attr_index == 0xF
    assert [c[:2] for c in r.chain] == [(1, 0x20_1008), (2, 0x21_0008), (3, 0x22_0018)]
    # BADDR bits below the (8 KiB) start-table alignment are RES0 and ignored (the ASL
    # takes VTTBR.BADDR<47:x>): 0x20_1000 walks the same concatenated table, so IPA
    # 0x4020_3123 (L1 index 1, in the first table) reads its L1 entry at 0x20_0008.
    m.write64(0x20_0008, 0x21_0003)
    r2 = walk_s2(m, ipa=0x4020_3123, vtcr=vt, vttbr=0x20_1000, access=READ)
    assert r2.ok and r2.pa == 0x5555_5123 and r2.chain[0][1] == 0x20_0008
    assert_fault(walk_s2(m, ipa=1 << 40, vtcr=vt, vttbr=0x20_0000, access=READ),
                 "translation", 0, stage=2)


def test_stage2_sixteen_concatenated_16k_tables():
    # 16K, T0SZ=24, SL0=01 -> level 2, 2^(40-25) = 32768 entries = 16 tables of 2048.
    ipa = 0xFF_FE00_0000 | 0x1_2345               # L2 index 0x7FFF (last entry), L3 index 4
    m = Memory()
    root = 0x100_0000                             # 256 KiB aligned
    m.write64(root + 0x7FFF * 8, 0x200_0003)
    m.write64(0x200_0020, 0x4444_0000 | 0x4C3)
    vt = 24 | 0b01 << 6 | 0b10 << 14 | 0b010 << 16
    r = walk_s2(m, ipa=ipa, vtcr=vt, vttbr=root, access=READ)
    assert r.ok and r.pa == 0x4444_2345
    assert r.chain[0][1] == root + 0x3FFF8


@pytest.mark.parametrize("vt", [
    24 | 0b00 << 6,                 # 4K level 2 start for a 40-bit IPA: 2^19 entries, too many
    24 | 0b10 << 6,                 # 4K level 0 start: needs PARange > 42 bits
    24 | 0b11 << 6,                 # reserved SL0
    16 | 0b10 << 6,                 # 48-bit IPA with a 40-bit PA (LARGEIPA, Constraint_FAULT)
    24 | 0b10 << 6 | 0b10 << 14,    # 16K level 1 start: needs PARange > 40 bits
])
def test_stage2_bad_configurations_fault_at_level0(vt):
    r = walk_s2(Memory(), ipa=0x1000, vtcr=vt, vttbr=0, access=READ)
    assert_fault(r, "translation", 0, stage=2)


def test_stage2_permissions_and_af():
    ipa = 0x80_4020_3123
    vt = 24 | 0b01 << 6 | 0b010 << 16

    def mem(leaf):
        m = Memory()
        m.write64(0x20_1008, 0x21_0003)
        m.write64(0x21_0008, 0x22_0003)
        m.write64(0x22_0018, leaf)
        return m

    def w2(leaf, access, **kw):
        return walk_s2(mem(leaf), ipa=ipa, vtcr=vt, vttbr=0x20_0000, access=access, **kw)

    ro = 0x5555_5000 | 0x443                       # S2AP=01 read-only
    r = w2(ro, WRITE)
    assert_fault(r, "permission", 3, stage=2)
    assert r.fault.ipa == ipa and r.fault.write
    assert w2(ro, READ).ok
    wo = 0x5555_5000 | 0x483                       # S2AP=10 write-only
    assert_fault(w2(wo, READ), "permission", 3, stage=2)
    assert_fault(w2(wo, READ, s1ptw=True), "permission", 3, stage=2, s1ptw=True)
    assert w2(wo, FETCH).ok                        # fetch checks XN only
    assert_fault(w2(ro | 1 << 54, FETCH), "permission", 3, stage=2)
    assert_fault(w2(0x5555_5000 | 0xC3, READ), "access_flag", 3, stage=2)
    assert_fault(w2(0x100_0000_04C3, READ), "address_size", 3, stage=2)


# ---------------------------------------------------------------- two stages

def two_stage_setup():
    """Stage 2 (4K, 40-bit IPA, start level 1) built with the builder: IPA 0x8000_0000 ->
    PA 0x1000_0000 (2 MiB block). Stage 1 (4K, T0SZ=25, start level 1) root at IPA
    0x8000_0000, whose L1 entry for the VA points at an L2 table at IPA 0x9000_0000."""
    m = Memory()
    t2 = Tables(m, Allocator(0x4000_0000), granule=4096, inputsize=40, stage=2, start_level=1)
    assert t2.map(0x8000_0000, 0x1000_0000, 0x20_0000, level=2, s2ap=0b01)
    va = 0x20_1000_1800                            # L1 index 0x80, L2 index 0x80, L3 1
    m.write64(0x1000_0000 + 0x80 * 8, 0x9000_0003)   # S1 L1[0x80] -> IPA 0x9000_0000
    s2 = Stage2(vtcr=vtcr(t0sz=24, start_level=1), vttbr=ttbr(t2.root, 5))
    return m, t2, va, s2


def test_two_stage_s1_table_unmapped_at_stage2():
    m, t2, va, s2 = two_stage_setup()
    tcr = tcr_el1(t0sz=25, tg0=4096)
    r = s1(m, va, tcr=tcr, ttbr0=0x8000_0000, s2=s2)
    # S1 L2 descriptor IPA = 0x9000_0000 + 0x80*8; stage 2 has L1[2] -> L2 table but its
    # L2 entry for IPA 0x9000_0000 (index 0x80) is empty -> stage 2 level 2, S1PTW.
    assert_fault(r, "translation", 2, stage=2, s1ptw=True)
    assert r.fault.ipa == 0x9000_0400 and r.fault.va == va and not r.fault.write
    # Stage 1 root itself not mapped: S2 L1 entry for IPA 0xC000_0000 (index 3) empty.
    r = s1(m, va, tcr=tcr, ttbr0=0xC000_0000, s2=s2)
    assert_fault(r, "translation", 1, stage=2, s1ptw=True)
    assert r.fault.ipa == 0xC000_0000 + 0x80 * 8


def test_two_stage_success_and_final_stage2_fault():
    m, t2, va, s2 = two_stage_setup()
    tcr = tcr_el1(t0sz=25, tg0=4096)
    assert t2.map(0x9000_0000, 0x2000_0000, 0x20_0000, level=2, s2ap=0b01)
    m.write64(0x2000_0000 + 0x80 * 8, 0xA000_0401)   # S1 L2: 2 MiB block -> IPA 0xA000_0000
    assert t2.map(0xA000_0000, 0x3000_0000, 0x20_0000, level=2, s2ap=0b01)  # read-only at S2
    r = s1(m, va, tcr=tcr, ttbr0=0x8000_0000, s2=s2)
    assert r.ok and r.ipa == 0xA000_1800 and r.pa == 0x3000_1800 and r.vmid == 5
    assert [c[:2] for c in r.chain] == [(1, 0x1000_0400), (2, 0x2000_0400)]
    r = s1(m, va, tcr=tcr, ttbr0=0x8000_0000, s2=s2, access=WRITE)
    assert_fault(r, "permission", 2, stage=2, s1ptw=False)
    assert r.fault.ipa == 0xA000_1800 and r.fault.write
    # A stage 1 permission fault is reported before stage 2 sees the output IPA.
    m.write64(0x2000_0000 + 0x80 * 8, 0xA000_0401 | 0b10 << 6)
    assert_fault(s1(m, va, tcr=tcr, ttbr0=0x8000_0000, s2=s2, access=WRITE), "permission", 2)


# ---------------------------------------------------------------- builder <-> walker

FAST = settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])


def _check(expect, r):
    if expect[0] == "ok":
        assert r.ok, (expect, r.fault)
        assert (r.pa, r.level) == (expect[1], expect[2])
    else:
        assert r.fault is not None, (expect, r.pa)
        assert (r.fault.type, r.fault.level) == expect


@FAST
@given(s1_scenarios("EL10"))
def test_builder_mappings_found_by_walker_stage1(sc):
    t = sc.tables
    vas = [leaf.va for leaf in t.leaves] + [leaf.va + leaf.size - 8 for leaf in t.leaves]
    for va in vas + sc.probes:
        r = walk_s1(sc.mem, va=va, el=1, access=READ, **sc.regs)
        _check(t.expect(va & ((1 << t.inputsize) - 1)), r)


@FAST
@given(s1_scenarios("EL2"))
def test_builder_mappings_found_by_walker_el2(sc):
    for va in [leaf.va for leaf in sc.tables.leaves] + sc.probes:
        _check(sc.tables.expect(va), walk_s1(sc.mem, va=va, el=2, access=READ, **sc.regs))


@FAST
@given(s2_scenarios())
def test_builder_mappings_found_by_walker_stage2(sc):
    t = sc.tables
    for ipa in [leaf.va for leaf in t.leaves] + sc.probes:
        exp = t.expect(ipa)
        if exp[0] == "ok" and not (exp[3] >> 6) & 1:      # S2AP[0] = 0: no read permission
            exp = ("permission", exp[2])
        _check(exp, walk_s2(sc.mem, ipa=ipa, access=READ, **sc.regs))


@FAST
@given(s1_scenarios("EL10"), accesses())
def test_random_accesses_only_add_permission_faults(sc, acc):
    """Changing the access kind/EL/PAN can only turn a successful walk into a permission fault
    at the same level; structural outcomes do not depend on the access."""
    el, access, pan = acc
    for va in [leaf.va for leaf in sc.tables.leaves][:4]:
        base = walk_s1(sc.mem, va=va, el=1, access=READ, **sc.regs)
        r = walk_s1(sc.mem, va=va, el=el, access=access, pan=pan, **sc.regs)
        if base.ok:
            assert r.ok or (r.fault.type, r.fault.level) == ("permission", base.level)
            if r.ok:
                assert r.pa == base.pa
        else:
            assert (r.fault.type, r.fault.level) == (base.fault.type, base.fault.level)


@FAST
@given(two_stage_scenarios())
def test_builder_two_stage_model_matches_walker(sc):
    s2 = Stage2(**sc.s2regs)
    for va in sc.probes:
        r = walk_s1(sc.mem, va=va, el=1, access=READ, s2=s2, **sc.regs)
        exp = sc.expect(va)
        if exp[0] == "ok":
            assert r.ok and r.pa == exp[1], (exp, r.fault)
        else:
            assert r.fault is not None, (exp, r.pa)
            assert (r.fault.type, r.fault.level, r.fault.stage, r.fault.s1ptw) == exp
