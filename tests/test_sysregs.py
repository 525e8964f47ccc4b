"""MRS/MSR, MSR (immediate) and the SYS instructions (DC, IC, AT, TLBI) on the whole machine:
access rules at each EL, the EL0 enables of SCTLR_EL1, the HCR_EL2 traps and their syndromes.

Expected values come from the Arm ARM: ESR = EC << 26 | IL << 25 | ISS; the ISS of EC 0x18 is
Op0 (21:20), Op2 (19:17), Op1 (16:14), CRn (13:10), Rt (9:5), CRm (4:1), Direction (0, 1 =
read) — see ``sysreg_iss`` — and (op0, op1, CRn, CRm, op2) are the encodings of D19 / C5.
"""
from __future__ import annotations

import pytest

from armvirt import layout as L
from armvirt.exec.branch import NO_CODE_PAGE
from mmu_util import identity_stage2
from test_exceptions import (CODE, CUR_SPX, DAIF_ALL, DATA, EC_DABT_SAME, EC_FP,
                             EC_SYS, EC_WFX, EL0_CODE, EL1H, HCR_DC, HCR_RW, HCR_TACR, HCR_TDZ,
                             HCR_TID2, HCR_TID3, HCR_TPC, HCR_TPU, HCR_TRVM, HCR_TSW,
                             HCR_TTLB, HCR_TVM, LOWER, SCTLR_DZE, SCTLR_EL1_RESET, SCTLR_UCI,
                             SCTLR_UCT, SCTLR_UMA, UNDEF, VBAR1, VBAR2, Rig, el0_rig, esr,
                             sysreg_iss, tge_rig)

S2_TABLES = 0x4008_0000     # an identity stage 2 for the HCR_EL2.DC tests (tests/mmu_util.py)
MIDR = 0x410F_D070          # the core's MIDR_EL1 (armvirt.cpu.sysreg_table.MIDR)
CTR = 0x8444_C004           # CTR_EL0
ID_AA64PFR0 = 0x100_0111    # EL0, EL1, EL2 AArch64 only; FP and AdvSIMD; GIC = 1 (GICv3 sysregs)


def el1_rig(src: str, **regs) -> Rig:
    r = Rig()
    r.code(CODE, src)
    r.boot(1, **regs)
    return r


def el2_rig(src: str, **regs) -> Rig:
    r = Rig()
    r.code(CODE, src)
    r.boot(2, **regs)
    return r


def trapped_to_el2(r: Rig, iss: int, elr: int):
    assert r["el"] == 2
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SYS, iss)
    assert r["ELR_EL2"] == elr
    assert r["SPSR_EL2"] == DAIF_ALL | EL1H


# ---------------------------------------------------------------------------------------------
# HCR_EL2 trap controls
# ---------------------------------------------------------------------------------------------
def test_tvm_traps_writes_of_sctlr_el1():
    r = el1_rig("nop\nmsr sctlr_el1, x3\n", x3=SCTLR_EL1_RESET | 1 << 12,
                HCR_EL2=HCR_RW | HCR_TVM)
    r.run()
    iss = sysreg_iss(3, 0, 1, 0, 0, 3, False)
    assert iss == 0x30_0460
    trapped_to_el2(r, iss, CODE + 4)
    assert r["ESR_EL2"] == 0x6230_0460
    assert r["SCTLR_EL1"] == SCTLR_EL1_RESET     # the write did not happen


def test_trvm_traps_reads_and_tvm_does_not():
    r = el1_rig("mrs x4, sctlr_el1\n", HCR_EL2=HCR_RW | HCR_TRVM)
    r.run()
    trapped_to_el2(r, sysreg_iss(3, 0, 1, 0, 0, 4, True), CODE)
    assert r["ESR_EL2"] == 0x6230_0481

    r = el1_rig("mrs x4, sctlr_el1\nmrs x5, ttbr0_el1\nb .\n", x4=1, x5=1,
                HCR_EL2=HCR_RW | HCR_TVM, TTBR0_EL1=0x4008_0000)
    r.run(10)
    assert r["el"] == 1
    assert r["x4"] == SCTLR_EL1_RESET
    assert r["x5"] == 0x4008_0000


