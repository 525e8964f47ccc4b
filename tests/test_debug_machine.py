"""The debugger on the machine's insides: memory by VA through the current regime, ``pt`` (the
two-stage walk), ``info tlb``, breakpoints by VA and VMID, ``info gic``/``lr``/``timer``."""
from __future__ import annotations

import pytest

from armvirt.debug.repl import Debugger
from test_tlb import PAGE_A, VA, Rig


@pytest.fixture
def rig():
    return Rig(stage2=True)


def test_memory_by_virtual_address(rig):
    d = Debugger(rig.m)
    rig.m.set_reg("el", 1)
    assert "0x000000000000aaaa" in d.command("x/1xg 0x80000000")
    d.command("set *(unsigned long *)0x80000000 = 0x1234")
    assert rig.m.read_u64(PAGE_A) == 0x1234             # written through both stages
    out = d.command("x/1xg 0x80005000")            # errors come back as the command's output
    assert out.startswith("Cannot access memory at address 0x80005000")
    assert "translation fault, level 3, stage 1 (FSC 0x07)" in out


def test_pt_shows_every_descriptor_of_both_stages(rig):
    d = Debugger(rig.m)
    rig.m.set_reg("el", 1)
    out = d.command("pt 0x80000008")
    lines = out.splitlines()
    assert "stage 1 + stage 2" in lines[0]
    # 39-bit stage 1 (L1..L3), each table address through a 39-bit stage 2 from level 1
    # (L1..L3; the code block is a 2 MiB block at L2), then the output IPA.
    assert sum("(for S1 table)" in x for x in lines) >= 3
    assert [x.split()[0:2] for x in lines if x.strip().startswith("S1")] == \
        [["S1", "L1"], ["S1", "L2"], ["S1", "L3"]]
    assert f"=> PA 0x{PAGE_A + 8:x} via IPA 0x{PAGE_A + 8:x}" in out
    assert "AP=1" in out and "S2AP=3" in out
    out = d.command("pt 0x80000008 s1")
    assert "stage 1" in out.splitlines()[0] and "stage 2" not in out.splitlines()[0]
    out = d.command("pt 0x90000000")
    assert "=> translation fault, level 2, stage 1" in out
    # EL0-writable memory is never executable at EL1 (D8.4), but is at EL0 (UXN = 0)
    assert f"=> PA 0x{PAGE_A + 8:x}" in d.command("pt 0x80000008 el0 exec")
    assert "=> permission fault, level 3, stage 1" in d.command("pt 0x80000008 el1 exec")


def test_info_tlb_lists_the_cached_translations(rig):
    assert rig.load() == 0xAAAA
    d = Debugger(rig.m)
    out = d.command("info tlb")
    assert out.splitlines()[0].startswith("PE0 TLB: ")
    line = [x for x in out.splitlines() if f"VA 0x{VA:016x}" in x]
    assert line and f"PA 0x{PAGE_A:x}" in line[0] and "VMID 1" in line[0] and "ASID 1" in line[0]


def test_breakpoints_by_va_follow_the_mapping_and_the_vmid(rig):
    """A breakpoint is on a VA: the same VA runs different code in two VMs (VMID 1 maps IPA
    PAGE_A to PAGE_A, VMID 2 to PAGE_C); scoped to VMID 2 it stops only there."""
    from armvirt.build import assemble
    from test_tlb import PAGE_C
    m = rig.m
    rig.s1[1].map(0x9000_0000, PAGE_A, 0x1000, level=3)       # VA 0x9000_0000 -> IPA PAGE_A
    for pa in (PAGE_A, PAGE_C):
        m.write_phys(pa, assemble("nop\nnop\nb .", 0x9000_0000).code)
    d = Debugger(m)
    m.set_reg("el", 1)
    assert "(VMID 2 only)" in d.command("break *0x90000004 vmid 2")
    assert "(VMID 2 only)" in d.command("info breakpoints")
    m.add_breakpoint(0x9000_0004, vmid=2)                      # what the REPL installs
    for vmid, stops in ((1, False), (2, True)):
        rig.set_vmid(vmid)
        m.set_reg("pc", 0x9000_0000)
        m.set_reg("el", 1)
        info = m.run(max_insns=20)
        assert (info.reason == "breakpoint") == stops, (vmid, info)
        if stops:
            assert m.reg("pc") == 0x9000_0004
    assert "pending" in d.command("break *0xa0000000")          # not mapped yet: pending


def test_info_gic_lr_and_timer():
    """What the debugger shows of the interrupt controller, the list registers and the
    timers, after EL2 code programs them (values from the program, decoded by field)."""
    from armvirt import memmap
    from armvirt.build import assemble
    from armvirt.machine import Machine
    m = Machine(ram_size=1 << 20)
    lr = 1 << 62 | 1 << 60 | 0xA0 << 48 | 27         # pending, group 1, priority 0xA0, vINTID 27
    prog = assemble(f"""
        ldr  x0, ={memmap.GICD_BASE}
        mov  w1, #2                                  // GICD_CTLR.EnableGrp1NS
        str  w1, [x0]
        ldr  x0, ={memmap.GICR_BASE + 0x10000 + 0x100} // GICR_ISENABLER0 (SGI_base frame)
        mov  w1, #(1 << 27)
        str  w1, [x0]
        ldr  x1, ={lr}
        msr  ich_lr0_el2, x1
        mov  x1, #1
        msr  ich_hcr_el2, x1
        mov  x1, #0xF0
        msr  icc_pmr_el1, x1
        mrs  x2, cntvct_el0
        add  x2, x2, #1000
        msr  cntv_cval_el0, x2
        mov  x1, #1
        msr  cntv_ctl_el0, x1
        b    .
    """, memmap.RAM_BASE)
    m.write_phys(memmap.RAM_BASE, prog.code)
    m.boot_pe(0, memmap.RAM_BASE, el=2)
    m.run(max_insns=len(prog.code) // 4)
    d = Debugger(m)
    out = d.command("info gic")
    assert "group 1 on" in out.splitlines()[0]
    assert [x for x in out.splitlines() if x.split()[:2] == ["27", "PE0"]][0].split()[-1] \
        == "enabled"
    assert "PMR 0xf0" in out
    out = d.command("info lr")
    assert "En 1" in out and "LR0  vINTID 27    pending        group 1 prio 0xa0" in out
    assert "LR1  empty" in out
    out = d.command("info timer")
    virt = [x for x in out.splitlines() if x.strip().startswith("virt")][0]
    assert "PPI 27" in virt and "ENABLE 1" in virt and "fires in" in virt
