"""Exception entry and return on the whole machine: assembled snippets run on ``Machine``.

Every expected value (ESR, ELR, SPSR, FAR, vector address) is computed here from the Arm ARM,
not read back from the emulator:

* ESR_ELx = EC << 26 | IL << 25 | ISS (D17.2.37); IL = 1 for every A64 exception here.
* Vector offsets (D1.10.2): 0x000 current EL with SP_EL0, 0x200 current EL with SP_ELx, 0x400
  lower EL (AArch64); + 0x000 for a synchronous exception.
* SPSR_ELx = PSTATE as N:Z:C:V (31:28), IL (20), D:A:I:F (9:6), M[3:0] = EL:SP.
* Preferred return (D1.10.1): the instruction itself, except SVC/HVC (the next one).

Every entry of both vector tables holds ``b .``, so after a run the PC says which vector was
taken and everything it saved is still there to check.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from armvirt import layout as L
from armvirt.machine import Machine

CODE = 0x4000_0000        # where execution starts (EL1 or EL2)
VBAR1 = 0x4000_1000       # VBAR_EL1 (2 KiB aligned)
VBAR2 = 0x4000_2000       # VBAR_EL2
EL1_CODE = 0x4000_3000    # EL1 code entered from EL2
EL0_CODE = 0x4000_4000    # EL0 code entered by ERET
DATA = 0x4000_8000
STACK = 0x4000_F000

SYNC, CUR_SP0, CUR_SPX, LOWER = 0x000, 0x000, 0x200, 0x400
IL = 1 << 25
EC_UNKNOWN, EC_WFX, EC_FP, EC_ILLEGAL = 0x00, 0x01, 0x07, 0x0E
EC_SVC, EC_HVC, EC_SMC, EC_SYS = 0x15, 0x16, 0x17, 0x18
EC_PC_ALIGN, EC_DABT_LOWER, EC_DABT_SAME, EC_SP_ALIGN, EC_BRK = 0x22, 0x24, 0x25, 0x26, 0x3C
UNDEF = (EC_UNKNOWN << 26) | IL

# HCR_EL2 (D19.2) and other control bits
HCR_TWI, HCR_TWE, HCR_TID2, HCR_TID3, HCR_TSC = 1 << 13, 1 << 14, 1 << 17, 1 << 18, 1 << 19
HCR_TACR, HCR_TSW, HCR_TPC, HCR_TPU, HCR_TTLB = 1 << 21, 1 << 22, 1 << 23, 1 << 24, 1 << 25
HCR_TVM, HCR_TGE, HCR_TDZ, HCR_HCD, HCR_TRVM = 1 << 26, 1 << 27, 1 << 28, 1 << 29, 1 << 30
HCR_DC = 1 << 12
HCR_RW = 1 << 31
MDCR_TDE = 1 << 8
SCTLR_SA, SCTLR_SA0, SCTLR_UMA, SCTLR_DZE, SCTLR_UCT = 1 << 3, 1 << 4, 1 << 9, 1 << 14, 1 << 15
SCTLR_NTWI, SCTLR_NTWE, SCTLR_UCI = 1 << 16, 1 << 18, 1 << 26
SCTLR_EL1_RESET = 0x30D0_0800  # the RES1 bits and EOS... as the sysreg table resets it

# PSTATE in SPSR format
EL0T, EL1T, EL1H, EL2T, EL2H = 0b0000, 0b0100, 0b0101, 0b1000, 0b1001
DAIF_ALL = 0xF << 6


def esr(ec: int, iss: int = 0) -> int:
    return (ec << 26) | IL | iss


def sysreg_iss(op0, op1, crn, crm, op2, rt, read):
    """ISS of EC 0x18 (D17.2.37): Op0 21:20, Op2 19:17, Op1 16:14, CRn 13:10, Rt 9:5, CRm 4:1,
    Direction 0 (1 = read)."""
    return ((op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1)
            | int(read))


def asm(src: str, base: int) -> bytes:
    """Assemble with the project's toolchain (``armvirt.build.assemble``)."""
    from armvirt.build import assemble
    return assemble(src, base).code


