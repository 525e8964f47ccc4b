"""Helpers for the GIC, timer and PMU tests: assemble snippets that program the GIC, run them on
a Machine, and look at the result.

Register offsets are written out here from the GIC architecture specification (IHI 0069,
chapter 12) rather than imported from the emulator, so that a wrong offset in either place
shows up as a failing test.
"""
from __future__ import annotations

from armvirt import memmap
from armvirt.build import assemble
from armvirt.build import board_defines
from test_exceptions import CODE, DATA, STACK, VBAR1, VBAR2, Rig

GICD = memmap.GICD_BASE
GICR = memmap.GICR_BASE
SGI_BASE = 0x1_0000

# GICD (IHI 0069 12.9)
GICD_CTLR, GICD_TYPER, GICD_IIDR = 0x0, 0x4, 0x8
GICD_IGROUPR, GICD_ISENABLER, GICD_ICENABLER = 0x80, 0x100, 0x180
GICD_ISPENDR, GICD_ICPENDR, GICD_ISACTIVER, GICD_ICACTIVER = 0x200, 0x280, 0x300, 0x380
GICD_IPRIORITYR, GICD_ICFGR, GICD_IROUTER, GICD_PIDR2 = 0x400, 0xC00, 0x6000, 0xFFE8
# GICR (IHI 0069 12.10/12.11); the SGI_base registers are given with their frame offset
GICR_CTLR, GICR_IIDR, GICR_TYPER, GICR_WAKER = 0x0, 0x4, 0x8, 0x14
GICR_IGROUPR0 = SGI_BASE + 0x80
GICR_ISENABLER0 = SGI_BASE + 0x100
GICR_ICENABLER0 = SGI_BASE + 0x180
GICR_ISPENDR0 = SGI_BASE + 0x200
GICR_ICPENDR0 = SGI_BASE + 0x280
GICR_ISACTIVER0 = SGI_BASE + 0x300
GICR_ICACTIVER0 = SGI_BASE + 0x380
GICR_IPRIORITYR = SGI_BASE + 0x400
GICR_ICFGR0 = SGI_BASE + 0xC00
GICR_ICFGR1 = SGI_BASE + 0xC04

# Vector offsets (Arm ARM D1.10.2)
CUR_SPX, LOWER = 0x200, 0x400
IRQ, FIQ, SERROR = 0x80, 0x100, 0x180
SPURIOUS = 1023


def gicr(pe: int, off: int) -> int:
    return GICR + pe * memmap.GICR_STRIDE + off


def w32(addr: int, value: int) -> str:
    """Assembly storing a 32-bit value (x9, x10 scratch)."""
    return f"ldr x9, ={addr:#x}\nldr w10, ={value & 0xFFFF_FFFF:#x}\nstr w10, [x9]\n"


def r32(reg: str, addr: int) -> str:
    """Assembly loading a 32-bit register into w<reg> (x9 scratch)."""
    return f"ldr x9, ={addr:#x}\nldr w{reg}, [x9]\n"


def msr(name: str, value: int) -> str:
    return f"ldr x10, ={value:#x}\nmsr {name}, x10\n"


def sgi1r(intid: int, targets: int = 0, aff1: int = 0, irm: int = 0) -> int:
    """An ICC_SGI1R_EL1 value (IHI 0069 12.2.22)."""
    return (irm << 40) | (intid << 24) | (aff1 << 16) | targets


def gic_on(pe: int = 0, *, group1_mask: int = 0xFFFF_FFFF, enable: int = 0,
           pmr: int = 0xFF, grpen1: int = 1, grpen0: int = 0, distributor: bool = True) -> str:
    """Program the distributor (both groups on), PE ``pe``'s SGI/PPI groups and enables, and
    the CPU interface (PMR, group enables)."""
    s = w32(GICD + GICD_CTLR, 3) if distributor else ""
    s += w32(gicr(pe, GICR_WAKER), 0)
    s += w32(gicr(pe, GICR_IGROUPR0), group1_mask)
    if enable:
        s += w32(gicr(pe, GICR_ISENABLER0), enable)
    s += msr("icc_pmr_el1", pmr)
    s += msr("icc_igrpen1_el1", grpen1)
    s += msr("icc_igrpen0_el1", grpen0)
    return s


def prio(pe: int, intid: int, value: int) -> str:
    """Set the priority of an SGI/PPI (byte store to GICR_IPRIORITYR) or SPI (GICD)."""
    if intid < 32:
        addr = gicr(pe, GICR_IPRIORITYR + intid)
    else:
        addr = GICD + GICD_IPRIORITYR + intid
    return f"ldr x9, ={addr:#x}\nmov w10, #{value:#x}\nstrb w10, [x9]\n"


def asm(src: str, base: int) -> bytes:
    return assemble(src, base, defines=board_defines()).code


class GicRig(Rig):
    """tests/test_exceptions.py's Rig (vector tables of ``b .``), with the board's names
    (GICD_BASE, ...) defined for the assembler, a stack per PE, and handlers in vector slots."""

    def __init__(self, smp: int = 1, conduit: str = "none"):
        super().__init__(conduit, smp)

    def code(self, addr: int, src: str) -> int:
        self.m.write_phys(addr, asm(src, addr))
        return addr

    def vector(self, vbar: int, offset: int, src: str) -> None:
        """Put a handler (at most 32 instructions) in a vector slot."""
        data = asm(src, vbar + offset)
        assert len(data) <= 0x80, "handler too long for a vector slot"
        self.m.write_phys(vbar + offset, data)

    def boot(self, el: int, entry: int = CODE, pe: int = 0, **regs) -> None:
        super().boot(el, entry, pe, **regs)
        self.m.set_reg("sp", STACK - pe * 0x1000, pe)

    def run(self, n: int = 400):
        return self.m.run(max_insns=n)

    def reg(self, name: str, pe: int = 0) -> int:
        return self.m.reg(name, pe)