def test_tid3_traps_id_aa64pfr0():
    r = el1_rig("mrs x5, id_aa64pfr0_el1\nb .\n", HCR_EL2=HCR_RW)
    r.run(10)
    assert r["x5"] == ID_AA64PFR0

    r = el1_rig("mrs x5, id_aa64pfr0_el1\n", HCR_EL2=HCR_RW | HCR_TID3)
    r.run()
    trapped_to_el2(r, sysreg_iss(3, 0, 0, 4, 0, 5, True), CODE)
    assert r["ESR_EL2"] == 0x6230_00A9


def test_tid2_traps_ctr_el0():
    r = el1_rig("mrs x6, ctr_el0\n", HCR_EL2=HCR_RW | HCR_TID2)
    r.run()
    trapped_to_el2(r, sysreg_iss(3, 3, 0, 0, 1, 6, True), CODE)
    assert r["ESR_EL2"] == 0x6232_C0C1


def test_tacr_traps_actlr_el1():
    r = el1_rig("msr actlr_el1, x7\n", HCR_EL2=HCR_RW | HCR_TACR)
    r.run()
    trapped_to_el2(r, sysreg_iss(3, 0, 1, 0, 1, 7, False), CODE)
    assert r["ESR_EL2"] == 0x6232_04E0


def test_el2_does_not_trap_itself():
    r = el2_rig("msr sctlr_el1, x3\nmrs x4, ctr_el0\nb .\n", x3=SCTLR_EL1_RESET | 1 << 2,
                HCR_EL2=HCR_RW | HCR_TVM | HCR_TID2)
    r.run(10)
    assert r["el"] == 2 and r["pc"] == CODE + 8
    assert r["SCTLR_EL1"] == SCTLR_EL1_RESET | 1 << 2
    assert r["x4"] == CTR


# ---------------------------------------------------------------------------------------------
# EL0 access rules
# ---------------------------------------------------------------------------------------------
def test_ctr_el0_at_el0_needs_uct():
    r = el0_rig("mrs x6, ctr_el0\n")              # SCTLR_EL1.UCT = 0 at reset
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SYS, sysreg_iss(3, 3, 0, 0, 1, 6, True)) == 0x6232_C0C1
    assert r["ELR_EL1"] == EL0_CODE

    r = el0_rig("mrs x6, ctr_el0\nb .\n", SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_UCT)
    r.run(10)
    assert r["el"] == 0
    assert r["x6"] == CTR


def test_tpidrro_el0_is_read_only_at_el0():
    r = el0_rig("mrs x1, tpidrro_el0\nmsr tpidrro_el0, x2\n", TPIDRRO_EL0=0x1234_5678)
    r.run()
    assert r["x1"] == 0x1234_5678
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == EL0_CODE + 4

    r = el0_rig("msr tpidr_el0, x2\nb .\n", x2=0xABCD)
    r.run(10)
    assert r["TPIDR_EL0"] == 0xABCD


def test_daif_at_el0_needs_uma():
    r = el0_rig("mrs x0, daif\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SYS, sysreg_iss(3, 3, 4, 2, 1, 0, True)) == 0x6232_D005

    # MSR DAIFSet is reported with Op0 = 0, CRn = 4, Rt = 31.
    r = el0_rig("msr daifset, #2\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SYS, sysreg_iss(0, 3, 4, 2, 6, 31, False)) == 0x620C_D3E4
    assert r["ELR_EL1"] == EL0_CODE

    r = el0_rig("msr daifset, #2\nmrs x0, daif\nmsr daifclr, #8\nmrs x1, daif\nb .\n",
                spsr=0b1000 << 6, SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_UMA)
    r.run(10)
    assert r["el"] == 0
    assert r["x0"] == 0b1010 << 6
    assert r["x1"] == 0b0010 << 6
    assert r["daif"] == 0b0010


def test_el0_enables_trap_to_el2_under_tge():
    # With HCR_EL2.TGE = 1 (and no VHE) the SCTLR_EL1 enables still apply to EL0; what would be
    # taken to EL1 is routed to EL2 (SCTLR_EL1.UMA/DZE/nTWI: "trap to EL1, or to EL2 when
    # HCR_EL2.TGE is 1").
    r = tge_rig("msr daifset, #2\n")
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SYS, sysreg_iss(0, 3, 4, 2, 6, 31, False))
    assert r["ELR_EL2"] == EL0_CODE

    r = tge_rig("dc zva, x1\n", x1=DATA)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SYS, sysreg_iss(1, 3, 7, 4, 1, 1, False))

    r = tge_rig("wfi\n")
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_WFX, (1 << 24) | (0xE << 20))