class Rig:
    """A one- (or two-) PE machine with both vector tables full of ``b .``."""

    def __init__(self, conduit: str = "none", smp: int = 1):
        self.m = Machine(ram_size=1 << 20, smp=smp, psci_conduit=conduit)
        loop = (0x1400_0000).to_bytes(4, "little")   # b .
        for vbar in (VBAR1, VBAR2):
            for off in range(0, 0x800, 0x80):
                self.m.write_phys(vbar + off, loop)

    def code(self, addr: int, src: str) -> int:
        data = asm(src, addr)
        self.m.write_phys(addr, data)
        return addr

    def boot(self, el: int, entry: int = CODE, pe: int = 0, **regs) -> None:
        m = self.m
        m.boot_pe(pe, entry, el=el, sp=STACK)
        m.set_reg("VBAR_EL1", VBAR1, pe)
        m.set_reg("VBAR_EL2", VBAR2, pe)
        for name, value in regs.items():
            m.set_reg(name, value, pe)

    def run(self, n: int = 40):
        return self.m.run(max_insns=n)

    def __getitem__(self, name: str) -> int:
        return self.m.reg(name)


def el0_rig(el0_src: str, *, spsr: int = EL0T, conduit: str = "none", **regs) -> Rig:
    """EL1 code builds SPSR_EL1/ELR_EL1 and ERETs into ``el0_src`` at EL0_CODE."""
    r = Rig(conduit)
    r.code(CODE, "msr spsr_el1, x20\nmsr elr_el1, x21\neret\n")
    r.code(EL0_CODE, el0_src)
    r.boot(1, x20=spsr, x21=EL0_CODE, **regs)
    return r


# ---------------------------------------------------------------------------------------------
# SVC, HVC, SMC, BRK, UDF
# ---------------------------------------------------------------------------------------------
def test_svc_from_el0_saves_pstate_and_returns_next_insn():
    spsr = (0b0110 << 28) | (0b0101 << 6) | EL0T   # Z, C set; A and F masked
    r = el0_rig("nop\nsvc #0x1234\n", spsr=spsr)
    r.run()
    assert r["el"] == 1
    assert r["pc"] == VBAR1 + LOWER + SYNC
    assert r["ESR_EL1"] == esr(EC_SVC, 0x1234) == 0x5600_1234
    assert r["ELR_EL1"] == EL0_CODE + 8
    assert r["SPSR_EL1"] == spsr
    assert r["daif"] == 0xF            # every exception masks D, A, I, F
    assert r["spsel"] == 1


def test_svc_from_el1_with_sp_el1_and_sp_el0():
    r = Rig()
    r.code(CODE, "svc #1\n")
    r.boot(1)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_SVC, 1)
    assert r["ELR_EL1"] == CODE + 4
    assert r["SPSR_EL1"] == DAIF_ALL | EL1H

    r = Rig()
    r.code(CODE, "msr spsel, #0\nsvc #2\n")
    r.boot(1)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SP0
    assert r["ESR_EL1"] == esr(EC_SVC, 2)
    assert r["SPSR_EL1"] == DAIF_ALL | EL1T


def test_svc_at_el2_stays_at_el2():
    r = Rig()
    r.code(CODE, "svc #0xffff\n")
    r.boot(2)
    r.run()
    assert r["el"] == 2
    assert r["pc"] == VBAR2 + CUR_SPX
    assert r["ESR_EL2"] == esr(EC_SVC, 0xFFFF)
    assert r["ELR_EL2"] == CODE + 4
    assert r["SPSR_EL2"] == DAIF_ALL | EL2H


def test_hvc_from_el1_goes_to_el2():
    r = Rig()
    r.code(CODE, "nop\nhvc #0x55\n")
    r.boot(1)
    r.run()
    assert r["el"] == 2
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_HVC, 0x55) == 0x5A00_0055
    assert r["ELR_EL2"] == CODE + 8
    assert r["SPSR_EL2"] == DAIF_ALL | EL1H


def test_hvc_from_el2_is_taken_at_el2():
    r = Rig()
    r.code(CODE, "hvc #7\n")
    r.boot(2)
    r.run()
    assert r["pc"] == VBAR2 + CUR_SPX
    assert r["ESR_EL2"] == esr(EC_HVC, 7)
    assert r["ELR_EL2"] == CODE + 4


