"""The software TLB and its maintenance, on a running machine.

A translation is cached by the first access; rewriting the descriptor in memory does not change
what later accesses see (the TLB still holds the old entry — real TLBs behave so, and the Arm ARM
requires a TLBI before relying on the change); after the TLBI whose scope covers the entry, the
new descriptor is used. For each Armv8.0 TLBI the scope is checked both ways: what it must
remove, and what it must leave (another VA, ASID, VMID or regime). Entries are tagged with ASID
and VMID, so switching TTBR0_EL1.ASID or VTTBR_EL2.VMID needs no flush at all.

The decode cache is physical: code rewritten by a store through any alias, or by the loader,
runs as rewritten with the MMU on too.
"""
from __future__ import annotations

import pytest

from armvirt.build import assemble
from armvirt.machine import Machine
from mmu_util import RamWords
from pagetables import (SCTLR_M, Allocator, Tables, s1_leaf, s2_leaf, tcr_el1, tcr_el2, ttbr,
                        vtcr)

CODE = 0x4000_0000          # scratch instructions, identity-mapped (EL1 and EL2)
TABLES = 0x4010_0000
PAGE_A = 0x4040_0000
PAGE_B = 0x4040_1000
PAGE_C = 0x4040_2000
VA = 0x8000_0000            # the address the tests translate
VA2 = 0x8000_1000
HCR_RW = 1 << 31
HCR_VM = 1
SCTLR_EL1 = 0x30D0_0800 | SCTLR_M
SCTLR_EL2 = 0x30C5_0830 | SCTLR_M


