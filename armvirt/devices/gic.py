"""GICv3 as on QEMU's `virt` board: the distributor (GICD, 0x0800_0000), one redistributor per PE
(GICR, 0x080A_0000, an RD_base and an SGI_base frame of 64 KiB each), and the state behind the
CPU interface's signals to the PE, physical and virtual. Names and behaviour follow the GIC
architecture specification (Arm IHI 0069, "GICv3 and GICv4"); the system-register side (ICC_*,
ICV_*, ICH_*) is in ``gic_sysregs.py``.

The board is a single-Security-state system: GICD_CTLR.DS = 1 and ARE = 1 (RAO/WI), so there
are two groups, Group 0 (signalled as FIQ) and Group 1 (signalled as IRQ); GICD_IGRPMODR,
GICD_NSACR and the legacy (ARE = 0) registers are RAZ/WI. No LPIs, no ITS, no message-based
SPIs; 1-of-N SPI routing is not supported (GICD_TYPER.No1N = 1: an SPI with IROUTER.IRM = 1
goes nowhere).

State (all in the machine array S, see ``layout``):

* ``S_GICD`` — GICD_CTLR, then for INTIDs 32-255 one 32-bit word per register bit-array
  (``W_GROUP`` ... ``W_EDGE``: word n covers INTIDs 32n..32n+31, as GICD_ISENABLER<n> does),
  the priority byte and the IROUTER value of each SPI, and each SPI's target PE (derived from
  IROUTER when it is written).
* ``S_GICR`` + pe * GICR_WIDTH — GICR_WAKER, word 0 of the same bit-arrays for that PE's SGIs
  and PPIs, their priorities, and the cached highest priority pending interrupt (HPPI).

The pending state of an interrupt is the GIC's: a latch (set by an edge, by GICx_ISPENDR or an
SGI) ORed, for a level-sensitive interrupt, with its input line (``W_LEVEL``).

Every change of state ends in ``gic_update_pe``/``gic_update``: recompute the HPPI and the
PE's interrupt lines (``c[IRQ_LINES]``: IRQ, FIQ, vIRQ, vFIQ), drive the maintenance interrupt,
request the run loop's attention when a line rises, and wake a PE sleeping in WFI/WFE. The run
loop itself never looks at the GIC: taking an interrupt costs nothing until one is signalled.
"""
import numpy as np

from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import ASYNC_NONE, pending_async, wfi_wakeup
from armvirt.cpu.sysreg_table import GIC_NUM_LRS, GIC_PRI_BITS

NUM_INTIDS = memmap.GIC_NUM_INTIDS
NWORDS = NUM_INTIDS // 32
SPURIOUS = 1023
NO_PRIO = 0x100                 # "no pending interrupt" (above every priority)
PRIO_MASK = (0xFF << (8 - GIC_PRI_BITS)) & 0xFF   # implemented priority bits (0xF8)
PRE_SHIFT = 8 - GIC_PRI_BITS    # active-priority bit n stands for group priority n << PRE_SHIFT

# Bit-array kinds (the GICD_I{S,C}xxxR family and the two internal arrays)
W_GROUP = 0     # GICx_IGROUPR: 1 = Group 1
W_ENABLE = 1    # GICx_ISENABLER / ICENABLER
W_PEND = 2      # the pending latch (GICx_ISPENDR / ICPENDR, edges, SGIs)
W_ACTIVE = 3    # GICx_ISACTIVER / ICACTIVER
W_LEVEL = 4     # the input line
W_EDGE = 5      # GICx_ICFGR: 1 = edge-triggered

# S_GICD region
D_CTLR = 0
D_WORDS = 8                     # + 8 * kind + n
D_PRIO = 64                     # + INTID: GICD_IPRIORITYR byte
D_ROUTE = D_PRIO + NUM_INTIDS   # + INTID: GICD_IROUTER
D_TARGET = D_ROUTE + NUM_INTIDS  # + INTID: PE the SPI is routed to, -1 for none
assert D_TARGET + NUM_INTIDS <= L.GICD_REGION

# Each redistributor (GICR_WIDTH slots)
R_WAKER = 0
R_WORDS = 1                     # + kind: the SGI/PPI word of each bit-array
R_PRIO = 8                      # + INTID 0..31: GICR_IPRIORITYR byte
R_HPPI_ID = 40                  # cached highest priority pending interrupt: INTID
R_HPPI_PRIO = 41                # its priority, NO_PRIO when none
R_HPPI_GROUP = 42               # its group
assert R_HPPI_GROUP < L.GICR_WIDTH

