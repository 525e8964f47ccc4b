"""The jitted translation system (armvirt.cpu.mmu) against the plain-Python reference walker.

tests/refwalk.py is written from the Arm ARM pseudocode and shares no code with armvirt;
tests/pagetables.py generates page-table trees (both stages, every granule and start level,
blocks and pages, random permissions and Access flags, invalid and reserved entries) with
hypothesis. Both walkers see the same memory: the tables are copied into the machine's RAM,
and the reference's memory answers nothing outside RAM, as the board does.

``Machine.translate`` (the inspection API) runs the same jitted ``full_translate`` as loads,
stores and fetches, without the TLB; the TLB and the exception path are tested by running code
(test_mmu_guest.py) and here by comparing translate() with what accesses do.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refwalk as R
from armvirt import memmap
from armvirt.machine import Machine, MachineError
from pagetables import (SCTLR_M, SCTLR_WXN, Allocator, Memory, Tables, accesses, s1_leaf,
                        s1_scenarios, s2_scenarios, tcr_el1, tcr_el2, ttbr,
                        two_stage_scenarios, vtcr)

RAM = 32 << 20
RAM_END = memmap.RAM_BASE + RAM
HCR_VM = 1
HCR_RW = 1 << 31
SCTLR_EL1_RES1 = 0x30D0_0800
SCTLR_EL2_RES1 = 0x30C5_0830


def board_memory(mem: Memory) -> Memory:
    """The reference's view of the board: RAM answers, nothing else does."""
    mem.limit = RAM_END
    mem.holes = [(0, memmap.RAM_BASE)]
    return mem


def machine_with(mem: Memory) -> Machine:
    m = Machine(ram_size=RAM)
    for pa, v in mem.words.items():
        if memmap.RAM_BASE <= pa < RAM_END:
            m.write_phys(pa, v.to_bytes(8, "little"))
    return m


def set_s1(m: Machine, regs: dict) -> None:
    if regs["regime"] == "EL10":
        m.set_reg("TCR_EL1", regs["tcr"])
        m.set_reg("TTBR0_EL1", regs["ttbr0"])
        m.set_reg("TTBR1_EL1", regs["ttbr1"])
        m.set_reg("SCTLR_EL1", SCTLR_EL1_RES1 | regs["sctlr"])
    else:
        m.set_reg("TCR_EL2", regs["tcr"])
        m.set_reg("TTBR0_EL2", regs["ttbr0"])
        m.set_reg("SCTLR_EL2", SCTLR_EL2_RES1 | regs["sctlr"])


def set_s2(m: Machine, s2regs: dict) -> None:
    m.set_reg("VTCR_EL2", s2regs["vtcr"])
    m.set_reg("VTTBR_EL2", s2regs["vttbr"])
    m.set_reg("HCR_EL2", HCR_RW | HCR_VM)


def assert_same(ref: R.Result, walk, *, stage1_chain: bool = True) -> None:
    """Same outcome: the PA, or the fault's type, level, stage, S1PTW and faulting IPA."""
    if ref.fault is None:
        assert walk.fault is None, f"reference: PA {ref.pa:#x}; armvirt: {walk.fault}\n" \
                                   f"{walk.format()}"
        assert walk.pa == ref.pa, walk.format()
        if ref.attr_index is not None and ref.s2 is None and walk.stage1:
            assert walk.attributes["AttrIndx"] == ref.attr_index
    else:
        f = ref.fault
        assert walk.fault is not None, f"reference: {f}; armvirt: PA {walk.pa:#x}\n" \
                                       f"{walk.format()}"
        got = (walk.fault.type, walk.fault.level, walk.fault.stage, walk.fault.s1ptw)
        assert got == (f.type, f.level, f.stage, f.s1ptw), f"reference: {f}\n{walk.format()}"
        if f.stage == 2:
            assert walk.fault.ipa == f.ipa
    if stage1_chain:
        ours = [(s.level, s.desc_pa, s.desc) for s in walk.steps if s.stage == 1]
        assert ours == [(lv, pa, d) for lv, pa, d in ref.chain]


def access_name(a: R.Access) -> str:
    return {"read": "read", "write": "write", "exec": "exec"}[a.kind]


