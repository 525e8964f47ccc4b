"""The GICv3 distributor, redistributors and physical CPU interface, driven by guest code.

Expected values come from the GIC architecture specification (IHI 0069): the interrupt life
cycle inactive -> pending -> active (-> active and pending) -> inactive (4.1.2), the
acknowledge/priority-drop/deactivate protocol of ICC_IAR1/EOIR1/DIR with ICC_CTLR_EL1.EOImode
(4.1.1, 12.2), priority masking and preemption by group priority (4.8), SGI generation by
ICC_SGI1R_EL1 (12.2.22), SPI routing by GICD_IROUTER (12.9.20); and for the PE side the Arm
ARM's asynchronous exception routing and masking (D1.3.6) and the vector offsets (D1.10.2).
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armvirt import layout as L
from gicrig import (CODE, CUR_SPX, DATA, FIQ, GICD, GICD_CTLR, GICD_ICFGR, GICD_IIDR,
                    GICD_IPRIORITYR, GICD_IROUTER, GICD_ISACTIVER, GICD_ISENABLER,
                    GICD_ISPENDR, GICD_IGROUPR, GICD_PIDR2, GICD_TYPER, GICR_CTLR,
                    GICR_ICFGR0, GICR_ICFGR1, GICR_IIDR, GICR_IPRIORITYR, GICR_ISACTIVER0,
                    GICR_ISPENDR0, GICR_TYPER, GICR_WAKER, IRQ, LOWER, SERROR, SPURIOUS, VBAR1,
                    VBAR2, GicRig, gic_on, gicr, msr, prio, r32, sgi1r, w32)

HCR_RW, HCR_FMO, HCR_IMO, HCR_AMO = 1 << 31, 1 << 3, 1 << 4, 1 << 5
HCR_VF, HCR_VI, HCR_VSE = 1 << 6, 1 << 7, 1 << 8
EL1H, EL2H = 0b0101, 0b1001


def run_el1(src: str, smp: int = 1, n: int = 400, **regs) -> GicRig:
    r = GicRig(smp=smp)
    r.code(CODE, src + "b .\n")
    r.boot(1, **regs)
    r.run(n)
    return r


# ---------------------------------------------------------------------------------------------
# Identification and control registers
# ---------------------------------------------------------------------------------------------
def test_distributor_identification_and_control():
    r = run_el1(r32("1", GICD + GICD_CTLR) + w32(GICD + GICD_CTLR, 0xFFFF_FFFF)
                + r32("2", GICD + GICD_CTLR) + r32("3", GICD + GICD_TYPER)
                + r32("4", GICD + GICD_IIDR) + r32("5", GICD + GICD_PIDR2)
                + w32(GICD + GICD_TYPER, 0) + r32("6", GICD + GICD_TYPER))
    assert r["x1"] == 0x50              # ARE (bit 4) and DS (bit 6): RAO/WI, groups disabled
    assert r["x2"] == 0x53              # only EnableGrp0/EnableGrp1 are writable
    # No1N (25), A3V (24), IDbits = 15 (16-bit INTIDs), ITLinesNumber = 7 (SPIs up to 255)
    assert r["x3"] == (1 << 25) | (1 << 24) | (15 << 19) | 7 == r["x6"]
    assert r["x4"] == 0x43B             # implementer Arm
    assert r["x5"] >> 4 & 0xF == 3      # PIDR2.ArchRev = GICv3


def test_redistributor_typer_waker_per_pe():
    src = ""
    for pe in range(3):
        src += f"ldr x9, ={gicr(pe, GICR_TYPER):#x}\nldr x{10 + pe}, [x9]\n"
    src += (r32("20", gicr(1, GICR_WAKER)) + w32(gicr(1, GICR_WAKER), 0)
            + r32("21", gicr(1, GICR_WAKER)) + w32(gicr(1, GICR_WAKER), 2)
            + r32("22", gicr(1, GICR_WAKER)) + r32("23", gicr(2, GICR_IIDR))
            + r32("24", gicr(0, GICR_CTLR)) + r32("25", gicr(0, GICR_ICFGR0)))
    r = run_el1(src, smp=3)
    for pe in range(3):
        typer = r[f"x{10 + pe}"]
        assert typer >> 32 == pe                    # affinity: Aff0 = PE number
        assert (typer >> 8) & 0xFFFF == pe          # Processor_Number
        assert (typer >> 4) & 1 == (pe == 2)        # Last: only the final frame
    assert r["x20"] == 0b110                        # ProcessorSleep, ChildrenAsleep at reset
    assert r["x21"] == 0 and r["x22"] == 0b110
    assert r["x23"] == 0x43B and r["x24"] == 0
    assert r["x25"] == 0xAAAA_AAAA                  # SGIs are edge-triggered


def test_frames_beyond_the_last_redistributor_are_not_there():
    r = GicRig(smp=2)
    r.code(CODE, f"ldr x9, ={gicr(2, GICR_TYPER):#x}\nldr w1, [x9]\nb .\n")
    r.boot(1)
    r.run(10)
    assert r["pc"] == VBAR1 + CUR_SPX            # synchronous external abort
    assert r["ESR_EL1"] >> 26 == 0x25 and r["ESR_EL1"] & 0x3F == 0x10
    assert r["FAR_EL1"] == gicr(2, GICR_TYPER)


# ---------------------------------------------------------------------------------------------
# The state machine of one interrupt
# ---------------------------------------------------------------------------------------------
def test_sgi_pending_active_inactive():
    src = gic_on(enable=1 << 5) + prio(0, 5, 0x40) + f"""
        ldr x4, ={sgi1r(5, targets=1):#x}
        msr icc_sgi1r_el1, x4
    """ + r32("1", gicr(0, GICR_ISPENDR0)) + """
        mrs x2, icc_hppir1_el1
        mrs x3, isr_el1
        mrs x4, icc_iar1_el1
        mrs x5, icc_rpr_el1
        mrs x6, icc_ap1r0_el1
    """ + r32("7", gicr(0, GICR_ISACTIVER0)) + r32("8", gicr(0, GICR_ISPENDR0)) + """
        mrs x11, icc_iar1_el1
        msr icc_eoir1_el1, x4
        mrs x12, icc_rpr_el1
    """ + r32("13", gicr(0, GICR_ISACTIVER0)) + "mrs x14, isr_el1\n"
    r = run_el1(src)
    assert r["x1"] == 1 << 5                 # pending
    assert r["x2"] == 5                      # the highest priority pending interrupt
    assert r["x3"] == 1 << 7                 # ISR_EL1.I: an IRQ is signalled (PSTATE masks it)
    assert r["x4"] == 5                      # acknowledged ...
    assert r["x5"] == 0x40                   # ... its priority is the running priority
    assert r["x6"] == 1 << (0x40 >> 3)       # active priority bit for group priority 0x40
    assert r["x7"] == 1 << 5 and r["x8"] == 0   # pending -> active
    assert r["x11"] == SPURIOUS              # nothing else to acknowledge
    assert r["x12"] == 0xFF                  # priority dropped: idle
    assert r["x13"] == 0 and r["x14"] == 0   # deactivated, nothing signalled


def test_level_spi_is_active_and_pending_while_its_line_is_high():
    intid = 40
    r = GicRig()
    r.code(CODE, gic_on() + w32(GICD + GICD_IGROUPR + 4, 0xFFFF_FFFF)
           + w32(GICD + GICD_ISENABLER + 4, 1 << (intid - 32)) + prio(0, intid, 0x80)
           + "wfi\nmrs x1, icc_iar1_el1\n"
           + r32("2", GICD + GICD_ISPENDR + 4) + r32("3", GICD + GICD_ISACTIVER + 4)
           + "msr icc_eoir1_el1, x1\nmrs x4, icc_hppir1_el1\nb .\n")
    r.boot(1)
    info = r.run(200)
    assert info.reason == "idle"             # asleep in WFI: nothing pending yet
    r.m.set_irq(intid, 1)                    # a device raises its level-sensitive line
    r.run(60)
    assert r["x1"] == intid
    bit = 1 << (intid - 32)
    assert r["x2"] == bit and r["x3"] == bit    # active and pending: the line is still high
    assert r["x4"] == intid                     # after the EOI it is pending again at once
    assert r.m.cpus[0][L.IRQ_LINES] == L.LINE_IRQ
    r.m.set_irq(intid, 0)                    # the device drops the line: no longer pending
    assert r.m.cpus[0][L.IRQ_LINES] == 0
    r.m.set_irq(33, 1)                       # SPI 33 is not enabled: nothing is signalled
    assert r.m.cpus[0][L.IRQ_LINES] == 0


def test_edge_spi_latches_the_rising_edge():
    intid = 70
    word = (intid // 32) * 4
    bit = 1 << (intid % 32)
    cfg = GICD + GICD_ICFGR + (intid // 16) * 4
    r = GicRig()
    r.code(CODE, gic_on() + w32(GICD + GICD_IGROUPR + word, 0xFFFF_FFFF)
           + w32(cfg, 2 << (2 * (intid % 16))) + w32(GICD + GICD_ISENABLER + word, bit)
           + r32("1", cfg) + "wfi\n" + r32("2", GICD + GICD_ISPENDR + word)
           + "mrs x3, icc_iar1_el1\n" + r32("4", GICD + GICD_ISPENDR + word)
           + "msr icc_eoir1_el1, x3\nmrs x5, icc_hppir1_el1\nb .\n")
    r.boot(1)
    r.run(100)
    r.m.set_irq(intid, 1)
    r.m.set_irq(intid, 0)                    # a pulse: the latch keeps it pending
    r.run(100)
    assert r["x1"] == 2 << (2 * (intid % 16))   # Int_config = edge
    assert r["x2"] == bit and r["x3"] == intid
    assert r["x4"] == 0 and r["x5"] == SPURIOUS  # acknowledged: the latch is clear


def test_priority_order_and_ties_go_to_the_lowest_intid():
    src = gic_on(enable=0b1110) + prio(0, 1, 0x80) + prio(0, 2, 0x40) + prio(0, 3, 0x40)
    src += f"ldr x4, ={sgi1r(1, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += f"ldr x4, ={sgi1r(3, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += f"ldr x4, ={sgi1r(2, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    # acknowledge and complete one at a time
    for i in range(3):
        src += f"mrs x{1 + i}, icc_iar1_el1\nmsr icc_eoir1_el1, x{1 + i}\n"
    r = run_el1(src)
    assert (r["x1"], r["x2"], r["x3"]) == (2, 3, 1)


def test_priority_mask():
    src = gic_on(enable=1 << 4, pmr=0x40) + prio(0, 4, 0x40)
    src += f"ldr x4, ={sgi1r(4, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += "mrs x1, icc_iar1_el1\nmrs x2, icc_hppir1_el1\nmrs x3, isr_el1\n"
    src += msr("icc_pmr_el1", 0xFF) + "mrs x5, icc_pmr_el1\nmrs x6, icc_iar1_el1\n"
    r = run_el1(src)
    assert r["x1"] == SPURIOUS              # priority 0x40 is not higher than PMR 0x40
    assert r["x2"] == 4 and r["x3"] == 0    # pending (HPPIR ignores PMR) but not signalled
    assert r["x5"] == 0xF8                  # 5 priority bits implemented
    assert r["x6"] == 4


@pytest.mark.parametrize("bpr1, preempts", [(3, True), (5, False)])
def test_preemption_needs_a_higher_group_priority(bpr1, preempts):
    """0x88 pending while 0x90 is active: with BPR1 = 3 the group priorities are 0x88 and 0x90
    (preempts); with BPR1 = 5 both are 0x80 (it does not). The running priority is the
    active interrupt's group priority."""
    src = gic_on(enable=0b11) + prio(0, 0, 0x90) + prio(0, 1, 0x88)
    src += msr("icc_bpr1_el1", bpr1)
    src += f"ldr x4, ={sgi1r(0, 1):#x}\nmsr icc_sgi1r_el1, x4\nmrs x1, icc_iar1_el1\n"
    src += f"ldr x4, ={sgi1r(1, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += "mrs x2, icc_iar1_el1\nmrs x3, icc_rpr_el1\nmrs x5, icc_bpr1_el1\n"
    r = run_el1(src)
    assert r["x1"] == 0 and r["x5"] == bpr1
    if preempts:
        assert r["x2"] == 1 and r["x3"] == 0x88
    else:
        assert r["x2"] == SPURIOUS and r["x3"] == 0x80


def test_bpr_minimum_and_cbpr():
    src = msr("icc_bpr0_el1", 0) + "mrs x1, icc_bpr0_el1\n"
    src += msr("icc_bpr1_el1", 0) + "mrs x2, icc_bpr1_el1\n"
    src += msr("icc_bpr0_el1", 4) + msr("icc_ctlr_el1", 1) + "mrs x3, icc_bpr1_el1\n"
    src += msr("icc_bpr1_el1", 7) + "mrs x4, icc_bpr1_el1\nmrs x5, icc_ctlr_el1\n"
    src += msr("icc_ctlr_el1", 0) + "mrs x6, icc_bpr1_el1\n"
    r = run_el1(src)
    assert r["x1"] == 2 and r["x2"] == 3     # minimums for 5 bits of preemption
    assert r["x3"] == 5 and r["x4"] == 5     # CBPR: BPR1 reads BPR0 + 1, writes ignored
    # CTLR: CBPR set; A3V, IDbits = 1 (24 bits), PRIbits = 4 (5 bits) read-only
    assert r["x5"] == (1 << 15) | (1 << 11) | (4 << 8) | 1
    assert r["x6"] == 3


def test_eoimode1_splits_priority_drop_and_deactivation():
    src = gic_on(enable=1 << 9) + prio(0, 9, 0x20) + msr("icc_ctlr_el1", 2)
    send = f"ldr x4, ={sgi1r(9, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += send + "mrs x1, icc_iar1_el1\nmsr icc_eoir1_el1, x1\nmrs x2, icc_rpr_el1\n"
    src += r32("3", gicr(0, GICR_ISACTIVER0))
    src += send + "mrs x5, icc_iar1_el1\n"     # active and pending: not acknowledged again
    src += "msr icc_dir_el1, x1\n" + r32("6", gicr(0, GICR_ISACTIVER0))
    src += "mrs x7, icc_iar1_el1\n" + r32("8", gicr(0, GICR_ISACTIVER0))
    r = run_el1(src)
    assert r["x1"] == 9
    assert r["x2"] == 0xFF                   # priority dropped by the EOI ...
    assert r["x3"] == 1 << 9                 # ... but still active until ICC_DIR_EL1
    assert r["x5"] == SPURIOUS
    assert r["x6"] == 0                      # deactivated by DIR
    assert r["x7"] == 9 and r["x8"] == 1 << 9   # and the second instance is taken


def test_eoi_of_the_wrong_group_is_ignored_and_dir_needs_eoimode1():
    src = gic_on(enable=1 << 2) + f"ldr x4, ={sgi1r(2, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += "mrs x1, icc_iar1_el1\nmsr icc_dir_el1, x1\n" + r32("2", gicr(0, GICR_ISACTIVER0))
    src += "msr icc_eoir0_el1, x1\nmrs x3, icc_rpr_el1\n"
    src += "mov x4, #1023\nmsr icc_eoir1_el1, x4\nmrs x5, icc_rpr_el1\n"
    src += "msr icc_eoir1_el1, x1\nmrs x6, icc_rpr_el1\n" + r32("7", gicr(0, GICR_ISACTIVER0))
    r = run_el1(src)
    assert r["x1"] == 2 and r["x2"] == 1 << 2   # DIR with EOImode = 0 does nothing
    assert r["x3"] == 0 and r["x5"] == 0        # EOIR0 (Group 0) and INTID 1023: ignored
    assert r["x6"] == 0xFF and r["x7"] == 0


def test_disabled_groups_are_not_signalled():
    src = gic_on(enable=1 << 6, grpen1=0) + f"ldr x4, ={sgi1r(6, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += "mrs x1, icc_iar1_el1\nmrs x2, icc_hppir1_el1\n" + msr("icc_igrpen1_el1", 1)
    src += w32(GICD + GICD_CTLR, 1) + "mrs x3, icc_hppir1_el1\n"   # distributor Grp1 off
    src += w32(GICD + GICD_CTLR, 2) + "mrs x4, icc_iar1_el1\n"
    r = run_el1(src)
    assert r["x1"] == SPURIOUS and r["x2"] == SPURIOUS
    assert r["x3"] == SPURIOUS and r["x4"] == 6


# ---------------------------------------------------------------------------------------------
# Several PEs: SGI targeting and SPI routing
# ---------------------------------------------------------------------------------------------
def _two_pe_rig(pe0_src: str, smp: int = 3) -> GicRig:
    """The other PEs set up their redistributors and CPU interfaces, raise a flag and spin;
    PE0 waits for the flags, then runs pe0_src. Everything is at EL1 with IRQs masked, so the
    tests look at pending state."""
    r = GicRig(smp=smp)
    wait = "".join(f"ldr x9, ={DATA + 8 * pe:#x}\n1: ldr x10, [x9]\ncbz x10, 1b\n"
                   for pe in range(1, smp))
    r.code(CODE, gic_on(0, enable=0xFFFF) + wait + pe0_src + "b .\n")
    for pe in range(1, smp):
        r.code(CODE + 0x800 * pe, gic_on(pe, enable=0xFFFF, distributor=False)
               + f"ldr x9, ={DATA + 8 * pe:#x}\nmov x10, #1\nstr x10, [x9]\nb .\n")
        r.boot(1, entry=CODE + 0x800 * pe, pe=pe)
    r.boot(1)
    return r


def _pending_sgis(r: GicRig, pe: int) -> int:
    return int(r.m.state[L.S_GICR + pe * L.GICR_WIDTH + 1 + 2]) & 0xFFFF   # R_WORDS + W_PEND


def test_sgi_target_list_all_but_self_and_group():
    src = f"ldr x4, ={sgi1r(3, targets=0b100):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += f"ldr x4, ={sgi1r(4, irm=1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += f"ldr x4, ={sgi1r(5, targets=0b111, aff1=1):#x}\nmsr icc_sgi1r_el1, x4\n"
    src += f"ldr x4, ={sgi1r(6, targets=0b010):#x}\nmsr icc_sgi0r_el1, x4\n"
    r = _two_pe_rig(src)
    r.run(8000)
    assert _pending_sgis(r, 0) == 0                     # IRM = 1 excludes the sender
    assert _pending_sgis(r, 1) == 1 << 4                # SGI0R: SGI 6 is Group 1 -> dropped
    assert _pending_sgis(r, 2) == (1 << 3) | (1 << 4)   # Aff1 = 1 matches nobody


def test_spi_routing_by_affinity():
    spi = 50
    word = 4 * (spi // 32)
    src = w32(GICD + GICD_IGROUPR + word, 0xFFFF_FFFF)
    src += w32(GICD + GICD_ISENABLER + word, 1 << (spi % 32))
    src += w32(GICD + GICD_IROUTER + 8 * spi, 2)          # Aff0 = 2: PE 2
    src += w32(GICD + GICD_ISPENDR + word, 1 << (spi % 32))
    src += f"ldr x9, ={GICD + GICD_IROUTER + 8 * spi:#x}\nldr x20, [x9]\n"
    src += "mrs x21, icc_hppir1_el1\nb .\n"
    r = _two_pe_rig(src)
    r.run(8000)
    assert r.reg("x20") == 2 and r.reg("x21") == SPURIOUS
    hppi = [int(r.m.state[L.S_GICR + pe * L.GICR_WIDTH + 40]) for pe in range(3)]
    assert hppi == [SPURIOUS, SPURIOUS, spi]
    assert r.m.cpus[2][L.IRQ_LINES] & L.LINE_IRQ and not r.m.cpus[0][L.IRQ_LINES]


def test_spi_with_irm_or_unknown_affinity_goes_nowhere():
    spi = 33
    src = w32(GICD + GICD_IGROUPR + 4, 0xFFFF_FFFF) + w32(GICD + GICD_ISENABLER + 4, 2)
    src += w32(GICD + GICD_IROUTER + 8 * spi, 1 << 31) + w32(GICD + GICD_ISPENDR + 4, 2)
    src += "mrs x1, icc_hppir1_el1\n" + w32(GICD + GICD_IROUTER + 8 * spi + 4, 1)  # Aff3 = 1
    src += w32(GICD + GICD_IROUTER + 8 * spi, 0) + "mrs x2, icc_hppir1_el1\n"
    src += w32(GICD + GICD_IROUTER + 8 * spi + 4, 0) + "mrs x3, icc_hppir1_el1\n"
    r = run_el1(gic_on() + src)
    assert (r["x1"], r["x2"], r["x3"]) == (SPURIOUS, SPURIOUS, spi)


# ---------------------------------------------------------------------------------------------
# Taking the exception
# ---------------------------------------------------------------------------------------------
IRQ_HANDLER = """
    mrs x20, icc_iar1_el1
    mrs x21, elr_el1
    mrs x22, spsr_el1
    add x23, x23, #1
    msr icc_eoir1_el1, x20
    eret
"""


def test_irq_taken_at_el1_when_unmasked():
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, IRQ_HANDLER)
    r.code(CODE, gic_on(enable=1 << 7) + f"""
        ldr x4, ={sgi1r(7, 1):#x}
        msr icc_sgi1r_el1, x4
        nop
        mov x1, #1
        msr daifclr, #2
    marker:
        mov x2, #2
        b .
    """)
    r.boot(1, x23=0)
    r.run(200)
    assert r["x1"] == 1 and r["x2"] == 2
    assert r["x20"] == 7 and r["x23"] == 1          # taken once, acknowledged, EOIed
    assert r["x21"] == r["pc"] - 4                  # ELR: the instruction after the unmask
    assert r["x22"] == (0b1101 << 6) | EL1H         # SPSR: EL1h, only PSTATE.I was cleared
    assert r["ICC_RPR_EL1"] == 0xFF


def test_group0_is_signalled_as_fiq():
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + FIQ, "mrs x20, icc_iar0_el1\nmsr icc_eoir0_el1, x20\nb .\n")
    r.code(CODE, gic_on(enable=1 << 8, group1_mask=0, grpen0=1) + f"""
        ldr x4, ={sgi1r(8, 1):#x}
        msr icc_sgi0r_el1, x4
        mrs x1, isr_el1
        msr daifclr, #1
        b .
    """)
    r.boot(1)
    r.run(200)
    assert r["x1"] == 1 << 6                        # ISR_EL1.F
    assert r["pc"] == VBAR1 + CUR_SPX + FIQ + 8 and r["x20"] == 8


def test_imo_routes_irqs_to_el2_whatever_pstate_i_at_el1():
    """EL2 programs the GIC and sends itself an SGI (masked at EL2), sets HCR_EL2.IMO and
    returns to EL1 with every interrupt masked: the IRQ is taken to EL2 before the first EL1
    instruction."""
    r = GicRig()
    r.code(CODE, gic_on(enable=1 << 1) + f"""
        ldr x4, ={sgi1r(1, 1):#x}
        msr icc_sgi1r_el1, x4
        msr hcr_el2, x5
        msr elr_el2, x20
        msr spsr_el2, x21
        eret
    """)
    r.code(0x4000_5000, "nop\nnop\nb .\n")
    r.boot(2, x5=HCR_RW | HCR_IMO, x20=0x4000_5000, x21=0x3C5)
    r.run(200)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER + IRQ
    assert r["ELR_EL2"] == 0x4000_5000              # before the first EL1 instruction
    assert r["SPSR_EL2"] == 0x3C5                   # EL1h with D, A, I, F masked
    assert r["ESR_EL2"] == 0                        # an interrupt has no syndrome


def test_irq_routed_to_el1_is_not_taken_at_el2():
    r = GicRig()
    r.code(CODE, gic_on(enable=1 << 1) + f"""
        ldr x4, ={sgi1r(1, 1):#x}
        msr icc_sgi1r_el1, x4
        msr daifclr, #0xf
        mov x1, #1
        b .
    """)
    r.boot(2, HCR_EL2=HCR_RW)
    r.run(200)
    assert r["x1"] == 1 and r["el"] == 2 and r["pc"] != VBAR2 + CUR_SPX + IRQ
    assert r["ISR_EL1"] == 1 << 7


# ---------------------------------------------------------------------------------------------
# HCR_EL2.VI/VF/VSE: the legacy virtual interrupts
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bits, vector", [(HCR_IMO | HCR_VI, IRQ), (HCR_FMO | HCR_VF, FIQ),
                                          (HCR_AMO | HCR_VSE, SERROR)])