# GICD_CTLR (DS = 1 layout)
CTLR_ENGRP0 = 1 << 0
CTLR_ENGRP1 = 1 << 1
CTLR_ARE = 1 << 4
CTLR_DS = 1 << 6
GICD_TYPER = (1 << 25) | (1 << 24) | (0xF << 19) | (NWORDS - 1)  # No1N, A3V, IDbits 16, ITLines
GIC_IIDR = 0x43B                # Arm, ProductID 0, r0p0 (QEMU's value; a GIC-500's is alike)
WAKER_PROCESSOR_SLEEP = 1 << 1
WAKER_CHILDREN_ASLEEP = 1 << 2
IROUTER_IRM = 1 << 31
IROUTER_MASK = (0xFF << 32) | IROUTER_IRM | 0xFFFFFF

# Distributor register map (IHI 0069 12.9)
GICD_CTLR_OFF = 0x0000
GICD_TYPER_OFF = 0x0004
GICD_IIDR_OFF = 0x0008
GICD_IGROUPR = 0x0080
GICD_ISENABLER = 0x0100
GICD_ICENABLER = 0x0180
GICD_ISPENDR = 0x0200
GICD_ICPENDR = 0x0280
GICD_ISACTIVER = 0x0300
GICD_ICACTIVER = 0x0380
GICD_IPRIORITYR = 0x0400
GICD_ICFGR = 0x0C00
GICD_IROUTER = 0x6000
# Redistributor (IHI 0069 12.10): RD_base, then SGI_base at + 64 KiB
GICR_CTLR = 0x0000
GICR_IIDR = 0x0004
GICR_TYPER = 0x0008
GICR_WAKER = 0x0014
SGI_BASE = 0x1_0000
GICR_ICFGR0 = 0x0C00
GICR_ICFGR1 = 0x0C04
ICFGR0_SGIS = 0xAAAA_AAAA       # SGIs are always edge-triggered
# Peripheral ID registers PIDR4-7, PIDR0-3, CIDR0-3 at 0xFFD0..0xFFFC (ArchRev 3 in PIDR2)
ID_GICD = (0x44, 0, 0, 0, 0x92, 0xB4, 0x3B, 0, 0x0D, 0xF0, 0x05, 0xB1)
ID_GICR = (0x44, 0, 0, 0, 0x93, 0xB4, 0x3B, 0, 0x0D, 0xF0, 0x05, 0xB1)

# ICH_* fields (IHI 0069 12.4)
ICH_HCR_EN = 1 << 0
ICH_HCR_UIE = 1 << 1
ICH_HCR_LRENPIE = 1 << 2
ICH_HCR_NPIE = 1 << 3
ICH_HCR_VGRP0EIE = 1 << 4
ICH_HCR_VGRP0DIE = 1 << 5
ICH_HCR_VGRP1EIE = 1 << 6
ICH_HCR_VGRP1DIE = 1 << 7
ICH_HCR_TC = 1 << 10
ICH_HCR_TALL0 = 1 << 11
ICH_HCR_TALL1 = 1 << 12
ICH_HCR_TDIR = 1 << 14
ICH_HCR_EOICOUNT_SHIFT = 27
ICH_VMCR_VENG0 = 1 << 0
ICH_VMCR_VENG1 = 1 << 1
ICH_VMCR_VFIQEN = 1 << 3
ICH_VMCR_VCBPR = 1 << 4
ICH_VMCR_VEOIM = 1 << 9
ICH_VMCR_VBPR1_SHIFT = 18
ICH_VMCR_VBPR0_SHIFT = 21
ICH_VMCR_VPMR_SHIFT = 24
LR_PENDING = 1 << 62
LR_ACTIVE = -(1 << 63)          # bit 63 as an int64
LR_HW = 1 << 61
LR_GROUP = 1 << 60
LR_PRIO_SHIFT = 48
LR_EOI = 1 << 41                # when HW = 0: maintenance interrupt on EOI
LR_PINTID_SHIFT = 32
NUM_LRS = GIC_NUM_LRS
MISR_EOI = 1 << 0
MISR_U = 1 << 1
MISR_LRENP = 1 << 2
MISR_NP = 1 << 3
MISR_VGRP0E = 1 << 4
MISR_VGRP0D = 1 << 5
MISR_VGRP1E = 1 << 6
MISR_VGRP1D = 1 << 7


# ---------------------------------------------------------------------------------------------
# Where things are
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def redist(pe):
    """First slot of PE ``pe``'s redistributor in S."""
    return L.S_GICR + pe * L.GICR_WIDTH


@njit(cache=True, inline="always")
def word_at(pe, kind, n):
    """Slot of bit-array ``kind``'s word n as PE ``pe`` sees it (word 0 is banked per PE)."""
    if n == 0:
        return L.S_GICR + pe * L.GICR_WIDTH + R_WORDS + kind
    return L.S_GICD + D_WORDS + 8 * kind + n


@njit(cache=True, inline="always")
def prio_at(pe, intid):
    if intid < 32:
        return L.S_GICR + pe * L.GICR_WIDTH + R_PRIO + intid
    return L.S_GICD + D_PRIO + intid