def test_el0_sysreg_enables_trap_to_el2_under_tge():
    r = tge_rig("mrs x6, ctr_el0\n")
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SYS, sysreg_iss(3, 3, 0, 0, 1, 6, True))


def test_el1_registers_are_undefined_at_el0():
    r = el0_rig("mrs x0, sctlr_el1\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF

    r = el0_rig("msr spsel, #1\n")
    r.run()
    assert r["ESR_EL1"] == UNDEF

    r = el0_rig("mrs x0, currentel\n")
    r.run()
    assert r["ESR_EL1"] == UNDEF


def test_fpcr_access_trapped_by_cpacr_fpen():
    r = el1_rig("mrs x0, fpcr\n")                # CPACR_EL1.FPEN = 0 at reset
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ELR_EL1"] == CODE
    assert r["ESR_EL1"] >> 26 == EC_FP


def test_fpcr_access_trap_syndrome():
    r = el1_rig("msr fpcr, x0\n")
    r.run()
    assert r["ESR_EL1"] == esr(EC_FP, (1 << 24) | (0xE << 20)) == 0x1FE0_0000


def test_fpcr_access_when_enabled():
    # AHP, DN, FZ and RMode (bits 26:22) are writable in every Armv8.0 implementation.
    r = el1_rig("msr fpcr, x1\nmrs x2, fpcr\nb .\n", x1=0x07C0_0000, CPACR_EL1=1 << 20)
    r.run(10)
    assert r["x2"] == 0x07C0_0000


# ---------------------------------------------------------------------------------------------
# UNDEFINED encodings, identification registers
# ---------------------------------------------------------------------------------------------
def test_el2_registers_are_undefined_at_el1():
    for src in ("mrs x0, hcr_el2\n", "msr vbar_el2, x0\n", "mrs x0, vpidr_el2\n"):
        r = el1_rig(src)
        r.run()
        assert r["pc"] == VBAR1 + CUR_SPX, src
        assert r["ESR_EL1"] == UNDEF, src
        assert r["ELR_EL1"] == CODE, src


def test_unallocated_encodings_are_undefined():
    # S3_0_C2_C5_0, S3_0_C15_C15_7 (IMPLEMENTATION DEFINED space, nothing there), and a write to
    # a read-only register (MIDR_EL1, S3_0_C0_C0_0).
    for src in ("mrs x0, s3_0_c2_c5_0\n", "msr s3_0_c15_c15_7, x0\n", "msr s3_0_c0_c0_0, x0\n"):
        r = el1_rig(src)
        r.run()
        assert r["pc"] == VBAR1 + CUR_SPX, src
        assert r["ESR_EL1"] == UNDEF, src


def test_midr_mpidr_virtualization():
    r = Rig()
    r.code(CODE, "msr spsr_el2, x20\nmsr elr_el2, x21\nmrs x10, midr_el1\nmrs x11, mpidr_el1\n"
                 "eret\n")
    r.code(EL0_CODE, "mrs x0, midr_el1\nmrs x1, mpidr_el1\nb .\n")
    r.boot(2, x20=DAIF_ALL | EL1H, x21=EL0_CODE, VPIDR_EL2=0x411F_D071,
           VMPIDR_EL2=(1 << 31) | 0x0102)
    r.run(20)
    assert r["x10"] == MIDR                      # EL2 sees the real values
    assert r["x11"] == 1 << 31                  # PE 0: Aff0 = 0, bit 31 RES1
    assert r["el"] == 1
    assert r["x0"] == 0x411F_D071                # EL1 sees VPIDR_EL2 / VMPIDR_EL2
    assert r["x1"] == (1 << 31) | 0x0102


def test_id_space_reads_as_zero():
    r = el1_rig("mrs x0, s3_0_c0_c3_7\nmrs x1, id_aa64isar1_el1\nmrs x2, s3_0_c0_c7_7\nb .\n",
                x0=-1, x1=-1, x2=-1)
    r.run(10)
    assert (r["x0"], r["x1"], r["x2"]) == (0, 0, 0)

    r = el1_rig("mrs x2, s3_0_c0_c3_7\n", HCR_EL2=HCR_RW | HCR_TID3)
    r.run()
    trapped_to_el2(r, sysreg_iss(3, 0, 0, 3, 7, 2, True), CODE)


# ---------------------------------------------------------------------------------------------
# PSTATE fields
# ---------------------------------------------------------------------------------------------
def test_spsel_banks_the_stack_pointer():
    r = el1_rig("mrs x0, spsel\nmsr spsel, #0\nmov x1, sp\nmrs x2, spsel\nmsr spsel, x9\n"
                "mov x3, sp\nb .\n", x9=1, sp_el0=0x4000_C000)
    r.run(20)
    assert r["x0"] == 1
    assert r["x1"] == 0x4000_C000
    assert r["x2"] == 0
    assert r["x3"] == 0x4000_F000               # SP_EL1 (Rig's STACK)
    assert r["spsel"] == 1


def test_currentel_nzcv_daif_round_trips():
    r = el1_rig("mrs x0, currentel\nmsr nzcv, x1\nmrs x2, nzcv\nmsr daif, x3\nmrs x4, daif\n"
                "msr daifclr, #4\nmrs x5, daif\nmsr daifset, #0xf\nmrs x6, daif\nb .\n",
                x1=0xA000_0000 | 0x0FFF_FFFF, x3=0x140)
    r.run(20)
    assert r["x0"] == 1 << 2
    assert r["x2"] == 0xA000_0000                # only N Z C V are kept
    assert r["nzcv"] == 0xA000_0000
    assert r["x4"] == 0x140
    assert r["x5"] == 0x040
    assert r["x6"] == 0x3C0

    r = el2_rig("mrs x0, currentel\nb .\n")
    r.run(5)
    assert r["x0"] == 2 << 2


def test_msr_pan_immediate():
    # FEAT_PAN (Armv8.1, advertised by ID_AA64MMFR1_EL1.PAN): EL1 and up; UAO (Armv8.2) is not
    # implemented, so its MSR (immediate) is UNDEFINED.
    r = el1_rig("msr pan, #1\nmrs x0, s3_0_c4_c2_3\nb .\n")
    r.run(10)
    assert r.m.cpus[0][L.PSTATE_PAN] == 1
    assert r["x0"] == 1 << 22

    r = el0_rig("msr pan, #1\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF

    r = el1_rig(".arch armv8.2-a\nmsr uao, #1\n")      # the assembler must be told it is v8.2
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == UNDEF


# ---------------------------------------------------------------------------------------------
# DC ZVA
# ---------------------------------------------------------------------------------------------
def test_dc_zva_zeroes_the_aligned_64_byte_block():
    # With stage 1 off data is Device memory, where DC ZVA faults; HCR_EL2.DC = 1 makes the
    # EL1&0 default memory type Normal Write-Back (and turns stage 2 on: identity here).
    r = el1_rig("dc zva, x1\nb .\n", x1=DATA + 0x47, HCR_EL2=HCR_RW | HCR_DC)
    identity_stage2(r.m, S2_TABLES)
    r.m.write_phys(DATA, bytes(range(1, 193)))
    r.run(5)
    assert r["pc"] == CODE + 4
    got = r.m.read_phys(DATA, 192)
    assert got[:64] == bytes(range(1, 65))
    assert got[64:128] == bytes(64)
    assert got[128:] == bytes(range(129, 193))


def test_dc_zva_on_device_memory_is_an_alignment_fault():
    r = el1_rig("dc zva, x1\n", x1=DATA + 0x13)
    r.m.write_phys(DATA, b"\xAA" * 64)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    # DC ZVA faults as a store: DFSC = alignment, WnR = 1, CM = 0.
    assert r["ESR_EL1"] == esr(EC_DABT_SAME, 0x21 | 1 << 6) == 0x9600_0061
    assert r["FAR_EL1"] == DATA + 0x13
    assert r["ELR_EL1"] == CODE
    assert r.m.read_phys(DATA, 64) == b"\xAA" * 64


def test_dc_zva_traps():
    iss = sysreg_iss(1, 3, 7, 4, 1, 1, False)
    assert iss == 0x12_DC28
    r = el0_rig("dc zva, x1\n", x1=DATA)          # SCTLR_EL1.DZE = 0
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SYS, iss) == 0x6212_DC28
    assert r["ELR_EL1"] == EL0_CODE

    r = el1_rig("dc zva, x1\n", x1=DATA, HCR_EL2=HCR_RW | HCR_TDZ)
    r.run()
    trapped_to_el2(r, iss, CODE)

    # DZE = 1 lets EL0 through to the HCR_EL2.TDZ check.
    r = el0_rig("dc zva, x1\n", x1=DATA, HCR_EL2=HCR_RW | HCR_TDZ,
                SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_DZE)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SYS, iss)