# ---------------------------------------------------------------------------------------------
# Stage 1, EL1&0 and EL2 regimes
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60)
@given(s1_scenarios("EL10"), st.lists(accesses(), min_size=1, max_size=4), st.booleans())
def test_stage1_el10_matches_reference(sc, accs, wxn):
    mem = board_memory(sc.mem)
    regs = dict(sc.regs, sctlr=SCTLR_M | (SCTLR_WXN if wxn else 0))
    m = machine_with(mem)
    set_s1(m, regs)
    for va in sc.probes:
        for el, acc, pan in accs:
            ref = R.walk_s1(mem, va=va, el=el, access=acc, pan=pan, **regs)
            walk = m.translate(va, access=access_name(acc), el=el, unpriv=acc.unpriv, pan=pan)
            assert_same(ref, walk)


@settings(max_examples=40)
@given(s1_scenarios("EL10"), st.integers(0, 1), st.integers(0, 1), st.integers(0, 255),
       accesses())
def test_top_byte_ignore_matches_reference(sc, tbi0, tbi1, tag, acc):
    """TCR_EL1.TBI0/TBI1 (AArch64.AddrTop): with TBI the tag byte is ignored, without it a
    tagged address is outside the VA range (level 0 translation fault)."""
    mem = board_memory(sc.mem)
    regs = dict(sc.regs, sctlr=SCTLR_M, tcr=sc.regs["tcr"] | tbi0 << 37 | tbi1 << 38)
    m = machine_with(mem)
    set_s1(m, regs)
    el, a, pan = acc
    for va in sc.probes:
        tagged = (va & ~(0xFF << 56)) | tag << 56
        ref = R.walk_s1(mem, va=tagged, el=el, access=a, pan=pan, **regs)
        assert_same(ref, m.translate(tagged, access=access_name(a), el=el, unpriv=a.unpriv,
                                     pan=pan))


@settings(max_examples=40)
@given(s1_scenarios("EL2"), st.sampled_from(["read", "write", "exec"]), st.booleans())
def test_stage1_el2_matches_reference(sc, kind, wxn):
    mem = board_memory(sc.mem)
    regs = dict(sc.regs, sctlr=SCTLR_M | (SCTLR_WXN if wxn else 0))
    m = machine_with(mem)
    set_s1(m, regs)
    for va in sc.probes:
        ref = R.walk_s1(mem, va=va, el=2, access=R.Access(kind), **regs)
        assert_same(ref, m.translate(va, access=kind, el=2))


# ---------------------------------------------------------------------------------------------
# Stage 2 alone (stage 1 off), and both stages
# ---------------------------------------------------------------------------------------------
@settings(max_examples=60)
@given(s2_scenarios(), st.sampled_from(["read", "write", "exec"]))
def test_stage2_matches_reference(sc, kind):
    mem = board_memory(sc.mem)
    m = machine_with(mem)
    set_s2(m, sc.regs)
    s2 = R.Stage2(**sc.regs)
    for ipa in sc.probes:
        ref = R.walk_s1(mem, va=ipa, regime="EL10", tcr=0, ttbr0=0, sctlr=0, el=1,
                        access=R.Access(kind), s2=s2)
        assert_same(ref, m.translate(ipa, access=kind, el=1), stage1_chain=False)
        # and the same walk straight from the reference's stage 2
        direct = R.walk_s2(mem, ipa=ipa, access=R.Access(kind), **sc.regs)
        if direct.fault is None and ipa < 1 << R.PAMAX:
            assert m.translate(ipa, access=kind, el=1).pa == direct.pa


@settings(max_examples=60)
@given(two_stage_scenarios(), st.lists(accesses(), min_size=1, max_size=3))
def test_two_stages_match_reference(sc, accs):
    mem = board_memory(sc.mem)
    m = machine_with(mem)
    set_s1(m, sc.regs)
    set_s2(m, sc.s2regs)
    s2 = R.Stage2(**sc.s2regs)
    for va in sc.probes:
        for el, acc, pan in accs:
            ref = R.walk_s1(mem, va=va, el=el, access=acc, pan=pan, s2=s2, **sc.regs)
            walk = m.translate(va, access=access_name(acc), el=el, unpriv=acc.unpriv, pan=pan)
            assert_same(ref, walk, stage1_chain=False)
            if ref.fault is None:
                assert walk.ipa == ref.ipa
        # The model of the generator agrees too (privileged read, no PAN).
        exp = sc.expect(va)
        walk = m.translate(va, access="read", el=1, pan=0)
        if exp[0] == "ok":
            if walk.fault is None:
                assert walk.pa == exp[1]
        elif exp[0] != "permission" or exp[2] == 2:
            assert walk.fault is not None