@njit(cache=True, inline="always")
def lowest_bit(x):
    """Index of the lowest set bit of a non-zero word."""
    b = 0
    while not (x >> b) & 1:
        b += 1
    return b


# ---------------------------------------------------------------------------------------------
# Physical interrupts: pending, HPPI, CPU interface signalling
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def pending_word(S, pe, n):
    """The pending state of word n: the latch, or the line for level-sensitive interrupts."""
    return S[word_at(pe, W_PEND, n)] | (S[word_at(pe, W_LEVEL, n)] & ~S[word_at(pe, W_EDGE, n)])


@njit(cache=True)
def highest_pending(S, pe):
    """The highest priority pending interrupt for PE ``pe`` (IHI 0069 4.7.2 / the pseudocode's
    HighestPriorityPendingInterrupt): pending, enabled, not active, its group enabled in
    GICD_CTLR, and (an SPI) routed to this PE. Lowest INTID wins a tie. Returns (INTID,
    priority, group), (1023, NO_PRIO, 0) when there is none."""
    best_id = SPURIOUS
    best_p = NO_PRIO
    best_g = 0
    ctlr = S[L.S_GICD + D_CTLR]
    gen = ctlr & (CTLR_ENGRP0 | CTLR_ENGRP1)
    if gen == 0:
        return best_id, best_p, best_g
    for n in range(NWORDS):
        pend = pending_word(S, pe, n) & S[word_at(pe, W_ENABLE, n)] \
            & ~S[word_at(pe, W_ACTIVE, n)] & 0xFFFFFFFF
        if pend == 0:
            continue
        grp = S[word_at(pe, W_GROUP, n)]
        if gen == CTLR_ENGRP1:
            pend &= grp
        elif gen == CTLR_ENGRP0:
            pend &= ~grp
        while pend:
            b = lowest_bit(pend)
            pend &= pend - 1
            intid = 32 * n + b
            if n > 0 and S[L.S_GICD + D_TARGET + intid] != pe:
                continue
            p = S[prio_at(pe, intid)]
            if p < best_p:
                best_p = p
                best_id = intid
                best_g = (grp >> b) & 1
    return best_id, best_p, best_g


@njit(cache=True)
def running_priority(ap):
    """The running priority from the active-priority bits (ICC_AP0R0 | ICC_AP1R0, or the ICH
    ones for the virtual interface): the group priority of the lowest set bit, 0xFF when idle."""
    if ap & 0xFFFFFFFF == 0:
        return 0xFF
    return lowest_bit(ap & 0xFFFFFFFF) << PRE_SHIFT


@njit(cache=True)
def group_prio_mask(cbpr, bpr0, bpr1, grp):
    """GroupBits(): the mask keeping the group-priority field of a priority. Group 1 uses
    BPR1 (field [7:BPR1]) unless CBPR makes it share BPR0 (field [7:BPR0+1])."""
    if grp == 1 and not cbpr:
        return (0xFF << bpr1) & 0xFF
    return (0xFF << (bpr0 + 1)) & 0xFF


@njit(cache=True)
def icc_group_prio_mask(c, grp):
    return group_prio_mask(c[SR.ICC_CTLR_EL1] & 1, c[SR.ICC_BPR0_EL1], c[SR.ICC_BPR1_EL1], grp)


@njit(cache=True)
def icc_hppi_enabled(c, S, pe):
    """There is an HPPI and its group is enabled at the CPU interface (ICC_IGRPEN<n>_EL1)."""
    r = redist(pe)
    if S[r + R_HPPI_PRIO] >= NO_PRIO:
        return False
    if S[r + R_HPPI_GROUP] == 1:
        return (c[SR.ICC_IGRPEN1_EL1] & 1) != 0
    return (c[SR.ICC_IGRPEN0_EL1] & 1) != 0


@njit(cache=True)
def icc_can_signal(c, S, pe):
    """The HPPI has sufficient priority to be signalled: above the priority mask (ICC_PMR_EL1)
    and, by group priority, above the running priority (preemption)."""
    if not icc_hppi_enabled(c, S, pe):
        return False
    r = redist(pe)
    p = S[r + R_HPPI_PRIO]
    if p >= c[SR.ICC_PMR_EL1]:
        return False
    rp = running_priority(c[SR.ICC_AP0R0_EL1] | c[SR.ICC_AP1R0_EL1])
    if rp == 0xFF:
        return True
    mask = icc_group_prio_mask(c, S[r + R_HPPI_GROUP])
    return (p & mask) < (rp & mask)


# ---------------------------------------------------------------------------------------------
# Virtual interrupts: the list registers (IHI 0069 chapter 6)
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def lr_state(lr):
    return (lr >> 62) & 3


@njit(cache=True, inline="always")
def lr_prio(lr):
    return (lr >> LR_PRIO_SHIFT) & 0xFF