def test_hcr_virtual_interrupts_are_taken_at_el1(bits, vector):
    r = GicRig()
    r.code(CODE, "mrs x1, isr_el1\nmsr daifclr, #0xf\nnop\nb .\n")
    r.boot(1, HCR_EL2=HCR_RW | bits)
    r.run(20)
    assert r["x1"] == {IRQ: 1 << 7, FIQ: 1 << 6, SERROR: 1 << 8}[vector]
    assert r["el"] == 1 and r["pc"] == VBAR1 + CUR_SPX + vector
    assert r["ELR_EL1"] == CODE + 8
    if vector == SERROR:
        assert r["ESR_EL1"] == (0x2F << 26) | (1 << 25)   # EC SError, IL; VSE consumed
        assert not r["HCR_EL2"] & HCR_VSE
    else:
        assert r["HCR_EL2"] & bits == bits              # VI/VF stay until EL2 clears them


def test_hcr_vi_needs_imo_and_wakes_wfi():
    r = GicRig()
    r.code(CODE, "wfi\nmov x1, #1\nb .\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_VI)                  # no IMO: not a virtual interrupt
    assert r.run(20).reason == "idle"
    r2 = GicRig()
    r2.code(CODE, "wfi\nmov x1, #1\nb .\n")
    r2.boot(1, HCR_EL2=HCR_RW | HCR_VI | HCR_IMO)
    r2.run(20)
    assert r2["x1"] == 1 and r2["pc"] == CODE + 8        # WFI completed, IRQ still masked


# ---------------------------------------------------------------------------------------------
# Nonsense programming: architected results, never an emulator error
# ---------------------------------------------------------------------------------------------
@settings(max_examples=30)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF).map(lambda o: o & ~3),
                          st.integers(0, 0xFFFF_FFFF), st.sampled_from([0, 1, 2])),
                min_size=1, max_size=12))