def test_dczid_el0():
    r = el1_rig("mrs x0, dczid_el0\nb .\n")
    r.run(5)
    assert r["x0"] == 4                          # BS = 4 (64 bytes), DZP = 0 at EL1
    r = el1_rig("mrs x0, dczid_el0\nb .\n", HCR_EL2=HCR_RW | HCR_TDZ)
    r.run(5)
    assert r["x0"] == 0x14                       # DZP = 1: DC ZVA would trap


# ---------------------------------------------------------------------------------------------
# Cache maintenance
# ---------------------------------------------------------------------------------------------
def test_cache_maintenance_at_el0():
    iss = sysreg_iss(1, 3, 7, 10, 1, 2, False)    # DC CVAC, X2
    r = el0_rig("dc cvac, x2\n", x2=DATA)          # SCTLR_EL1.UCI = 0
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SYS, iss) == 0x6212_DC54

    r = el0_rig("dc cvac, x2\ndc civac, x2\ndc cvau, x2\nic ivau, x2\nb .\n", x2=DATA,
                SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_UCI)
    r.run(10)
    assert r["el"] == 0 and r["pc"] == EL0_CODE + 16

    r = el0_rig("dc ivac, x2\n", x2=DATA, SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_UCI)
    r.run()
    assert r["ESR_EL1"] == UNDEF                  # invalidate without clean: EL1 and up

    r = el0_rig("ic iallu\n", SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_UCI)
    r.run()
    assert r["ESR_EL1"] == UNDEF