@njit(cache=True)
def hppvi_index(c):
    """HighestPriorityVirtualInterrupt: the list register holding the highest priority pending
    virtual interrupt of an enabled virtual group (ICH_VMCR_EL2.VENG<n>), -1 for none. A
    priority of 0xFF is never reported."""
    vmcr = c[SR.ICH_VMCR_EL2]
    if not vmcr & (ICH_VMCR_VENG0 | ICH_VMCR_VENG1):
        return -1
    best = -1
    bp = 0xFF
    for i in range(NUM_LRS):
        lr = c[SR.ICH_LR0_EL2 + i]
        if lr_state(lr) != 1:
            continue
        if lr & LR_GROUP:
            if not vmcr & ICH_VMCR_VENG1:
                continue
        elif not vmcr & ICH_VMCR_VENG0:
            continue
        p = lr_prio(lr)
        if p < bp:
            bp = p
            best = i
    return best


@njit(cache=True)
def icv_group_prio_mask(c, grp):
    vmcr = c[SR.ICH_VMCR_EL2]
    return group_prio_mask(vmcr & ICH_VMCR_VCBPR, (vmcr >> ICH_VMCR_VBPR0_SHIFT) & 7,
                           (vmcr >> ICH_VMCR_VBPR1_SHIFT) & 7, grp)


@njit(cache=True)
def icv_running_priority(c):
    return running_priority(c[SR.ICH_AP0R0_EL2] | c[SR.ICH_AP1R0_EL2])


@njit(cache=True)
def icv_can_signal(c, lr):
    """CanSignalVirtualInterrupt: the virtual CPU interface is enabled (ICH_HCR_EL2.En), the
    interrupt is above the virtual priority mask and preempts the virtual running priority."""
    if not c[SR.ICH_HCR_EL2] & ICH_HCR_EN:
        return False
    p = lr_prio(lr)
    if p >= (c[SR.ICH_VMCR_EL2] >> ICH_VMCR_VPMR_SHIFT) & 0xFF:
        return False
    rp = icv_running_priority(c)
    if rp == 0xFF:
        return True
    mask = icv_group_prio_mask(c, 1 if lr & LR_GROUP else 0)
    return (p & mask) < (rp & mask)


@njit(cache=True)
def ich_eisr(c):
    """ICH_EISR_EL2: list registers with State = Invalid, HW = 0 and EOI = 1."""
    v = 0
    for i in range(NUM_LRS):
        lr = c[SR.ICH_LR0_EL2 + i]
        if lr_state(lr) == 0 and not lr & LR_HW and lr & LR_EOI:
            v |= 1 << i
    return v


@njit(cache=True)
def ich_elrsr(c):
    """ICH_ELRSR_EL2: list registers that hold no interrupt (free for a new one): State =
    Invalid and not waiting to report an EOI maintenance interrupt."""
    v = 0
    for i in range(NUM_LRS):
        lr = c[SR.ICH_LR0_EL2 + i]
        if lr_state(lr) == 0 and (lr & LR_HW or not lr & LR_EOI):
            v |= 1 << i
    return v


@njit(cache=True)
def ich_misr(c):
    """ICH_MISR_EL2: the maintenance interrupt conditions that hold (each needs its enable in
    ICH_HCR_EL2, except EOI which is per list register)."""
    hcr = c[SR.ICH_HCR_EL2]
    vmcr = c[SR.ICH_VMCR_EL2]
    valid = 0
    pending = False
    for i in range(NUM_LRS):
        st = lr_state(c[SR.ICH_LR0_EL2 + i])
        if st != 0:
            valid += 1
        if st == 1:
            pending = True
    v = 0
    if ich_eisr(c):
        v |= MISR_EOI
    if hcr & ICH_HCR_UIE and valid < 2:
        v |= MISR_U
    if hcr & ICH_HCR_LRENPIE and (hcr >> ICH_HCR_EOICOUNT_SHIFT) & 0x1F:
        v |= MISR_LRENP
    if hcr & ICH_HCR_NPIE and not pending:
        v |= MISR_NP
    if hcr & ICH_HCR_VGRP0EIE and vmcr & ICH_VMCR_VENG0:
        v |= MISR_VGRP0E
    if hcr & ICH_HCR_VGRP0DIE and not vmcr & ICH_VMCR_VENG0:
        v |= MISR_VGRP0D
    if hcr & ICH_HCR_VGRP1EIE and vmcr & ICH_VMCR_VENG1:
        v |= MISR_VGRP1E
    if hcr & ICH_HCR_VGRP1DIE and not vmcr & ICH_VMCR_VENG1:
        v |= MISR_VGRP1D
    return v