def test_random_distributor_and_redistributor_writes_leave_the_gic_sane(writes):
    """Any 32-bit value written to any register offset of GICD, RD_base or SGI_base."""
    src = ""
    for off, value, frame in writes:
        base = (GICD, gicr(0, 0), gicr(0, 0x1_0000))[frame]
        src += w32(base + off, value)
    src += r32("1", GICD + GICD_TYPER) + r32("2", GICD + GICD_IIDR)
    src += r32("3", gicr(0, GICR_TYPER)) + r32("4", gicr(0, GICR_ICFGR0))
    src += "mrs x5, icc_iar1_el1\nmrs x6, icc_rpr_el1\n"
    r = run_el1(src, n=20 * len(writes) + 40)
    assert r["pc"] < VBAR1                                 # no exception taken
    assert r["x1"] == (1 << 25) | (1 << 24) | (15 << 19) | 7
    assert r["x2"] == 0x43B and r["x3"] == 1 << 4 and r["x4"] == 0xAAAA_AAAA
    assert r["x5"] == SPURIOUS or r["x5"] < 256           # an INTID or spurious, nothing else


def test_sub_word_accesses():
    prio_addr = gicr(0, GICR_IPRIORITYR + 4)
    src = f"""
        ldr x9, ={prio_addr:#x}
        mov w1, #0xa0
        strb w1, [x9, #1]
        ldrb w2, [x9, #1]
        ldr w3, [x9]
        ldrh w4, [x9, #0]
        ldr x9, ={GICD + GICD_CTLR:#x}
        mov w5, #3
        strb w5, [x9]
        ldr w6, [x9]
        ldr x9, ={GICD + GICD_IROUTER + 8 * 40:#x}
        mov x7, #0x0102
        movk x7, #0x7, lsl #32
        str x7, [x9]
        ldr x8, [x9]
    """
    r = run_el1(src)
    assert r["x2"] == 0xA0 and r["x3"] == 0xA000 and r["x4"] == 0xA000
    assert r["x6"] == 0x50                        # byte writes to GICD_CTLR are ignored
    assert r["x8"] == 0x7_0000_0102               # 64-bit IROUTER: Aff3 7, Aff1 1, Aff0 2