def test_hvc_undefined_at_el0_and_with_hcd():
    r = el0_rig("hvc #1\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == EL0_CODE            # UNDEFINED: the instruction itself

    r = Rig()
    r.code(CODE, "hvc #1\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_HCD)
    r.run()
    assert r["el"] == 1
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == CODE


def test_hvc_on_the_psci_conduit_is_answered_by_the_board():
    r = Rig("hvc")
    r.code(CODE, "hvc #0\nb .\n")
    r.boot(1, x0=0x8400_0000)                  # PSCI_VERSION
    r.run(10)
    assert r["el"] == 1
    assert r["x0"] == 0x1_0001                 # PSCI 1.1
    assert r["pc"] == CODE + 4

    r = Rig("hvc")
    r.code(CODE, "hvc #0\nb .\n")
    r.boot(1, x0=0x8400_0008)                  # SYSTEM_OFF
    assert r.run(10).reason == "system_off"


def test_smc_trapped_by_tsc_returns_to_the_smc():
    r = Rig()
    r.code(CODE, "nop\nsmc #0x77\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_TSC)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SMC, 0x77) == 0x5E00_0077
    assert r["ELR_EL2"] == CODE + 4            # a trap: preferred return is the SMC itself
    assert r["SPSR_EL2"] == DAIF_ALL | EL1H


def test_smc_without_el3():
    r = Rig()                                  # no EL3, no PSCI conduit: UNDEFINED
    r.code(CODE, "smc #0\n")
    r.boot(1)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == CODE

    r = el0_rig("smc #0\n", HCR_EL2=HCR_RW | HCR_TSC)   # EL0: UNDEFINED before TSC
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF

    r = Rig("smc")                             # the board's PSCI stands in for EL3
    r.code(CODE, "smc #0\nb .\n")
    r.boot(1, x0=0x8400_0000)
    r.run(10)
    assert r["x0"] == 0x1_0001
    assert r["pc"] == CODE + 4


def test_brk_from_el0_el1_and_debug_routing():
    r = el0_rig("brk #7\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_BRK, 7) == 0xF200_0007
    assert r["ELR_EL1"] == EL0_CODE            # the BRK itself

    r = Rig()
    r.code(CODE, "brk #0x100\n")
    r.boot(1, MDCR_EL2=MDCR_TDE)               # MDCR_EL2.TDE routes debug exceptions to EL2
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_BRK, 0x100)
    assert r["ELR_EL2"] == CODE


def test_udf_and_unallocated_are_undefined():
    r = el0_rig(".word 0x00000003\n")          # udf #3
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == EL0_CODE

    r = Rig()
    r.code(CODE, "nop\nhlt #0\n")              # halting debug disabled: UNDEFINED
    r.boot(1)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == CODE + 4


# ---------------------------------------------------------------------------------------------
# Alignment faults
# ---------------------------------------------------------------------------------------------
def test_pc_alignment_fault_after_br_from_el0_and_el1():
    target = EL0_CODE + 0x102
    r = el0_rig("br x1\n", x1=target)
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_PC_ALIGN) == 0x8A00_0000
    assert r["ELR_EL1"] == target              # the misaligned PC itself
    assert r["FAR_EL1"] == target

    r = Rig()
    r.code(CODE, "blr x2\n")
    r.boot(1, x2=CODE + 9)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_PC_ALIGN)
    assert r["ELR_EL1"] == CODE + 9
    assert r["FAR_EL1"] == CODE + 9
    assert r["x30"] == CODE + 4


def test_sp_alignment_fault():
    r = Rig()
    r.code(CODE, "ldr x0, [sp]\n")
    r.boot(1, SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_SA, sp=STACK + 8)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_SP_ALIGN) == 0x9A00_0000
    assert r["ELR_EL1"] == CODE

    r = el0_rig("str x0, [sp, #8]\n", SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_SA0)
    r.m.set_reg("sp_el0", STACK + 4)
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_SP_ALIGN)
    assert r["ELR_EL1"] == EL0_CODE


def test_data_alignment_fault_on_device_memory():
    # With stage 1 off every data access is Device-nGnRnE, which faults when unaligned.
    r = el0_rig("ldr x0, [x1]\n", x1=DATA + 1)
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_DABT_LOWER, 0x21) == 0x9200_0021   # DFSC alignment
    assert r["ELR_EL1"] == EL0_CODE
    assert r["FAR_EL1"] == DATA + 1

    r = Rig()
    r.code(CODE, "str w0, [x1]\n")
    r.boot(1, x1=DATA + 2)
    r.run()
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_DABT_SAME, 0x21 | 1 << 6)          # WnR
    assert r["FAR_EL1"] == DATA + 2