# ---------------------------------------------------------------------------------------------
# Signalling
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def set_line_raw(S, pe, intid, level):
    """Drive the input line of an interrupt (for an SGI/PPI, PE ``pe``'s) without updating
    the signals. A rising edge latches the pending state of an edge-triggered interrupt.
    Returns True when the line changed."""
    n = intid >> 5
    bit = 1 << (intid & 31)
    w = word_at(pe, W_LEVEL, n)
    old = S[w] & bit
    if level:
        if old:
            return False
        S[w] |= bit
        if S[word_at(pe, W_EDGE, n)] & bit:
            S[word_at(pe, W_PEND, n)] |= bit
        return True
    if not old:
        return False
    S[w] &= ~bit
    return True


@njit(cache=True)
def gic_update_pe(M, pe):
    """Recompute everything PE ``pe``'s interrupt signals depend on: the virtual interface
    (vIRQ/vFIQ, and the maintenance interrupt it drives), the HPPI, the physical IRQ/FIQ.
    A rising line asks the run loop to look (ATTN); a line that is a WFI (or, taken now, a
    WFE) wake-up event wakes the PE."""
    S = M[L.M_MACH]
    c = M[L.M_CPUS][pe]
    lines = 0
    idx = hppvi_index(c)
    if idx >= 0:
        lr = c[SR.ICH_LR0_EL2 + idx]
        if icv_can_signal(c, lr):
            lines |= L.LINE_VIRQ if lr & LR_GROUP else L.LINE_VFIQ
    maint = (c[SR.ICH_HCR_EL2] & ICH_HCR_EN) != 0 and ich_misr(c) != 0
    set_line_raw(S, pe, memmap.PPI_GIC_MAINTENANCE, maint)
    hid, hp, hg = highest_pending(S, pe)
    r = redist(pe)
    S[r + R_HPPI_ID] = hid
    S[r + R_HPPI_PRIO] = hp
    S[r + R_HPPI_GROUP] = hg
    if icc_can_signal(c, S, pe):
        lines |= L.LINE_IRQ if hg == 1 else L.LINE_FIQ
    old = c[L.IRQ_LINES]
    c[L.IRQ_LINES] = lines
    if lines & ~old:
        c[L.ATTN] = 1
    power = c[L.POWER]
    if (power == L.POWER_WFI and wfi_wakeup(c)) or \
            (power == L.POWER_WFE and pending_async(c)[0] != ASYNC_NONE):
        c[L.POWER] = L.POWER_ON
        c[L.ATTN] = 1
        c[L.CYCLES] += S[L.S_COST + L.COST_WFI_WAKE]   # the cost profile's wake-up latency


@njit(cache=True)
def gic_update(M):
    """``gic_update_pe`` for every PE (after a change to shared state: an SPI, GICD_CTLR)."""
    for pe in range(M[L.M_MACH][L.NUM_PES]):
        gic_update_pe(M, pe)


@njit(cache=True)
def gic_set_ppi(M, pe, intid, level):
    """A PPI input of PE ``pe`` (a timer, the PMU) is now ``level``."""
    if set_line_raw(M[L.M_MACH], pe, intid, level):
        gic_update_pe(M, pe)


@njit(cache=True)
def gic_set_spi(M, intid, level):
    """An SPI input (a device) is now ``level``."""
    if 32 <= intid < NUM_INTIDS and set_line_raw(M[L.M_MACH], 0, intid, level):
        gic_update(M)


# ---------------------------------------------------------------------------------------------
# Acknowledge, deactivate, SGIs: used by the CPU interface (gic_sysregs.py)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def activate(M, pe, intid):
    """Pending -> active (or active and pending, for a level interrupt whose line is still
    high): the acknowledge of ICC_IAR<n>_EL1."""
    S = M[L.M_MACH]
    n = intid >> 5
    bit = 1 << (intid & 31)
    S[word_at(pe, W_ACTIVE, n)] |= bit
    S[word_at(pe, W_PEND, n)] &= ~bit


@njit(cache=True)
def deactivate(M, pe, intid):
    """Active -> inactive (ICC_EOIR with EOImode 0, ICC_DIR, or a HW list register)."""
    if 0 <= intid < NUM_INTIDS:
        S = M[L.M_MACH]
        S[word_at(pe, W_ACTIVE, intid >> 5)] &= ~(1 << (intid & 31))
        if intid < 32:
            gic_update_pe(M, pe)
        else:
            gic_update(M)


