"""GIC virtualization: list registers, the ICV_* view that EL1 gets with HCR_EL2.IMO/FMO, the
maintenance interrupt, and the EL2 traps of the CPU interface.

Expected values from IHI 0069 chapter 6 ("Virtual interrupt handling and prioritization") and
12.4 (ICH_* register descriptions): ICH_LR<n>_EL2 = State [63:62] (01 pending, 10 active),
HW [61], Group [60], Priority [55:48], pINTID [44:32] (HW = 1) or EOI [41] (HW = 0),
vINTID [31:0]; ICH_HCR_EL2 En [0], UIE [1], LRENPIE [2], NPIE [3], VGrp0EIE..VGrp1DIE [7:4],
TC [10], TALL0 [11], TALL1 [12], TDIR [14], EOIcount [31:27]; ICH_VMCR_EL2 VENG0 [0],
VENG1 [1], VEOIM [9], VBPR1 [20:18], VBPR0 [23:21], VPMR [31:24]; ICH_MISR_EL2 EOI [0], U [1],
LRENP [2], NP [3], VGrp0E [4], VGrp0D [5], VGrp1E [6], VGrp1D [7].
"""
from __future__ import annotations

import pytest

from test_exceptions import sysreg_iss as iss
from gicrig import (CODE, CUR_SPX, FIQ, GICD, GICD_ICFGR, GICD_IGROUPR, GICD_ISACTIVER,
                    GICD_ISENABLER,
                    GICR_ISPENDR0, IRQ, LOWER, SPURIOUS, VBAR1, VBAR2, GicRig, gic_on, gicr,
                    msr, r32, sgi1r, w32)

HCR_RW, HCR_FMO, HCR_IMO = 1 << 31, 1 << 3, 1 << 4
EL1_CODE = 0x4000_5000
EL1H_IRQ_ON = 0x345          # EL1h, D, A, F masked, I clear
EL1H_FIQ_ON = 0x3C5 & ~(1 << 6)

LR_PENDING, LR_ACTIVE = 1 << 62, 2 << 62
LR_HW, LR_GROUP1, LR_EOI = 1 << 61, 1 << 60, 1 << 41
EN, UIE, LRENPIE, NPIE = 1, 2, 4, 8
VGRP0EIE, VGRP0DIE, VGRP1EIE, VGRP1DIE = 1 << 4, 1 << 5, 1 << 6, 1 << 7
TC, TALL0, TALL1, TDIR = 1 << 10, 1 << 11, 1 << 12, 1 << 14
VENG0, VENG1, VEOIM = 1, 2, 1 << 9
EC_SYS = 0x18


def lr(vintid: int, prio: int = 0xA0, state: int = LR_PENDING, group1: bool = True,
       hw: int | None = None, eoi: bool = False) -> int:
    v = state | (prio << 48) | vintid
    if group1:
        v |= LR_GROUP1
    if hw is not None:
        v |= LR_HW | (hw << 32)
    elif eoi:
        v |= LR_EOI
    return v


def vmcr(pmr: int = 0xF8, eng1: bool = True, eng0: bool = False, veoim: bool = False) -> int:
    return (pmr << 24) | (3 << 18) | (2 << 21) | (VENG1 if eng1 else 0) \
        | (VENG0 if eng0 else 0) | (VEOIM if veoim else 0) | (1 << 3)


def hyp(el1_src: str, *, lrs=(), ich_hcr: int = EN, vmcr_value: int | None = None,
        hcr: int = HCR_RW | HCR_IMO | HCR_FMO, spsr: int = EL1H_IRQ_ON, el2_pre: str = "",
        el1_irq: str = "", el1_fiq: str = "", el2_irq: str = "") -> GicRig:
    """EL2 programs HCR_EL2 and the virtual interface, then ERETs into el1_src."""
    r = GicRig()
    src = el2_pre + msr("hcr_el2", hcr)
    src += msr("ich_vmcr_el2", vmcr() if vmcr_value is None else vmcr_value)
    for i, value in enumerate(lrs):
        src += msr(f"ich_lr{i}_el2", value)
    src += msr("ich_hcr_el2", ich_hcr)
    src += msr("elr_el2", EL1_CODE) + msr("spsr_el2", spsr) + "eret\n"
    r.code(CODE, src)
    r.code(EL1_CODE, el1_src + "b .\n")
    if el1_irq:
        r.vector(VBAR1, CUR_SPX + IRQ, el1_irq)
    if el1_fiq:
        r.vector(VBAR1, CUR_SPX + FIQ, el1_fiq)
    if el2_irq:
        r.vector(VBAR2, LOWER + IRQ, el2_irq)
    r.boot(2)
    return r