_TOP_PAGE_SCRIPT = """
from armvirt.machine import Machine
m = Machine(ram_size=1 << 20)
m.write_phys(0x40000000, (0xD61F0020).to_bytes(4, "little"))   # br x1
m.boot_pe(0, 0x40000000, el=1)
m.set_reg("VBAR_EL1", 0x40001000)
m.set_reg("x1", 0xFFFFFFFFFFFFF002)
m.run(max_insns=2)
print(m.reg("pc"), m.reg("ESR_EL1"), m.reg("ELR_EL1"), m.reg("FAR_EL1"))
"""


def test_pc_alignment_fault_in_the_top_page():
    # Run in a child: today this reads outside RAM and kills the interpreter.
    out = subprocess.run([sys.executable, "-c", _TOP_PAGE_SCRIPT], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    target = 0xFFFF_FFFF_FFFF_F002
    assert [int(v) for v in out.stdout.split()] == [VBAR1 + CUR_SPX, esr(EC_PC_ALIGN), target,
                                                      target]


# ---------------------------------------------------------------------------------------------
# Routing with HCR_EL2.TGE
# ---------------------------------------------------------------------------------------------
def tge_rig(el0_src: str, **regs) -> Rig:
    r = Rig()
    r.code(CODE, "msr spsr_el2, x20\nmsr elr_el2, x21\neret\n")
    r.code(EL0_CODE, el0_src)
    r.boot(2, x20=EL0T, x21=EL0_CODE, HCR_EL2=HCR_RW | HCR_TGE, **regs)
    return r


def test_tge_routes_el0_exceptions_to_el2():
    r = tge_rig("svc #9\n")
    r.run()
    assert r["el"] == 2
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_SVC, 9)
    assert r["ELR_EL2"] == EL0_CODE + 4
    assert r["SPSR_EL2"] == EL0T
    assert r["ESR_EL1"] == 0 and r["ELR_EL1"] == 0

    r = tge_rig(".word 0\n")                  # udf #0
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == UNDEF
    assert r["ELR_EL2"] == EL0_CODE

    r = tge_rig("br x3\n", x3=EL0_CODE + 0x41)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_PC_ALIGN)
    assert r["FAR_EL2"] == EL0_CODE + 0x41

    r = tge_rig("brk #1\n")
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_BRK, 1)


# ---------------------------------------------------------------------------------------------
# ERET
# ---------------------------------------------------------------------------------------------
def test_eret_to_el0_restores_pstate():
    spsr = (0b1010 << 28) | (0b0011 << 6) | EL0T
    r = el0_rig("b .\n", spsr=spsr)
    r.run(10)
    assert r["el"] == 0 and r["spsel"] == 0
    assert r["nzcv"] == 0b1010 << 28
    assert r["daif"] == 0b0011
    assert r["pc"] == EL0_CODE


def test_eret_from_el2_to_el1_and_back_with_banked_sp():
    r = Rig()
    r.code(CODE, "msr spsr_el2, x20\nmsr elr_el2, x21\neret\n")
    r.code(EL1_CODE, "mov x2, sp\nmrs x3, currentel\nhvc #3\n")
    spsr = (0b0100 << 28) | (0b1000 << 6) | EL1H
    r.boot(2, x20=spsr, x21=EL1_CODE)
    r.m.set_reg("sp_el1", 0x4000_E000)
    r.run()
    assert r["x2"] == 0x4000_E000
    assert r["x3"] == 1 << 2
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_HVC, 3)
    assert r["ELR_EL2"] == EL1_CODE + 12
    assert r["SPSR_EL2"] == spsr
    assert r["sp"] == STACK                    # back on SP_EL2


def test_eret_at_el0_is_undefined():
    r = el0_rig("eret\n")
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == UNDEF
    assert r["ELR_EL1"] == EL0_CODE


def test_illegal_exception_return_sets_il_and_faults_next_insn():
    # ERET at EL1 to EL2 (a higher EL) is an illegal return: EL and SP stay, PSTATE.IL = 1, PC =
    # ELR; the next instruction takes the Illegal Execution state exception (EC 0x0E).
    r = Rig()
    r.code(CODE, "msr spsr_el1, x20\nmsr elr_el1, x21\neret\n")
    r.code(EL1_CODE, "nop\n")
    r.boot(1, x20=(0b0001 << 28) | DAIF_ALL | EL2H, x21=EL1_CODE)
    r.run()
    assert r["el"] == 1
    assert r["pc"] == VBAR1 + CUR_SPX
    assert r["ESR_EL1"] == esr(EC_ILLEGAL) == 0x3A00_0000
    assert r["ELR_EL1"] == EL1_CODE
    assert r["SPSR_EL1"] == (0b0001 << 28) | (1 << 20) | DAIF_ALL | EL1H

    # ERET to EL1 while HCR_EL2.TGE = 1 is illegal too.
    r = Rig()
    r.code(CODE, "msr spsr_el2, x20\nmsr elr_el2, x21\neret\n")
    r.code(EL1_CODE, "nop\n")
    r.boot(2, x20=DAIF_ALL | EL1H, x21=EL1_CODE, HCR_EL2=HCR_RW | HCR_TGE)
    r.run()
    assert r["el"] == 2
    assert r["pc"] == VBAR2 + CUR_SPX
    assert r["ESR_EL2"] == esr(EC_ILLEGAL)
    assert r["ELR_EL2"] == EL1_CODE
    assert r["SPSR_EL2"] == (1 << 20) | DAIF_ALL | EL2H