@njit(cache=True)
def send_sgi(M, me, value, grp):
    """Generate SGIs as ICC_SGI0R_EL1/ICC_SGI1R_EL1 do (IHI 0069 12.2.21): INTID [27:24]; IRM
    [40] = 1 targets every PE but ``me``; else the PEs whose affinity is Aff3.Aff2.Aff1 of the
    value and whose Aff0 is RS[47:44] * 16 + n for a bit n set in TargetList [15:0]. A target
    takes the SGI only if it configured it in group ``grp`` (Group 0 for SGI0R, Group 1 for
    SGI1R)."""
    S = M[L.M_MACH]
    cpus = M[L.M_CPUS]
    intid = (value >> 24) & 0xF
    bit = 1 << intid
    irm = (value >> 40) & 1
    aff321 = (((value >> 48) & 0xFF) << 24) | (((value >> 32) & 0xFF) << 16) \
        | (((value >> 16) & 0xFF) << 8)
    rs = (value >> 44) & 0xF
    targets = value & 0xFFFF
    for pe in range(S[L.NUM_PES]):
        if irm:
            if pe == me:
                continue
        else:
            mpidr = cpus[pe][SR.MPIDR_EL1]
            aff = (((mpidr >> 32) & 0xFF) << 24) | (mpidr & 0xFFFF00)
            aff0 = mpidr & 0xFF
            if aff != aff321 or aff0 >> 4 != rs or not (targets >> (aff0 & 15)) & 1:
                continue
        r = redist(pe)
        if ((S[r + R_WORDS + W_GROUP] >> intid) & 1) != grp:
            continue
        S[r + R_WORDS + W_PEND] |= bit
        gic_update_pe(M, pe)


# ---------------------------------------------------------------------------------------------
# Memory-mapped registers
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _spi_target(M, route):
    """The PE an SPI with this GICD_IROUTER value is routed to, or -1."""
    if route & IROUTER_IRM:
        return -1
    cpus = M[L.M_CPUS]
    want = route & IROUTER_MASK & ~IROUTER_IRM
    for pe in range(M[L.M_MACH][L.NUM_PES]):
        mpidr = cpus[pe][SR.MPIDR_EL1]
        if (mpidr & 0xFFFFFF) | (((mpidr >> 32) & 0xFF) << 32) == want:
            return pe
    return -1


@njit(cache=True)
def _bits_read(S, pe, kind, n):
    if kind == W_PEND:
        return pending_word(S, pe, n) & 0xFFFFFFFF
    return S[word_at(pe, kind, n)] & 0xFFFFFFFF


@njit(cache=True)
def _bits_write(S, pe, kind, n, value, set_bits):
    w = word_at(pe, kind, n)
    if set_bits:
        S[w] |= value & 0xFFFFFFFF
    else:
        S[w] &= ~(value & 0xFFFFFFFF)


@njit(cache=True)
def _icfgr_read(S, pe, intid0):
    """GICx_ICFGR for 16 interrupts from intid0: Int_config[1] = 1 for edge-triggered."""
    edge = S[word_at(pe, W_EDGE, intid0 >> 5)] >> (intid0 & 31)
    v = 0
    for i in range(16):
        if (edge >> i) & 1:
            v |= 2 << (2 * i)
    return v


@njit(cache=True)
def _icfgr_write(S, pe, intid0, value):
    w = word_at(pe, W_EDGE, intid0 >> 5)
    sh = intid0 & 31
    e = 0
    for i in range(16):
        if (value >> (2 * i + 1)) & 1:
            e |= 1 << i
    S[w] = (S[w] & ~(0xFFFF << sh)) | (e << sh)


@njit(cache=True, inline="always")
def _id_reg(off, ids):
    """PIDR4-7, PIDR0-3, CIDR0-3 at 0xFFD0-0xFFFC."""
    return ids[(off - 0xFFD0) >> 2]


@njit(cache=True)
def gicd_read32(M, off):
    """A 32-bit read of the distributor at offset ``off`` (word aligned)."""
    S = M[L.M_MACH]
    if off == GICD_CTLR_OFF:
        return (S[L.S_GICD + D_CTLR] & (CTLR_ENGRP0 | CTLR_ENGRP1)) | CTLR_ARE | CTLR_DS
    if off == GICD_TYPER_OFF:
        return GICD_TYPER
    if off == GICD_IIDR_OFF:
        return GIC_IIDR
    if GICD_IGROUPR <= off < GICD_IPRIORITYR:
        kind = (W_GROUP, W_ENABLE, W_ENABLE, W_PEND, W_PEND, W_ACTIVE, W_ACTIVE)[
            (off - GICD_IGROUPR) >> 7]
        n = (off & 0x7F) >> 2
        if n == 0 or n >= NWORDS:
            return 0     # SGIs/PPIs live in the redistributors (ARE = 1)
        return _bits_read(S, 0, kind, n)
    if GICD_IPRIORITYR <= off < GICD_IPRIORITYR + NUM_INTIDS:
        intid = off - GICD_IPRIORITYR
        if intid < 32:
            return 0
        v = 0
        for i in range(4):
            v |= S[L.S_GICD + D_PRIO + intid + i] << (8 * i)
        return v
    if GICD_ICFGR + 8 <= off < GICD_ICFGR + NUM_INTIDS // 4:
        return _icfgr_read(S, 0, (off - GICD_ICFGR) * 4)
    if GICD_IROUTER + 32 * 8 <= off < GICD_IROUTER + NUM_INTIDS * 8:
        route = S[L.S_GICD + D_ROUTE + ((off - GICD_IROUTER) >> 3)]
        return (route >> 32) & 0xFFFFFFFF if off & 4 else route & 0xFFFFFFFF
    if off >= 0xFFD0:
        return _id_reg(off, ID_GICD)
    return 0   # reserved, IMPLEMENTATION DEFINED and RAZ/WI registers