def test_list_register_interrupt_is_taken_acked_and_eoied_at_el1_without_trap():
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, icc_rpr_el1
        mrs x22, icc_hppir1_el1
        msr icc_eoir1_el1, x20
        mrs x23, icc_rpr_el1
        mrs x24, currentel
        b .
    """
    r = hyp("mrs x1, icc_pmr_el1\nmsr daifclr, #2\nnop\n", lrs=[lr(42), lr(43, prio=0xC0)],
            el1_irq=handler, spsr=0x3C5)
    r.run(200)
    assert r["el"] == 1 and r["pc"] == VBAR1 + CUR_SPX + IRQ + 24   # never left EL1
    assert r["x1"] == 0xF8                 # ICC_PMR_EL1 at EL1 is ICV_PMR: VMCR.VPMR
    assert r["x20"] == 42                  # the higher priority of the two list registers
    assert r["x21"] == 0xA0                # virtual running priority
    assert r["x22"] == 43                  # the next pending one
    assert r["x23"] == 0xFF                # priority dropped by the EOI
    assert r["x24"] == 1 << 2
    assert r["ICH_LR0_EL2"] >> 62 == 0     # deactivated: State = Invalid
    assert r["ICH_LR1_EL2"] >> 62 == 1     # the other one is still pending
    assert r["ICH_ELRSR_EL2"] == 0b1101    # LR0 (and the unused LR2/3) are free
    assert r["ICH_AP1R0_EL2"] == 0
    assert r["ESR_EL2"] == 0               # no trap was taken


def test_hw_list_register_deactivates_the_physical_interrupt():
    """EL2 takes a physical (edge-triggered) SPI, acknowledges it and drops its priority
    (EOImode = 1), and hands it to EL1 in a list register with HW = 1: the guest's EOI
    deactivates the physical interrupt, with no exit."""
    spi = 48
    bit = 1 << (spi - 32)
    el2 = gic_on() + w32(GICD + GICD_IGROUPR + 4, 0xFFFF_FFFF) \
        + w32(GICD + GICD_ICFGR + 4 * (spi // 16), 2 << (2 * (spi % 16))) \
        + w32(GICD + GICD_ISENABLER + 4, bit) + msr("icc_ctlr_el1", 2) + """
        wfi
        mrs x1, icc_iar1_el1
        msr icc_eoir1_el1, x1           // priority drop only: still active
    """ + r32("2", GICD + GICD_ISACTIVER + 4)
    el1 = "msr daifclr, #2\nnop\n" + r32("5", GICD + GICD_ISACTIVER + 4)
    handler = "mrs x20, icc_iar1_el1\nmsr icc_eoir1_el1, x20\neret\n"
    r = hyp(el1, lrs=[lr(spi, hw=spi)], el2_pre=el2, el1_irq=handler)
    assert r.run(200).reason == "idle"
    r.m.set_irq(spi, 1)                   # an edge: the pending state is latched
    r.m.set_irq(spi, 0)
    r.run(300)
    assert r["x1"] == spi and r["x2"] == bit
    assert r["x20"] == spi and r["el"] == 1
    assert r["x5"] == 0                    # the guest's EOI deactivated the physical SPI
    assert r["ICH_LR0_EL2"] >> 62 == 0


EOI_HANDLER = "mrs x20, icc_iar1_el1\nmsr icc_eoir1_el1, x20\neret\n"
MAINT_HANDLER = """
    mrs x25, icc_iar1_el1
    mrs x26, ich_misr_el2
    mrs x27, ich_eisr_el2
    mrs x28, s3_4_c12_c11_5     // ICH_ELRSR_EL2
    msr ich_hcr_el2, xzr           // stop the maintenance interrupt
    msr icc_eoir1_el1, x25
    b .