class Rig:
    """EL1&0 stage 1 (4K, 39-bit VA, ASID-tagged, nG pages at VA/VA2), optional identity-ish
    stage 2, and an EL2 stage 1; instructions run one at a time at a chosen EL."""

    def __init__(self, *, stage2: bool = False, ng: int = 1, smp: int = 1):
        m = self.m = Machine(ram_size=16 << 20, smp=smp)
        self.smp = smp
        self.alloc = Allocator(TABLES)
        for pa, v in ((PAGE_A, 0xAAAA), (PAGE_B, 0xBBBB), (PAGE_C, 0xCCCC)):
            m.write_phys(pa, v.to_bytes(8, "little"))
        self.ng = ng
        self.s1 = {}
        for asid in (1, 2):
            t = self.s1[asid] = Tables(RamWords(m), self.alloc, granule=4096, inputsize=39)
            t.map(CODE, CODE, 1 << 21, level=2)                     # code + data, EL1 RW
            t.map(VA, PAGE_A if asid == 1 else PAGE_C, 0x1000, level=3, ng=ng, ap=0b01)
            t.map(VA2, PAGE_A, 0x1000, level=3, ng=ng, ap=0b01)
        self._set("TCR_EL1", tcr_el1(t0sz=25, epd1=1))
        self.set_asid(1)
        self._set("SCTLR_EL1", SCTLR_EL1)
        e2 = self.el2 = Tables(RamWords(m), self.alloc, granule=4096, inputsize=39)
        e2.map(CODE, CODE, 1 << 21, level=2)
        e2.map(VA, PAGE_A, 0x1000, level=3)
        self._set("TCR_EL2", tcr_el2(t0sz=25))
        self._set("TTBR0_EL2", ttbr(e2.root))
        self._set("SCTLR_EL2", SCTLR_EL2)
        self._set("HCR_EL2", HCR_RW)
        if stage2:
            self.s2 = {}
            for vmid in (1, 2):
                t = self.s2[vmid] = Tables(RamWords(m), self.alloc, granule=4096, inputsize=39,
                                           stage=2, start_level=1)
                t.map(CODE, CODE, 1 << 21, level=2)
                # stage 1 maps VA -> IPA PAGE_A; VMID 2 places that IPA elsewhere
                t.map(PAGE_A, PAGE_A if vmid == 1 else PAGE_C, 0x1000, level=3)
                t.map(PAGE_C, PAGE_C, 0x1000, level=3)
            self._set("VTCR_EL2", vtcr(t0sz=25, start_level=1))
            self.set_vmid(1)
            self._set("HCR_EL2", HCR_RW | HCR_VM)
        m.boot_pe(1, CODE, el=1) if smp > 1 else None

    def _set(self, name: str, value: int) -> None:
        for pe in range(self.smp):
            self.m.set_reg(name, value, pe=pe)

    def set_asid(self, asid: int) -> None:
        self._set("TTBR0_EL1", ttbr(self.s1[asid].root, asid))

    def set_vmid(self, vmid: int) -> None:
        self._set("VTTBR_EL2", ttbr(self.s2[vmid].root, vmid))

    def run(self, src: str, el: int = 1, pe: int = 0, **regs) -> None:
        """Execute ``src`` (a few instructions) on PE ``pe`` at ``el``, from CODE + 0x100 * pe."""
        m = self.m
        base = CODE + 0x100 * pe
        prog = assemble(src, base)
        m.write_phys(base, prog.code)
        m.set_reg("el", el, pe=pe)
        m.set_reg("pc", base, pe=pe)
        for k, v in regs.items():
            m.set_reg(k, v, pe=pe)
        m.step(len(prog.code) // 4, pe=pe)
        assert m.reg("pc", pe=pe) == base + len(prog.code), "an exception was taken"

    def load(self, va: int = VA, el: int = 1, pe: int = 0) -> int:
        self.run("ldr x0, [x1]", el=el, pe=pe, x1=va)
        return self.m.reg("x0", pe=pe)

    def tlbi(self, op: str, xt: int | None = 0, el: int = 1, pe: int = 0) -> None:
        src = f"tlbi {op}, x2\ndsb sy\nisb" if xt is not None else f"tlbi {op}\ndsb sy\nisb"
        self.run(src, el=el, pe=pe, x2=xt or 0)

    def repoint(self, table: Tables, va: int, pa: int, level: int = 3, **attrs) -> None:
        """Rewrite the leaf for va in memory only (what a kernel does before its TLBI)."""
        addr = table.descriptor_address(va, level)
        mk = s1_leaf if table.stage == 1 else s2_leaf
        self.m.write_phys(addr, mk(pa, level, **attrs).to_bytes(8, "little"))


def va_op(va: int, asid: int = 0) -> int:
    """The Xt of a TLBI by VA: VA<55:12> in bits 43:0, ASID in bits 63:48."""
    return (va >> 12) & ((1 << 44) - 1) | asid << 48


STAGE1_SCOPES = [
    # op, Xt, removes the VA's entry for ASID 1?
    ("vae1", va_op(VA, 1), True), ("vae1is", va_op(VA, 1), True),
    ("vale1", va_op(VA, 1), True), ("vale1is", va_op(VA, 1), True),
    ("vae1", va_op(VA, 2), False),            # another ASID
    ("vae1", va_op(VA2, 1), False),           # another VA
    ("vaae1", va_op(VA), True), ("vaae1is", va_op(VA), True),
    ("vaale1", va_op(VA), True), ("vaale1is", va_op(VA), True),
    ("vaae1", va_op(VA2), False),
    ("aside1", va_op(0, 1), True), ("aside1is", va_op(0, 1), True),
    ("aside1", va_op(0, 2), False),
    ("vmalle1", None, True), ("vmalle1is", None, True),
]


@pytest.mark.parametrize("op, xt, removes", STAGE1_SCOPES,
                         ids=[f"{o}-{'hit' if r else 'miss'}-{i}"
                              for i, (o, _, r) in enumerate(STAGE1_SCOPES)])
def test_el1_tlbi_scope(op, xt, removes):
    r = Rig()
    assert r.load() == 0xAAAA
    r.repoint(r.s1[1], VA, PAGE_B, ng=1, ap=0b01)
    assert r.load() == 0xAAAA                     # stale: the TLB still holds the old entry
    r.tlbi(op, xt)
    assert r.load() == (0xBBBB if removes else 0xAAAA)


@pytest.mark.parametrize("op, xt, el, removes", [
    ("alle1", None, 2, True), ("alle1is", None, 2, True),
    ("vmalls12e1", None, 2, True), ("vmalls12e1is", None, 2, True),
    ("alle2", None, 2, False), ("vae2", va_op(VA), 2, False),
])
def test_el2_tlbi_of_el1_entries(op, xt, el, removes):
    r = Rig()
    assert r.load() == 0xAAAA
    r.repoint(r.s1[1], VA, PAGE_B, ng=1, ap=0b01)
    r.tlbi(op, xt, el=el)
    assert r.load() == (0xBBBB if removes else 0xAAAA)


@pytest.mark.parametrize("op, xt, removes", [
    ("alle2", None, True), ("alle2is", None, True), ("vae2", va_op(VA), True),
    ("vale2is", va_op(VA), True), ("vae2", va_op(VA2), False), ("alle1", None, False),
    ("vmalle1", None, False),
])
def test_el2_regime_tlbi_scope(op, xt, removes):
    r = Rig()
    assert r.load(el=2) == 0xAAAA
    r.repoint(r.el2, VA, PAGE_B)
    assert r.load(el=2) == 0xAAAA
    r.tlbi(op, xt, el=2)
    assert r.load(el=2) == (0xBBBB if removes else 0xAAAA)


@pytest.mark.parametrize("op, removes", [("ipas2e1", True), ("ipas2e1is", True),
                                         ("ipas2le1", True), ("ipas2le1is", True),
                                         ("vmalls12e1", True), ("alle2", False)])
def test_stage2_tlbi_scope(op, removes):
    r = Rig(stage2=True)
    assert r.load() == 0xAAAA
    r.repoint(r.s2[1], PAGE_A, PAGE_B)             # the IPA now lives at PAGE_B
    assert r.load() == 0xAAAA
    r.tlbi(op, None if op in ("vmalls12e1", "alle2") else PAGE_A >> 12, el=2)
    assert r.load() == (0xBBBB if removes else 0xAAAA)


def test_asids_isolate_without_flushes():
    """Same VA, two ASIDs with different tables: each sees its own page, no TLBI needed, and
    both translations stay cached side by side."""
    r = Rig()
    assert r.load() == 0xAAAA
    r.set_asid(2)
    assert r.load() == 0xCCCC
    r.set_asid(1)
    assert r.load() == 0xAAAA
    entries = [e for e in r.m.tlb_entries() if e["va"] == VA]
    assert sorted(e["asid"] for e in entries) == [1, 2]


def test_global_entries_match_every_asid():
    """nG = 0: the entry is global, so after an ASID switch the old (global) translation is
    still the one used — until a TLBI that covers global entries (VAAE1) removes it."""
    r = Rig(ng=0)
    assert r.load() == 0xAAAA
    r.set_asid(2)
    assert r.load() == 0xAAAA
    r.tlbi("aside1", va_op(0, 1))                  # ASIDE1 leaves global entries alone
    assert r.load() == 0xAAAA
    r.tlbi("vaae1", va_op(VA))
    assert r.load() == 0xCCCC


def test_vmids_isolate_without_flushes():
    r = Rig(stage2=True)
    assert r.load() == 0xAAAA
    r.set_vmid(2)
    assert r.load() == 0xCCCC
    r.set_vmid(1)
    assert r.load() == 0xAAAA
    assert {e["vmid"] for e in r.m.tlb_entries() if e["va"] == VA} == {1, 2}
    r.tlbi("vmalls12e1", None, el=2)               # only the current VMID's entries go
    assert {e["vmid"] for e in r.m.tlb_entries() if e["va"] == VA} == {2}


@pytest.mark.parametrize("op, removes_on_pe1", [("vmalle1is", True), ("vmalle1", False),
                                                  ("vae1is", True), ("vae1", False)])
def test_inner_shareable_tlbi_reaches_the_other_pes(op, removes_on_pe1):
    r = Rig(smp=2)
    assert r.load(pe=0) == 0xAAAA and r.load(pe=1) == 0xAAAA
    r.repoint(r.s1[1], VA, PAGE_B, ng=1, ap=0b01)
    r.tlbi(op, None if op.startswith("vmalle1") else va_op(VA, 1), pe=0)
    assert r.load(pe=0) == 0xBBBB
    assert r.load(pe=1) == (0xBBBB if removes_on_pe1 else 0xAAAA)


def test_block_entries_are_removed_by_any_address_inside_them():
    r = Rig()
    r.load(CODE + 0x1_0000)                        # through the 2 MiB block at CODE
    assert [e for e in r.m.tlb_entries() if e["va"] == CODE + 0x1_0000][0]["s1_size"] == 2 << 20
    r.tlbi("vae1", va_op(CODE + 0x1F_F000, 1))     # the last page of the block
    assert not [e for e in r.m.tlb_entries() if e["va"] == CODE + 0x1_0000]


def test_code_written_through_an_alias_runs_as_written():
    """The decode cache is keyed by physical address: a store through a second mapping of
    the code page, or a loader/DMA write, is seen by the next fetch."""
    r = Rig()
    m = r.m
    r.s1[1].map(0x9000_0000, CODE + 0x1000, 0x1000, level=3)   # alias of the code page
    prog = assemble("mov x0, #1\nb .", CODE + 0x1000)
    m.write_phys(CODE + 0x1000, prog.code)
    m.set_reg("el", 1)
    m.set_reg("pc", CODE + 0x1000)
    m.step(1)
    assert m.reg("x0") == 1
    new = int.from_bytes(assemble("mov x0, #2", 0).code, "little")
    r.run("str w3, [x4]", x3=new, x4=0x9000_0000)  # store via the alias VA
    m.set_reg("pc", CODE + 0x1000)
    m.step(1)
    assert m.reg("x0") == 2
    m.write_phys(CODE + 0x1000, assemble("mov x0, #3", 0).code)   # a loader write
    m.set_reg("pc", CODE + 0x1000)
    m.step(1)
    assert m.reg("x0") == 3


def test_sttr_under_pan_on_an_smp_machine():
    """STTR at EL1 with PSTATE.PAN = 1 to an EL0-writable page is allowed (it is checked with
    EL0's permissions, which PAN does not restrict). On an SMP machine the store is then
    snooped for the other PEs' exclusive monitors; that look-up used to be a privileged write,
    which PAN denies, so the completed store took a Permission fault and Linux's clear_user()
    looped on it forever."""
    rig = Rig(smp=2)
    rig.run("msr pan, #1\nsttr x3, [x1]\nmsr pan, #0", x1=VA, x3=0x5EED)
    assert rig.m.read_u64(PAGE_A) == 0x5EED