@njit(cache=True)
def gicd_write32(M, off, value):
    S = M[L.M_MACH]
    value &= 0xFFFFFFFF
    if off == GICD_CTLR_OFF:
        S[L.S_GICD + D_CTLR] = value & (CTLR_ENGRP0 | CTLR_ENGRP1)
    elif GICD_IGROUPR <= off < GICD_IPRIORITYR:
        i = (off - GICD_IGROUPR) >> 7
        n = (off & 0x7F) >> 2
        if n == 0 or n >= NWORDS:
            return
        if i == 0:
            S[word_at(0, W_GROUP, n)] = value
        else:
            kind = (W_GROUP, W_ENABLE, W_ENABLE, W_PEND, W_PEND, W_ACTIVE, W_ACTIVE)[i]
            _bits_write(S, 0, kind, n, value, (i & 1) == 1)
    elif GICD_IPRIORITYR <= off < GICD_IPRIORITYR + NUM_INTIDS:
        for i in range(4):
            gicd_write_prio(M, off - GICD_IPRIORITYR + i, (value >> (8 * i)) & 0xFF)
    elif GICD_ICFGR + 8 <= off < GICD_ICFGR + NUM_INTIDS // 4:
        _icfgr_write(S, 0, (off - GICD_ICFGR) * 4, value)
    elif GICD_IROUTER + 32 * 8 <= off < GICD_IROUTER + NUM_INTIDS * 8:
        intid = (off - GICD_IROUTER) >> 3
        slot = L.S_GICD + D_ROUTE + intid
        if off & 4:
            route = (S[slot] & 0xFFFFFFFF) | (value << 32)
        else:
            route = (S[slot] & ~0xFFFFFFFF) | value
        S[slot] = route & IROUTER_MASK
        S[L.S_GICD + D_TARGET + intid] = _spi_target(M, S[slot])
    else:
        return
    gic_update(M)


@njit(cache=True)
def gicd_write_prio(M, intid, prio):
    if 32 <= intid < NUM_INTIDS:
        M[L.M_MACH][L.S_GICD + D_PRIO + intid] = prio


@njit(cache=True)
def gicr_read32(M, pe, off):
    """A 32-bit read of PE ``pe``'s redistributor frames at offset ``off``."""
    S = M[L.M_MACH]
    r = redist(pe)
    if off < SGI_BASE:
        if off == GICR_IIDR:
            return GIC_IIDR
        if off == GICR_TYPER:
            last = 1 if pe == S[L.NUM_PES] - 1 else 0
            return (pe << 8) | (last << 4)
        if off == GICR_TYPER + 4:
            mpidr = M[L.M_CPUS][pe][SR.MPIDR_EL1]
            return (((mpidr >> 32) & 0xFF) << 24) | (mpidr & 0xFFFFFF)
        if off == GICR_WAKER:
            return S[r + R_WAKER]
        if off >= 0xFFD0:
            return _id_reg(off, ID_GICR)
        return 0
    off -= SGI_BASE
    if GICD_IGROUPR <= off < GICD_IPRIORITYR and (off & 0x7F) == 0:
        kind = (W_GROUP, W_ENABLE, W_ENABLE, W_PEND, W_PEND, W_ACTIVE, W_ACTIVE)[
            (off - GICD_IGROUPR) >> 7]
        return _bits_read(S, pe, kind, 0)
    if GICD_IPRIORITYR <= off < GICD_IPRIORITYR + 32:
        intid = off - GICD_IPRIORITYR
        v = 0
        for i in range(4):
            v |= S[r + R_PRIO + intid + i] << (8 * i)
        return v
    if off == GICR_ICFGR0:
        return ICFGR0_SGIS
    if off == GICR_ICFGR1:
        return _icfgr_read(S, pe, 16)
    return 0


@njit(cache=True)
def gicr_write32(M, pe, off, value):
    S = M[L.M_MACH]
    r = redist(pe)
    value &= 0xFFFFFFFF
    if off < SGI_BASE:
        if off == GICR_WAKER:
            sleep = value & WAKER_PROCESSOR_SLEEP
            S[r + R_WAKER] = sleep | (WAKER_CHILDREN_ASLEEP if sleep else 0)
        return   # GICR_CTLR (no LPIs: no writable bits), read-only and reserved registers
    off -= SGI_BASE
    if GICD_IGROUPR <= off < GICD_IPRIORITYR and (off & 0x7F) == 0:
        i = (off - GICD_IGROUPR) >> 7
        if i == 0:
            S[r + R_WORDS + W_GROUP] = value
        else:
            kind = (W_GROUP, W_ENABLE, W_ENABLE, W_PEND, W_PEND, W_ACTIVE, W_ACTIVE)[i]
            _bits_write(S, pe, kind, 0, value, (i & 1) == 1)
    elif GICD_IPRIORITYR <= off < GICD_IPRIORITYR + 32:
        for i in range(4):
            S[r + R_PRIO + off - GICD_IPRIORITYR + i] = (value >> (8 * i)) & 0xFF
    elif off == GICR_ICFGR1:
        _icfgr_write(S, pe, 16, value)
    else:
        return   # GICR_ICFGR0 (SGIs are edge-triggered), IGRPMODR0/NSACR (DS = 1), reserved
    gic_update_pe(M, pe)