def test_two_dimensional_walk():
    """4-level stage 1 (4K, 48-bit VA) under 3-level stage 2 (4K, 40-bit IPA from level 1 with
    two concatenated tables: the deepest stage 2 a 40-bit PA allows). Every stage 1 descriptor
    address is translated by stage 2 first, then the output IPA: (3 + 1) * 4 + 3 = 19 reads.
    (With 4-level stage 2, which needs a 44-bit PA, it would be the papers' 24.)"""
    mem = Memory()
    s2 = Tables(mem, Allocator(0x4000_0000), granule=4096, inputsize=40, stage=2, start_level=1)
    s2.map(0x4010_0000, 0x4010_0000, 0x8000, level=3)         # the stage 1 tables
    s2.map(0x4020_0000, 0x4030_0000, 0x1000, level=3)         # the data page, moved
    s1 = Tables(mem, Allocator(0x4010_0000), granule=4096, inputsize=48, stage=1)
    s1.map(0x1234_5678_9000, 0x4020_0000, 0x1000, level=3)
    m = machine_with(board_memory(mem))
    set_s1(m, dict(regime="EL10", tcr=tcr_el1(t0sz=16), ttbr0=ttbr(s1.root), ttbr1=0,
                   sctlr=SCTLR_M))
    set_s2(m, dict(vtcr=vtcr(t0sz=24, start_level=1), vttbr=ttbr(s2.root)))
    w = m.translate(0x1234_5678_9ABC, el=1)
    assert w.ok and w.ipa == 0x4020_0ABC and w.pa == 0x4030_0ABC
    s2walk = [(2, 1, True), (2, 2, True), (2, 3, True)]
    assert [(s.stage, s.level, s.s1ptw) for s in w.steps] == \
        [x for lv in range(4) for x in s2walk + [(1, lv, False)]] + \
        [(2, 1, False), (2, 2, False), (2, 3, False)]
    assert w.descriptor_reads == 19
    text = w.format()
    assert "S2 L1 (for S1 table)" in text and "=> PA 0x40300abc via IPA 0x40200abc" in text


# ---------------------------------------------------------------------------------------------
# The inspection API itself
# ---------------------------------------------------------------------------------------------
def test_at_instructions_write_par_el1():
    """AT S1E1R ignores PAN, S1E1RP (FEAT_PAN2) applies it; S12E1R gives the PA through both
    stages, S1E1R the IPA; faults go to PAR_EL1 with FST, and S/PTW for stage 2."""
    from test_tlb import PAGE_A, PAGE_C, VA, Rig
    r = Rig(stage2=True)
    m = r.m
    m.set_reg("MAIR_EL1", 0xFF)                           # AttrIndx 0: Normal Write-Back
    par_ok = 1 << 11 | 1 << 9 | 3 << 7 | 0xFF << 56     # NS, Inner Shareable, Normal WB
    # sys #0, c7, c9, #0 is AT S1E1RP (FEAT_PAN2, Armv8.2: not a name for the v8.1 assembler)
    r.run("msr pan, #1\nat s1e1r, x1\nmrs x2, par_el1\nsys #0, c7, c9, #0, x1\n"
          "mrs x3, par_el1\n"
          "msr pan, #0", el=1, x1=VA + 0x10)
    assert m.reg("x2") == par_ok | PAGE_A                 # EL0-accessible page, PAN ignored
    assert m.reg("x3") == 1 << 11 | 0x0F << 1 | 1         # permission fault, level 3
    r.set_vmid(2)                                         # VMID 2: IPA PAGE_A lives at PAGE_C
    r.run("at s12e1r, x1\nmrs x2, par_el1\nat s1e1r, x1\nmrs x3, par_el1\n"
          "at s12e1w, x4\nmrs x5, par_el1", el=2, x1=VA, x4=0x8000_5000)
    assert m.reg("x2") == par_ok | PAGE_C
    assert m.reg("x3") == par_ok | PAGE_A
    assert m.reg("x5") == 1 << 11 | 0x07 << 1 | 1         # stage 1 translation fault, level 3
    r.repoint(r.s2[2], PAGE_A, PAGE_A, s2ap=0b01)         # stage 2 read-only
    r.tlbi("vmalls12e1", None, el=2)
    r.run("at s12e1w, x1\nmrs x2, par_el1", el=2, x1=VA)
    assert m.reg("x2") == 1 << 11 | 1 << 9 | 0x0F << 1 | 1   # S = 1: stage 2 permission, L3