def test_cache_maintenance_traps_to_el2():
    cases = [
        ("dc civac, x2", HCR_TPC, (3, 7, 14, 1)),
        ("dc ivac, x2", HCR_TPC, (0, 7, 6, 1)),
        ("dc cvau, x2", HCR_TPU, (3, 7, 11, 1)),
        ("ic ivau, x2", HCR_TPU, (3, 7, 5, 1)),
        ("ic iallu", HCR_TPU, (0, 7, 5, 0)),
        ("ic ialluis", HCR_TPU, (0, 7, 1, 0)),
        ("dc cisw, x2", HCR_TSW, (0, 7, 14, 2)),
        ("dc csw, x2", HCR_TSW, (0, 7, 10, 2)),
    ]
    for src, bit, (op1, crn, crm, op2) in cases:
        rt = 2 if "x2" in src else 31
        r = el1_rig(src + "\n", x2=DATA, HCR_EL2=HCR_RW | bit)
        r.run()
        trapped_to_el2(r, sysreg_iss(1, op1, crn, crm, op2, rt, False), CODE)


def test_cache_maintenance_by_va_faults_like_an_access():
    # A VA beyond the 40-bit PA range, stage 1 off: Address size fault, level 0; CM = 1, WnR = 1.
    r = el1_rig("dc civac, x2\n", x2=1 << 40)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_DABT_SAME, 1 << 8 | 1 << 6) == 0x9600_0140
    assert r["FAR_EL1"] == 1 << 40


def test_unallocated_sys_and_sysl_are_undefined():
    # SYS #0, C7, C9, #0 (AT S1E1RP, Armv8.2) and SYSL X0, #0, C7, C5, #0.
    for word in (0xD5087900, 0xD5287500, 0xD5097000):
        r = el1_rig(f".word {word:#x}\n")
        r.run()
        assert r["pc"] == VBAR1 + CUR_SPX, hex(word)
        assert r["ESR_EL1"] == UNDEF, hex(word)


# ---------------------------------------------------------------------------------------------
# AT
# ---------------------------------------------------------------------------------------------
# PAR_EL1 for a successful translation with stage 1 off: PA[47:12], bit 11 RES1, NS (bit 9;
# UNKNOWN for a Non-secure regime, armvirt reports the NS space), SH = 0b10 and ATTR = 0x00 for
# Device-nGnRnE.
def par_ok(pa: int, attr: int = 0x00, sh: int = 0b10) -> int:
    return (attr << 56) | (pa & 0xFFFF_FFFF_F000) | 1 << 11 | 1 << 9 | sh << 7