"""


def _maint(el1_src: str, **kw) -> GicRig:
    """The hypervisor enables the maintenance PPI (25) at the GIC for itself."""
    pre = gic_on(enable=1 << 25)
    return hyp(el1_src, el2_pre=pre, el2_irq=MAINT_HANDLER, **kw)


def test_maintenance_interrupt_on_eoi():
    r = _maint("msr daifclr, #2\nnop\nnop\n", lrs=[lr(40, eoi=True), lr(41)],
               el1_irq=EOI_HANDLER)
    r.run(300)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER + IRQ + 24
    assert r["x20"] == 40                  # the guest took 40 and EOIed it ...
    assert r["x25"] == 25                  # ... and the hypervisor got PPI 25
    assert r["x26"] == 1                   # MISR.EOI
    assert r["x27"] == 1                   # EISR: LR0
    assert r["x28"] == 0b1100              # ELRSR: LR0 is not free until EL2 reads it


@pytest.mark.parametrize("ich_hcr, vmcr_bits, lrs, misr", [
    (UIE, VENG1, [lr(40)], 1 << 1),                          # underflow: at most one entry
    (UIE, VENG1, [lr(40), lr(41)], 0),
    (NPIE, VENG1, [lr(40, state=LR_ACTIVE)], 1 << 3),        # no pending entry
    (NPIE, VENG1, [lr(40)], 0),
    (VGRP0EIE, VENG0, [], 1 << 4),
    (VGRP0DIE, VENG1, [], 1 << 5),
    (VGRP1EIE, VENG1, [], 1 << 6),
    (VGRP1DIE, VENG0, [], 1 << 7),
    (VGRP1DIE, VENG1, [], 0),
])
def test_maintenance_conditions(ich_hcr, vmcr_bits, lrs, misr):
    vm = (0xF8 << 24) | (3 << 18) | (2 << 21) | (1 << 3) | vmcr_bits
    r = _maint("nop\n", lrs=lrs, ich_hcr=EN | ich_hcr, vmcr_value=vm)
    r.run(200)
    if misr:
        assert r["el"] == 2 and r["x25"] == 25 and r["x26"] == misr
    else:
        assert r["el"] == 1 and r["ICH_MISR_EL2"] == 0


def test_lrenp_counts_eois_without_a_list_register():
    """The guest EOIs an interrupt the hypervisor did not put in a list register (its active
    priority was set in ICH_AP1R0_EL2, as after a VM switch): EOIcount counts it and LRENPIE
    signals it."""
    r = GicRig()
    pre = gic_on(enable=1 << 25) + msr("hcr_el2", HCR_RW | HCR_IMO | HCR_FMO)
    pre += msr("ich_vmcr_el2", vmcr()) + msr("ich_ap1r0_el2", 1 << (0x80 >> 3))
    pre += msr("ich_hcr_el2", EN | LRENPIE) + msr("elr_el2", EL1_CODE)
    pre += msr("spsr_el2", EL1H_IRQ_ON) + "eret\n"
    r.code(CODE, pre)
    r.code(EL1_CODE, "mov x1, #99\nmsr icc_eoir1_el1, x1\nnop\nb .\n")
    r.vector(VBAR2, LOWER + IRQ, MAINT_HANDLER.replace("msr ich_hcr_el2, xzr",
                                                       "mrs x24, ich_hcr_el2"))
    r.boot(2)
    r.run(200)
    assert r["el"] == 2 and r["ELR_EL2"] == EL1_CODE + 8   # right after the EOI
    assert r["ICH_AP1R0_EL2"] == 0                # the priority was dropped
    assert r["x25"] == 25 and r["x26"] == 1 << 2  # MISR.LRENP
    assert r["x24"] >> 27 == 1                    # EOIcount = 1


def test_veoim_splits_drop_and_deactivate_and_vfiq_for_group0():
    handler = """
        mrs x20, icc_iar0_el1
        msr icc_eoir0_el1, x20
        mrs x21, icc_rpr_el1
        mov x22, #77
        msr icc_dir_el1, x22          // not in a list register: EOIcount
        msr icc_dir_el1, x20
        b .
    """
    r = hyp("msr daifclr, #1\nnop\n", lrs=[lr(30, group1=False)],
            vmcr_value=vmcr(eng0=True, eng1=False, veoim=True), spsr=EL1H_FIQ_ON,
            el1_fiq=handler)
    r.run(200)
    assert r["pc"] == VBAR1 + CUR_SPX + FIQ + 24
    assert r["x20"] == 30 and r["x21"] == 0xFF
    assert r["ICH_LR0_EL2"] >> 62 == 0          # deactivated by ICV_DIR_EL1
    assert r["ICH_HCR_EL2"] >> 27 == 1          # the DIR of 77 was counted


def test_virtual_priority_mask_and_special_intid():
    src = """
        mrs x1, icc_iar1_el1          // priority 0xA0 is masked by VPMR 0xA0
        mrs x2, icc_hppir1_el1
        mov x3, #0xf8
        msr icc_pmr_el1, x3
        mrs x4, icc_iar1_el1          // LR0 now
        msr icc_eoir1_el1, x4
        mrs x5, icc_iar1_el1          // then the special INTID 1022 of LR1
        mrs x6, icc_iar1_el1
    """
    r = hyp(src, lrs=[lr(50), lr(1022, prio=0xB0)], vmcr_value=vmcr(pmr=0xA0), spsr=0x3C5)
    r.run(100)
    assert r["x1"] == SPURIOUS and r["x2"] == 50
    assert r["x4"] == 50 and r["ICH_LR0_EL2"] >> 62 == 0     # acknowledged, then EOIed
    assert r["x5"] == 1022 and r["ICH_LR1_EL2"] >> 62 == 0   # special: pending -> invalid
    assert r["x6"] == SPURIOUS


def test_ich_vtr_and_vmcr_minimums():
    r = GicRig()
    r.code(CODE, "mrs x1, ich_vtr_el2\nmsr ich_vmcr_el2, xzr\nmrs x2, ich_vmcr_el2\nb .\n")
    r.boot(2)
    r.run(10)
    # ListRegs = 3 (four), TDS, nV4, A3V, IDbits = 1, PREbits = PRIbits = 4 (five bits)
    assert r["x1"] == 3 | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 23) | (4 << 26) | (4 << 29)
    assert r["x2"] == (1 << 3) | (3 << 18) | (2 << 21)   # VFIQEn RES1, VBPR1/VBPR0 minimums



@pytest.mark.parametrize("insn, ich_hcr, hcr, iss", [
    ("msr icc_sgi1r_el1, x5", 0, HCR_RW | HCR_IMO, iss(3, 0, 12, 11, 5, 5, False)),
    ("msr icc_sgi0r_el1, x5", 0, HCR_RW | HCR_FMO, iss(3, 0, 12, 11, 7, 5, False)),
    ("mrs x5, icc_iar1_el1", TALL1, HCR_RW, iss(3, 0, 12, 12, 0, 5, True)),
    ("mrs x5, icc_iar0_el1", TALL0, HCR_RW, iss(3, 0, 12, 8, 0, 5, True)),
    ("msr icc_pmr_el1, x5", TC, HCR_RW, iss(3, 0, 4, 6, 0, 5, False)),
    ("msr icc_dir_el1, x5", TDIR, HCR_RW | HCR_IMO, iss(3, 0, 12, 11, 1, 5, False)),
])
def test_el1_accesses_trapped_to_el2(insn, ich_hcr, hcr, iss):
    r = hyp(f"nop\n{insn}\n", ich_hcr=ich_hcr, hcr=hcr, spsr=0x3C5)
    r.run(100)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == (EC_SYS << 26) | (1 << 25) | iss
    assert r["ELR_EL2"] == EL1_CODE + 4


def test_without_imo_el1_uses_the_physical_interface():
    r = hyp(gic_on(enable=1 << 3) + f"ldr x4, ={sgi1r(3, 1):#x}\nmsr icc_sgi1r_el1, x4\n"
            + "mrs x1, icc_iar1_el1\n" + r32("2", gicr(0, GICR_ISPENDR0)),
            lrs=[lr(60)], hcr=HCR_RW, spsr=0x3C5)
    r.run(300)
    assert r["el"] == 1 and r["x1"] == 3            # a physical SGI, not LR0's vINTID 60
    assert r["ICH_LR0_EL2"] >> 62 == 1


# ---------------------------------------------------------------------------------------------
# The whole story in one bare image (guests/vgic.S), on armvirt and on QEMU
# ---------------------------------------------------------------------------------------------
VGIC_EXPECTED = b"""vgic: EL2 hypervisor, EL1 guest, GICv3 list registers
ich_vtr 0x90b80003
guest took (intid, running priority): 41 128 40 160 42 192 
maintenance: ppi 25 misr 0x1 eisr 0x4 elrsr after 0xf
hw list register: physical sgi 3 active 1 after guest eoi 0
trapped to el2 (esr): 0x62303079 0x623a3076
eoi without list register: misr 0x4 eoicount 1
el2 physical timer: ppi 26 istatus 1
done
"""


def _run_vgic_guest(guests_dir) -> bytes:
    from armvirt.loader import load_image
    from armvirt.machine import Machine
    m = Machine(ram_size=64 << 20, psci_conduit="smc")
    load_image(m, guests_dir / "vgic.elf", el=2)
    info = m.run(max_insns=1_000_000)
    assert info.reason == "system_off", (info, m.console.decode())
    return bytes(m.console)


def test_vgic_guest(guests_dir):
    # the two trap syndromes: EC 0x18, IL, and the MRS ICC_IAR1_EL1 (x3) / MSR ICC_SGI1R_EL1
    # (x3) encodings — the same values as iss() computes above
    assert (0x18 << 26) | (1 << 25) | iss(3, 0, 12, 12, 0, 3, True) == 0x62303079
    assert (0x18 << 26) | (1 << 25) | iss(3, 0, 12, 11, 5, 3, False) == 0x623A3076
    assert _run_vgic_guest(guests_dir) == VGIC_EXPECTED


def test_vgic_guest_same_output_as_qemu(guests_dir):
    import subprocess
    from conftest import require_tool
    qemu = require_tool("qemu-system-aarch64")
    q = subprocess.run([qemu, "-M", "virt,gic-version=3,virtualization=on", "-cpu",
                        "cortex-a76", "-nographic", "-kernel", str(guests_dir / "vgic.elf")],
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert q.stdout.replace(b"\r\n", b"\n") == _run_vgic_guest(guests_dir) == VGIC_EXPECTED