def test_translate_reports_fields_and_rejects_bad_arguments():
    mem = Memory()
    s1 = Tables(mem, Allocator(0x4000_0000), granule=4096, inputsize=39, stage=1)
    s1.map(0x8000_0000, 0x4040_0000, 1 << 21, level=2, ap=0b01, uxn=1, attr=3, ng=1)
    m = machine_with(board_memory(mem))
    set_s1(m, dict(regime="EL10", tcr=tcr_el1(t0sz=25), ttbr0=ttbr(s1.root, asid=7),
                   ttbr1=0, sctlr=SCTLR_M))
    m.set_reg("MAIR_EL1", 0x04 << 24)           # AttrIndx 3 = Device-nGnRE
    w = m.translate(0x8001_2345, regime="el0", access="write")
    assert w.ok and w.pa == 0x4041_2345
    a = w.attributes
    assert a["AttrIndx"] == 3 and a["device"] and a["mair_attr"] == 0x04 and a["nG"]
    assert a["s1_level"] == 2 and a["s1_size"] == 2 << 20
    assert a["user"] == "rw-" and a["priv"] == "rw-"
    assert [s.kind for s in w.steps] == ["table", "block"]
    assert w.steps[1].fields["AP"] == 0b01 and w.steps[1].fields["UXN"] == 1
    f = m.translate(0x8001_2345, regime="el0", access="exec").fault
    assert (f.type, f.level, f.stage, f.fsc) == ("permission", 2, 1, 0x0E)
    f = m.translate(1 << 39, el=1).fault              # outside the 39-bit VA range
    assert (f.type, f.level, f.fsc) == ("translation", 0, 0x04)
    with pytest.raises(MachineError):
        m.translate(0, access="jump")
    with pytest.raises(MachineError):
        m.translate(0, regime="el3")


def test_tables_outside_ram_are_external_aborts_on_the_walk():
    """A table pointer into nothing: the walk's read is a synchronous external abort at that
    level (FSC 0b0101LL), never an emulator error; a loop of table pointers just ends at
    level 3 like any other walk."""
    m = Machine(ram_size=1 << 20)
    root = 0x4000_0000
    m.write_phys(root, (0x1_0000_0000 | 3).to_bytes(8, "little"))    # level 0 -> nowhere
    m.write_phys(root + 8, (root | 3).to_bytes(8, "little"))         # level 0 -> itself
    set_s1(m, dict(regime="EL10", tcr=tcr_el1(t0sz=16), ttbr0=ttbr(root), ttbr1=0,
                   sctlr=SCTLR_M))
    f = m.translate(0, el=1).fault
    assert (f.type, f.level, f.fsc) == ("external", 1, 0x15)
    va = (1 << 39) | (1 << 30) | (1 << 21) | (1 << 12)   # index 1 at every level: the loop
    w = m.translate(va, el=1)
    # At level 3 the table descriptor reads as a page descriptor (of the table itself) whose
    # AF is 0: an Access flag fault, as the reference walker says.
    assert (w.fault.type, w.fault.level) == ("access_flag", 3)
    assert [s.desc_pa for s in w.steps] == [root + 8] * 4
    mem = board_memory(Memory())
    mem.write64(root, 0x1_0000_0000 | 3)
    mem.write64(root + 8, root | 3)
    ref = R.walk_s1(mem, va=va, regime="EL10", tcr=tcr_el1(t0sz=16), ttbr0=ttbr(root),
                    sctlr=SCTLR_M, el=1, access=R.READ)
    assert_same(ref, w)