def test_at_with_translation_off():
    r = el1_rig("at s1e1r, x1\nmrs x2, par_el1\nat s1e0w, x3\nmrs x4, par_el1\n"
                "at s1e1w, x5\nmrs x6, par_el1\nb .\n", x1=0x4000_1234, x3=0x1_2345_6789,
                x5=1 << 40)
    r.run(10)
    assert r["x2"] == par_ok(0x4000_1234) == 0x4000_1B00
    assert r["x4"] == par_ok(0x1_2345_6789)
    assert r["x6"] == 1 << 11 | 0b000000 << 1 | 1   # F = 1, FST = address size fault, level 0

    r = el1_rig("at s1e1r, x1\nb .\n", x1=0x4000_5000, HCR_EL2=HCR_RW | HCR_DC)
    identity_stage2(r.m, S2_TABLES)
    r.run(5)
    assert r["PAR_EL1"] == par_ok(0x4000_5000, 0xFF, 0b00)   # Normal WB, Non-shareable


def test_at_el2_forms():
    r = el2_rig("at s1e2r, x1\nmrs x2, par_el1\nat s12e1r, x3\nmrs x4, par_el1\n"
                "at s12e0w, x3\nmrs x5, par_el1\nb .\n", x1=0x4000_2345, x3=0x4000_6000)
    r.run(10)
    assert r["x2"] == par_ok(0x4000_2345)
    assert r["x4"] == par_ok(0x4000_6000)
    assert r["x5"] == par_ok(0x4000_6000)

    for src in ("at s1e2r, x1\n", "at s12e1w, x1\n"):
        r = el1_rig(src)
        r.run()
        assert r["pc"] == VBAR1 + CUR_SPX, src
        assert r["ESR_EL1"] == UNDEF, src

    r = el0_rig("at s1e0r, x1\n")
    r.run()
    assert r["ESR_EL1"] == UNDEF


# ---------------------------------------------------------------------------------------------
# TLBI
# ---------------------------------------------------------------------------------------------
def test_tlbi_undefined_at_el0_and_el2_ops_at_el1():
    r = el0_rig("tlbi vmalle1\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF

    for src in ("tlbi alle2\n", "tlbi vmalls12e1is\n", "tlbi ipas2e1, x1\n"):
        r = el1_rig(src)
        r.run()
        assert r["pc"] == VBAR1 + CUR_SPX, src
        assert r["ESR_EL1"] == UNDEF, src


def test_tlbi_trapped_by_ttlb():
    r = el1_rig("tlbi vmalle1is\n", HCR_EL2=HCR_RW | HCR_TTLB)
    r.run()
    trapped_to_el2(r, sysreg_iss(1, 0, 8, 3, 0, 31, False), CODE)
    assert r["ESR_EL2"] == 0x6210_23E6

    r = el1_rig("tlbi vae1, x3\n", HCR_EL2=HCR_RW | HCR_TTLB)
    r.run()
    trapped_to_el2(r, sysreg_iss(1, 0, 8, 7, 1, 3, False), CODE)
    assert r["ESR_EL2"] == 0x6212_206E


def test_tlbi_drops_cached_code_translations():
    r = Rig(smp=2)
    r.code(CODE, "nop\ntlbi vmalle1\nb .\n")
    r.boot(1)
    r.boot(1, pe=1, entry=CODE + 8)
    r.run(1)                                      # PE 0 runs the NOP: its code page is cached
    assert r.m.cpus[0][L.CODE_VPAGE] == CODE >> 12
    r.m.cpus[1][L.CODE_VPAGE] = 0x1234            # a cached page on PE 1
    r.m.mach[L.CUR_PE] = 0
    r.run(1)                                      # PE 0 runs the TLBI
    assert r["pc"] == CODE + 8
    assert r.m.cpus[0][L.CODE_VPAGE] == NO_CODE_PAGE          # local: this PE only
    assert r.m.cpus[1][L.CODE_VPAGE] == 0x1234

    r = Rig(smp=2)
    r.code(CODE, "tlbi alle1is\nb .\n")
    r.boot(2)
    r.boot(1, pe=1, entry=CODE + 4)
    r.m.cpus[1][L.CODE_VPAGE] = 0x1234
    r.run(1)
    assert r["pc"] == CODE + 4
    assert r.m.cpus[0][L.CODE_VPAGE] == NO_CODE_PAGE
    assert r.m.cpus[1][L.CODE_VPAGE] == NO_CODE_PAGE          # broadcast: every PE