# ---------------------------------------------------------------------------------------------
# The Python view (Machine.gic_info / vgic_info / timer_info / pmu_info)
# ---------------------------------------------------------------------------------------------
def test_machine_reports_gic_state():
    src = gic_on(enable=(1 << 5) | (1 << 9)) + prio(0, 5, 0x40)
    src += f"ldr x4, ={sgi1r(5, 1):#x}\nmsr icc_sgi1r_el1, x4\nmrs x1, icc_iar1_el1\n"
    src += f"ldr x4, ={sgi1r(9, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
    r = run_el1(src)
    r.m.set_irq(40, 1)
    info = r.m.gic_info()
    assert info["distributor"] == {"ctlr": 0x53, "enable_grp0": True, "enable_grp1": True}
    by_id = {row["intid"]: row for row in info["interrupts"]}
    assert by_id[5] == {"intid": 5, "group": 1, "enabled": True, "pending": False,
                        "active": True, "priority": 0x40, "trigger": "edge", "line": False,
                        "pe": 0}
    assert by_id[9]["pending"] and not by_id[9]["active"]
    assert by_id[40]["pending"] and not by_id[40]["enabled"] and by_id[40]["target_pe"] == 0
    assert by_id[40]["trigger"] == "level" and by_id[40]["line"]
    pe0 = info["pes"][0]
    assert pe0["rpr"] == 0x40 and pe0["pmr"] == 0xF8 and pe0["hppi"] == 9
    assert pe0["lines"] == ["irq"]       # SGI 9 (priority 0) preempts the active 0x40
    assert r["ICC_IAR1_EL1"] == 9        # a debugger's read acknowledges nothing ...
    assert r.m.gic_info()["pes"][0]["hppi"] == 9   # ... the interrupt is still pending