def test_eret_to_misaligned_elr_takes_pc_alignment_fault():
    r = el0_rig("nop\n")
    r.m.set_reg("x21", EL0_CODE + 2)
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_PC_ALIGN)
    assert r["ELR_EL1"] == EL0_CODE + 2
    assert r["FAR_EL1"] == EL0_CODE + 2
    assert r["SPSR_EL1"] == EL0T


# ---------------------------------------------------------------------------------------------
# WFI / WFE
# ---------------------------------------------------------------------------------------------
WFX_ISS = (1 << 24) | (0xE << 20)   # CV = 1, COND = 0b1110 (A64); TI = 1 for WFE


def test_wfi_and_wfe_trapped_by_hcr_el2():
    r = Rig()
    r.code(CODE, "nop\nwfi\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_TWI)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_WFX, WFX_ISS) == 0x07E0_0000
    assert r["ELR_EL2"] == CODE + 4            # a trap: the WFI itself

    r = Rig()
    r.code(CODE, "wfe\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_TWE)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_WFX, WFX_ISS | 1) == 0x07E0_0001
    assert r["ELR_EL2"] == CODE


def test_wfi_at_el0_traps_to_el1_first():
    # SCTLR_EL1.nTWI = 0 traps EL0's WFI to EL1 before HCR_EL2.TWI is considered.
    r = el0_rig("wfi\n", HCR_EL2=HCR_RW | HCR_TWI)
    r.run()
    assert r["pc"] == VBAR1 + LOWER
    assert r["ESR_EL1"] == esr(EC_WFX, WFX_ISS)
    assert r["ELR_EL1"] == EL0_CODE

    # The ERET into EL0 sent a local event (an exception return is a WFE wake-up event): the
    # first WFE consumes it and completes, the second one is trapped.
    r = el0_rig("wfe\nwfe\n", HCR_EL2=HCR_RW | HCR_TWE,
                SCTLR_EL1=SCTLR_EL1_RESET | SCTLR_NTWI | SCTLR_NTWE)
    r.run()
    assert r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == esr(EC_WFX, WFX_ISS | 1)
    assert r["ELR_EL2"] == EL0_CODE + 4


def test_wfi_sleeps_and_wfe_consumes_the_event_register():
    r = Rig()
    r.code(CODE, "wfi\nb .\n")
    r.boot(1)
    info = r.run()
    assert info.reason == "idle"
    assert r["pc"] == CODE + 4
    assert r.m.cpus[0][L.POWER] == L.POWER_WFI

    r = Rig()
    r.code(CODE, "sevl\nwfe\nb .\n")
    r.boot(1, HCR_EL2=HCR_RW | HCR_TWE)         # an event pending: WFE neither traps nor sleeps
    r.run(10)
    assert r["pc"] == CODE + 8
    assert r.m.cpus[0][L.EVENT_REG] == 0


def test_sev_wakes_a_pe_sleeping_in_wfe():
    r = Rig(smp=2)
    r.code(CODE, "sev\nb .\n")
    r.code(EL1_CODE, "wfe\nmov x5, #1\nb .\n")
    r.boot(1, pe=0)
    r.boot(1, entry=EL1_CODE, pe=1)
    r.m.mach[L.CUR_PE] = 1                      # PE1 goes first and falls asleep
    r.run(3000)
    c1 = r.m.cpus[1]
    assert c1[L.POWER] == L.POWER_ON
    assert r.m.reg("x5", pe=1) == 1
    assert c1[L.EVENT_REG] == 0                 # the event was consumed by the WFE
    assert r.m.cpus[0][L.EVENT_REG] == 1        # SEV also sets the sender's register