@njit(cache=True)
def _read32(M, pa):
    """The aligned 32-bit register holding ``pa``."""
    if pa < memmap.GICR_BASE:
        return gicd_read32(M, (pa - memmap.GICD_BASE) & ~3)
    rel = pa - memmap.GICR_BASE
    return gicr_read32(M, rel // memmap.GICR_STRIDE, (rel % memmap.GICR_STRIDE) & ~3)


@njit(cache=True)
def _write32(M, pa, value):
    if pa < memmap.GICR_BASE:
        gicd_write32(M, (pa - memmap.GICD_BASE) & ~3, value)
    else:
        rel = pa - memmap.GICR_BASE
        gicr_write32(M, rel // memmap.GICR_STRIDE, (rel % memmap.GICR_STRIDE) & ~3, value)


@njit(cache=True)
def gic_mmio_read(M, pa, size):
    """A load from the GIC's MMIO windows (the caller checked ``pa`` is in one). 64-bit
    accesses are two 32-bit ones (GICD_IROUTER, GICR_TYPER); byte and halfword reads return
    their lanes of the word (the byte-accessible GICD/GICR_IPRIORITYR included).
    (Not recursive: Numba's cache mishandles recursive functions.)"""
    if size == 8:
        return _read32(M, pa) | (_read32(M, pa + 4) << 32)
    v = _read32(M, pa)
    if size == 4:
        return v
    return (v >> (8 * (pa & 3))) & ((1 << (8 * size)) - 1)


@njit(cache=True)
def gic_mmio_write(M, pa, size, value):
    """A store to the GIC. Byte stores reach the priority registers only (the GIC's only
    byte-accessible registers here; other sub-word stores are ignored)."""
    if size == 8:
        _write32(M, pa, value & 0xFFFFFFFF)
        _write32(M, pa + 4, (value >> 32) & 0xFFFFFFFF)
    elif size == 4:
        _write32(M, pa, value)
    elif size == 1:
        if pa < memmap.GICR_BASE:
            off = pa - memmap.GICD_BASE
            if GICD_IPRIORITYR <= off < GICD_IPRIORITYR + NUM_INTIDS:
                gicd_write_prio(M, off - GICD_IPRIORITYR, value & 0xFF)
                gic_update(M)
        else:
            rel = pa - memmap.GICR_BASE
            pe = rel // memmap.GICR_STRIDE
            off = rel % memmap.GICR_STRIDE - SGI_BASE - GICD_IPRIORITYR
            if 0 <= off < 32:
                M[L.M_MACH][redist(pe) + R_PRIO + off] = value & 0xFF
                gic_update_pe(M, pe)


@njit(cache=True, inline="always")
def gic_claims(M, pa):
    """Is ``pa`` in the distributor or in the redistributor frames of an existing PE?"""
    if memmap.GICD_BASE <= pa < memmap.GICD_BASE + memmap.GICD_SIZE:
        return True
    return memmap.GICR_BASE <= pa < memmap.GICR_BASE + \
        M[L.M_MACH][L.NUM_PES] * memmap.GICR_STRIDE


# ---------------------------------------------------------------------------------------------
# Reset (Python)
# ---------------------------------------------------------------------------------------------
def gic_reset(state: np.ndarray, smp: int) -> None:
    """Cold reset of the distributor and the redistributors (IHI 0069: everything Group 0,
    disabled, inactive, not pending, priority 0, level-sensitive except the SGIs; IROUTER 0;
    GICR_WAKER.ProcessorSleep = ChildrenAsleep = 1). The CPU interface registers are
    system registers and reset with the PE."""
    state[L.S_GICD:L.S_GICD + L.GICD_REGION] = 0
    state[L.S_GICD + D_TARGET:L.S_GICD + D_TARGET + NUM_INTIDS] = 0   # IROUTER 0 -> PE 0
    for pe in range(smp):
        r = L.S_GICR + pe * L.GICR_WIDTH
        state[r:r + L.GICR_WIDTH] = 0
        state[r + R_WAKER] = WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP
        state[r + R_WORDS + W_EDGE] = 0xFFFF
        state[r + R_HPPI_ID] = SPURIOUS
        state[r + R_HPPI_PRIO] = NO_PRIO