def test_machine_reports_timer_and_vgic_state():
    r = GicRig()
    r.code(CODE, "ldr x1, =5000\nmsr cntv_tval_el0, x1\nmov x1, #1\nmsr cntv_ctl_el0, x1\nb .\n")
    r.boot(1)
    r.run(10)
    t = r.m.timer_info()
    assert t["frequency"] == 62_500_000 and t["cntvct"] == t["cntpct"]
    v = t["timers"]["virt"]
    assert v["enable"] and not v["asserted"] and 4990 <= v["fires_in_ticks"] <= 5000
    assert t["next_deadline"] == v["cval"] * 16
    assert t["timers"]["phys"]["fires_in_ticks"] is None
    r.m.set_reg("ICH_LR1_EL2", (1 << 62) | (1 << 61) | (1 << 60) | (0xA0 << 48) | (27 << 32) | 27)
    lr1 = r.m.vgic_info()["lrs"][1]
    assert lr1 == {"index": 1, "value": r["ICH_LR1_EL2"], "state": "pending", "vintid": 27,
                   "group": 1, "priority": 0xA0, "hw": True, "pintid": 27,
                   "eoi_maintenance": False}
    assert r.m.pmu_info()["counting"] is False


def test_uart_receive_interrupt_is_spi_33():
    """PL011 UARTINTR (RIS & IMSC) drives SPI 1, INTID 33 (platform.md): receiving a byte with
    RXIM set raises it, reading the byte (FIFO empty) lowers it."""
    uart = 0x0900_0000
    r = GicRig()
    r.code(CODE, gic_on() + w32(GICD + GICD_IGROUPR + 4, 0xFFFF_FFFF)
           + w32(GICD + GICD_ISENABLER + 4, 1 << 1) + w32(uart + 0x38, 1 << 4)   # IMSC.RXIM
           + f"wfi\nmrs x1, icc_iar1_el1\nldr x9, ={uart:#x}\nldr w2, [x9]\n"
           + "msr icc_eoir1_el1, x1\nmrs x3, icc_hppir1_el1\nb .\n")
    r.boot(1)
    assert r.run(100).reason == "idle"
    r.m.uart_input(b"A")
    r.run(20)
    assert r["x1"] == 33 and r["x2"] == ord("A") and r["x3"] == SPURIOUS
