"""The GICv3 CPU interface as system registers (IHI 0069 chapter 12.2-12.4): ICC_* (physical),
ICV_* (virtual: what EL1 reaches through the ICC_* encodings when HCR_EL2.IMO/FMO route
interrupts to EL2) and ICH_* (the hypervisor's control of the virtual interface, list
registers included).

``gic_sysreg_read``/``gic_sysreg_write`` are called by ``armvirt.cpu.sysregs`` for every record
of kind ``KIND_GIC`` after the table's checks (encoding exists at this EL, EL2 traps of the
table). They make the checks that depend on the GIC, in the order of the registers' access
pseudocode, at EL1:

* ICH_HCR_EL2.TALL1 traps the Group 1 registers (IAR1, EOIR1, HPPIR1, BPR1, AP1R0, IGRPEN1),
  TALL0 the Group 0 ones, TC the common ones (CTLR, PMR, RPR, DIR, SGI0R/SGI1R/ASGI1R) and
  TDIR ICC_DIR_EL1 — to EL2 with EC 0x18;
* the SGI registers are trapped to EL2 when HCR_EL2.IMO or FMO is set (a guest's IPIs are the
  hypervisor's to route);
* otherwise, with HCR_EL2.IMO (Group 1 registers), FMO (Group 0) or either (common registers)
  set — TGE counting as both — the access reaches the virtual interface: ICV_*, whose state is
  ICH_VMCR_EL2, ICH_AP0R0/AP1R0_EL2 and the list registers.

Every access that changes state ends in ``gic_update_pe``, which recomputes the PE's physical
and virtual interrupt lines and the maintenance interrupt.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import HCR_FMO, HCR_IMO, HCR_TGE, raise_sysreg_trap
from armvirt.cpu.sysreg_table import ICC_BPR0_MIN, ICC_BPR1_MIN, ICC_CTLR_RESET
from armvirt.devices.gic import (ICH_HCR_EN, ICH_HCR_EOICOUNT_SHIFT, ICH_HCR_TALL0,
                                 ICH_HCR_TALL1, ICH_HCR_TC, ICH_HCR_TDIR, ICH_VMCR_VBPR0_SHIFT,
                                 ICH_VMCR_VBPR1_SHIFT, ICH_VMCR_VCBPR, ICH_VMCR_VENG0,
                                 ICH_VMCR_VENG1, ICH_VMCR_VEOIM, ICH_VMCR_VFIQEN,
                                 ICH_VMCR_VPMR_SHIFT, LR_ACTIVE, LR_GROUP, LR_HW, LR_PENDING,
                                 LR_PINTID_SHIFT, NUM_INTIDS, NUM_LRS, PRE_SHIFT, PRIO_MASK,
                                 R_HPPI_GROUP, R_HPPI_ID, R_HPPI_PRIO, SPURIOUS, activate,
                                 deactivate, gic_update, gic_update_pe, hppvi_index,
                                 icc_can_signal, icc_group_prio_mask, icc_hppi_enabled,
                                 ich_eisr, ich_elrsr, ich_misr, icv_can_signal,
                                 icv_group_prio_mask, icv_running_priority, lowest_bit,
                                 lr_prio, lr_state, redist, running_priority, send_sgi)
from armvirt.cpu.sysreg_table import GIC_PRI_BITS

# Which trap/virtualization class each register belongs to
CLS_G0 = 0
CLS_G1 = 1
CLS_COMMON = 2
CLS_DIR = 3
CLS_SGI = 4
CLS_EL2 = 5      # ICC_SRE_EL2 and the ICH_* registers: EL2 only, never virtualized

ICH_HCR_WMASK = 0xFF | ICH_HCR_TC | ICH_HCR_TALL0 | ICH_HCR_TALL1 | ICH_HCR_TDIR \
    | (0x1F << ICH_HCR_EOICOUNT_SHIFT)
ICH_VMCR_WMASK = ICH_VMCR_VENG0 | ICH_VMCR_VENG1 | ICH_VMCR_VCBPR | ICH_VMCR_VEOIM \
    | (7 << ICH_VMCR_VBPR1_SHIFT) | (7 << ICH_VMCR_VBPR0_SHIFT) | (0xFF << ICH_VMCR_VPMR_SHIFT)
# List register bits: State, HW, Group, the implemented priority bits, pINTID, vINTID
LR_WMASK = (0xF << 60) | ((PRIO_MASK & 0xFF) << 48) | (0x1FFF << 32) | 0xFFFFFFFF
# ICH_VTR_EL2: ListRegs = 3 (four), TDS, nV4, A3V, IDbits 24, PREbits = PRIbits = 5
ICH_VTR = (NUM_LRS - 1) | (1 << 19) | (1 << 20) | (1 << 21) | (1 << 23) \
    | ((GIC_PRI_BITS - 1) << 26) | ((GIC_PRI_BITS - 1) << 29)


@njit(cache=True)
def _cls(enc):
    if enc == SR.ENC_ICC_IAR1_EL1 or enc == SR.ENC_ICC_EOIR1_EL1 or \
            enc == SR.ENC_ICC_HPPIR1_EL1 or enc == SR.ENC_ICC_BPR1_EL1 or \
            enc == SR.ENC_ICC_AP1R0_EL1 or enc == SR.ENC_ICC_IGRPEN1_EL1:
        return CLS_G1
    if enc == SR.ENC_ICC_IAR0_EL1 or enc == SR.ENC_ICC_EOIR0_EL1 or \
            enc == SR.ENC_ICC_HPPIR0_EL1 or enc == SR.ENC_ICC_BPR0_EL1 or \
            enc == SR.ENC_ICC_AP0R0_EL1 or enc == SR.ENC_ICC_IGRPEN0_EL1:
        return CLS_G0
    if enc == SR.ENC_ICC_CTLR_EL1 or enc == SR.ENC_ICC_PMR_EL1 or enc == SR.ENC_ICC_RPR_EL1:
        return CLS_COMMON
    if enc == SR.ENC_ICC_DIR_EL1:
        return CLS_DIR
    if enc == SR.ENC_ICC_SGI0R_EL1 or enc == SR.ENC_ICC_SGI1R_EL1 or \
            enc == SR.ENC_ICC_ASGI1R_EL1:
        return CLS_SGI
    return CLS_EL2


@njit(cache=True)
def _route(c, enc):
    """At EL1: 1 = trap to EL2, 2 = the virtual interface (ICV_*), 0 = the physical one."""
    if c[L.EL] != 1:
        return 0
    cls = _cls(enc)
    if cls == CLS_EL2:
        return 0
    ich = c[SR.ICH_HCR_EL2]
    hcr = c[SR.HCR_EL2]
    imo = (hcr & (HCR_IMO | HCR_TGE)) != 0
    fmo = (hcr & (HCR_FMO | HCR_TGE)) != 0
    if cls == CLS_G1:
        if ich & ICH_HCR_TALL1:
            return 1
        return 2 if imo else 0
    if cls == CLS_G0:
        if ich & ICH_HCR_TALL0:
            return 1
        return 2 if fmo else 0
    if cls == CLS_SGI:
        if ich & ICH_HCR_TC or imo or fmo:
            return 1
        return 0
    if ich & ICH_HCR_TC or (cls == CLS_DIR and ich & ICH_HCR_TDIR):
        return 1
    return 2 if imo or fmo else 0


# ---------------------------------------------------------------------------------------------
# Physical CPU interface (ICC_*)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def icc_highest_active_group(c):
    """The group of the highest priority active interrupt (lowest set active-priority bit; a
    tie goes to Group 0), -1 when nothing is active."""
    a0 = c[SR.ICC_AP0R0_EL1] & 0xFFFFFFFF
    a1 = c[SR.ICC_AP1R0_EL1] & 0xFFFFFFFF
    if a0 == 0 and a1 == 0:
        return -1
    if a1 == 0:
        return 0
    if a0 == 0:
        return 1
    return 1 if lowest_bit(a1) < lowest_bit(a0) else 0


@njit(cache=True)
def icc_hppir(c, M, grp):
    """ICC_HPPIR<grp>_EL1: the HPPI if it is of group ``grp`` and that group is enabled."""
    pe = c[L.PE_INDEX]
    S = M[L.M_MACH]
    r = redist(pe)
    if not icc_hppi_enabled(c, S, pe) or S[r + R_HPPI_GROUP] != grp:
        return SPURIOUS
    return S[r + R_HPPI_ID]


@njit(cache=True)
def icc_iar(c, M, grp):
    """ICC_IAR<grp>_EL1: acknowledge the HPPI if it is of this group and may be signalled
    (PMR, running priority): pending -> active, and its group priority becomes the running
    priority (ICC_AP<grp>R0_EL1). Otherwise 1023, the spurious INTID."""
    pe = c[L.PE_INDEX]
    S = M[L.M_MACH]
    gic_update_pe(M, pe)
    r = redist(pe)
    if not icc_can_signal(c, S, pe) or S[r + R_HPPI_GROUP] != grp:
        return SPURIOUS
    intid = S[r + R_HPPI_ID]
    prio = S[r + R_HPPI_PRIO]
    bit = 1 << ((prio & icc_group_prio_mask(c, grp)) >> PRE_SHIFT)
    if grp == 1:
        c[SR.ICC_AP1R0_EL1] |= bit
    else:
        c[SR.ICC_AP0R0_EL1] |= bit
    activate(M, pe, intid)
    if intid < 32:
        gic_update_pe(M, pe)
    else:
        gic_update(M)
    return intid


@njit(cache=True)
def icc_eoir(c, M, grp, value):
    """ICC_EOIR<grp>_EL1: priority drop of the highest priority active interrupt if it is of
    this group, then (EOImode = 0) deactivation of the INTID written. Special and out-of-range
    INTIDs are ignored (the spurious INTID, or UNPREDICTABLE)."""
    intid = value & 0xFFFFFF
    if intid >= NUM_INTIDS or icc_highest_active_group(c) != grp:
        return
    slot = SR.ICC_AP1R0_EL1 if grp == 1 else SR.ICC_AP0R0_EL1
    ap = c[slot] & 0xFFFFFFFF
    c[slot] = ap & (ap - 1)   # clear the lowest set bit: the running priority drops
    pe = c[L.PE_INDEX]
    if not c[SR.ICC_CTLR_EL1] & 2:
        deactivate(M, pe, intid)
    else:
        gic_update_pe(M, pe)


@njit(cache=True)
def icc_dir(c, M, value):
    """ICC_DIR_EL1: deactivate an interrupt; only meaningful with EOImode = 1 (ignored
    otherwise, one of the UNPREDICTABLE choices)."""
    intid = value & 0xFFFFFF
    if intid < NUM_INTIDS and c[SR.ICC_CTLR_EL1] & 2:
        deactivate(M, c[L.PE_INDEX], intid)


@njit(cache=True)
def _icc_read(c, M, enc):
    if enc == SR.ENC_ICC_PMR_EL1:
        return c[SR.ICC_PMR_EL1]
    if enc == SR.ENC_ICC_IAR1_EL1:
        return icc_iar(c, M, 1)
    if enc == SR.ENC_ICC_IAR0_EL1:
        return icc_iar(c, M, 0)
    if enc == SR.ENC_ICC_HPPIR1_EL1:
        gic_update_pe(M, c[L.PE_INDEX])
        return icc_hppir(c, M, 1)
    if enc == SR.ENC_ICC_HPPIR0_EL1:
        gic_update_pe(M, c[L.PE_INDEX])
        return icc_hppir(c, M, 0)
    if enc == SR.ENC_ICC_BPR0_EL1:
        return c[SR.ICC_BPR0_EL1]
    if enc == SR.ENC_ICC_BPR1_EL1:
        if c[SR.ICC_CTLR_EL1] & 1:
            return min(c[SR.ICC_BPR0_EL1] + 1, 7)
        return c[SR.ICC_BPR1_EL1]
    if enc == SR.ENC_ICC_AP0R0_EL1:
        return c[SR.ICC_AP0R0_EL1]
    if enc == SR.ENC_ICC_AP1R0_EL1:
        return c[SR.ICC_AP1R0_EL1]
    if enc == SR.ENC_ICC_RPR_EL1:
        return running_priority(c[SR.ICC_AP0R0_EL1] | c[SR.ICC_AP1R0_EL1])
    if enc == SR.ENC_ICC_CTLR_EL1:
        return c[SR.ICC_CTLR_EL1]
    if enc == SR.ENC_ICC_IGRPEN0_EL1:
        return c[SR.ICC_IGRPEN0_EL1]
    if enc == SR.ENC_ICC_IGRPEN1_EL1:
        return c[SR.ICC_IGRPEN1_EL1]
    return 0


@njit(cache=True)
def _icc_write(c, M, enc, v):
    pe = c[L.PE_INDEX]
    if enc == SR.ENC_ICC_PMR_EL1:
        c[SR.ICC_PMR_EL1] = v & PRIO_MASK
    elif enc == SR.ENC_ICC_EOIR1_EL1:
        icc_eoir(c, M, 1, v)
        return
    elif enc == SR.ENC_ICC_EOIR0_EL1:
        icc_eoir(c, M, 0, v)
        return
    elif enc == SR.ENC_ICC_DIR_EL1:
        icc_dir(c, M, v)
        return
    elif enc == SR.ENC_ICC_SGI1R_EL1:
        send_sgi(M, pe, v, 1)
        return
    elif enc == SR.ENC_ICC_SGI0R_EL1 or enc == SR.ENC_ICC_ASGI1R_EL1:
        # With GICD_CTLR.DS = 1 there is no other Security state: ASGI1R's "Secure Group 1"
        # SGIs are taken as Group 0, as the Distributor treats Secure Group 1 as Group 0.
        send_sgi(M, pe, v, 0)
        return
    elif enc == SR.ENC_ICC_BPR0_EL1:
        c[SR.ICC_BPR0_EL1] = max(v & 7, ICC_BPR0_MIN)
    elif enc == SR.ENC_ICC_BPR1_EL1:
        if c[SR.ICC_CTLR_EL1] & 1:
            return   # CBPR: BPR1 reads as BPR0 + 1, writes are ignored
        c[SR.ICC_BPR1_EL1] = max(v & 7, ICC_BPR1_MIN)
    elif enc == SR.ENC_ICC_AP0R0_EL1:
        c[SR.ICC_AP0R0_EL1] = v & 0xFFFFFFFF
    elif enc == SR.ENC_ICC_AP1R0_EL1:
        c[SR.ICC_AP1R0_EL1] = v & 0xFFFFFFFF
    elif enc == SR.ENC_ICC_CTLR_EL1:
        c[SR.ICC_CTLR_EL1] = ICC_CTLR_RESET | (v & 3)   # CBPR, EOImode; the rest read-only
    elif enc == SR.ENC_ICC_IGRPEN0_EL1:
        c[SR.ICC_IGRPEN0_EL1] = v & 1
    elif enc == SR.ENC_ICC_IGRPEN1_EL1:
        c[SR.ICC_IGRPEN1_EL1] = v & 1
    else:
        return
    gic_update_pe(M, pe)


# ---------------------------------------------------------------------------------------------
# Virtual CPU interface (ICV_*), state in ICH_VMCR_EL2, ICH_AP<n>R0_EL2, ICH_LR<n>_EL2
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _vmcr_field(c, shift, width):
    return (c[SR.ICH_VMCR_EL2] >> shift) & ((1 << width) - 1)


@njit(cache=True)
def _vmcr_set(c, shift, width, value):
    m = ((1 << width) - 1) << shift
    c[SR.ICH_VMCR_EL2] = (c[SR.ICH_VMCR_EL2] & ~m) | ((value << shift) & m)


@njit(cache=True)
def _icv_find_active(c, intid):
    """FindActiveVirtualInterrupt: the list register holding ``intid`` in an active state."""
    for i in range(NUM_LRS):
        lr = c[SR.ICH_LR0_EL2 + i]
        if lr & LR_ACTIVE and (lr & 0xFFFFFFFF) == intid:
            return i
    return -1


@njit(cache=True)
def _icv_deactivate(c, M, i):
    """Clear the active state of list register i; with HW = 1 also deactivate the physical
    interrupt pINTID (IHI 0069 6.3.1 "Hardware interrupts")."""
    lr = c[SR.ICH_LR0_EL2 + i]
    c[SR.ICH_LR0_EL2 + i] = lr & ~LR_ACTIVE
    if lr & LR_HW:
        pintid = (lr >> LR_PINTID_SHIFT) & 0x1FFF
        if pintid < 1020:
            deactivate(M, c[L.PE_INDEX], pintid)


@njit(cache=True)
def _icv_eoicount_inc(c):
    hcr = c[SR.ICH_HCR_EL2]
    n = ((hcr >> ICH_HCR_EOICOUNT_SHIFT) + 1) & 0x1F
    c[SR.ICH_HCR_EL2] = (hcr & ~(0x1F << ICH_HCR_EOICOUNT_SHIFT)) | (n << ICH_HCR_EOICOUNT_SHIFT)


@njit(cache=True)
def icv_iar(c, grp):
    """ICV_IAR<grp>_EL1: acknowledge the highest priority pending virtual interrupt if it is
    of this group and may be signalled: its list register goes pending -> active and its group
    priority is set in ICH_AP<grp>R0_EL2. A special INTID (1020-1023) in a list register is
    returned as it is and the register becomes invalid."""
    idx = hppvi_index(c)
    if idx < 0:
        return SPURIOUS
    lr = c[SR.ICH_LR0_EL2 + idx]
    if (1 if lr & LR_GROUP else 0) != grp or not icv_can_signal(c, lr):
        return SPURIOUS
    intid = lr & 0xFFFFFFFF
    if 1020 <= intid < 1024:
        c[SR.ICH_LR0_EL2 + idx] = lr & ~LR_PENDING
        return intid
    c[SR.ICH_LR0_EL2 + idx] = (lr & ~LR_PENDING) | LR_ACTIVE
    bit = 1 << ((lr_prio(lr) & icv_group_prio_mask(c, grp)) >> PRE_SHIFT)
    if grp == 1:
        c[SR.ICH_AP1R0_EL2] |= bit
    else:
        c[SR.ICH_AP0R0_EL2] |= bit
    return intid


@njit(cache=True)
def icv_eoir(c, M, grp, value):
    """ICV_EOIR<grp>_EL1: drop the virtual running priority (the lowest set bit of
    ICH_AP0R0/AP1R0, Group 0 first at equal priority); then, unless ICH_VMCR_EL2.VEOIM, deactivate
    the list register holding the INTID if its group and group priority match. An EOI with no
    matching list register counts in ICH_HCR_EL2.EOIcount (the hypervisor emulates it)."""
    intid = value & 0xFFFFFF
    if 1020 <= intid < 1024:
        return
    a0 = c[SR.ICH_AP0R0_EL2] & 0xFFFFFFFF
    a1 = c[SR.ICH_AP1R0_EL2] & 0xFFFFFFFF
    if a0 == 0 and a1 == 0:
        return    # nothing active: we choose not to look at the list registers
    if a1 == 0 or (a0 != 0 and lowest_bit(a0) <= lowest_bit(a1)):
        dropped = lowest_bit(a0) << PRE_SHIFT
        c[SR.ICH_AP0R0_EL2] = a0 & (a0 - 1)
    else:
        dropped = lowest_bit(a1) << PRE_SHIFT
        c[SR.ICH_AP1R0_EL2] = a1 & (a1 - 1)
    i = _icv_find_active(c, intid)
    if i < 0:
        _icv_eoicount_inc(c)
        return
    lr = c[SR.ICH_LR0_EL2 + i]
    if (1 if lr & LR_GROUP else 0) == grp and \
            (lr_prio(lr) & icv_group_prio_mask(c, grp)) == dropped and \
            not c[SR.ICH_VMCR_EL2] & ICH_VMCR_VEOIM:
        _icv_deactivate(c, M, i)


@njit(cache=True)
def icv_dir(c, M, value):
    """ICV_DIR_EL1: with VEOIM = 1, deactivate the list register holding the INTID, or count
    the EOI in EOIcount when none does."""
    intid = value & 0xFFFFFF
    if intid >= 1020 or not c[SR.ICH_VMCR_EL2] & ICH_VMCR_VEOIM:
        return
    i = _icv_find_active(c, intid)
    if i < 0:
        _icv_eoicount_inc(c)
    else:
        _icv_deactivate(c, M, i)


@njit(cache=True)
def icv_hppir(c, grp):
    idx = hppvi_index(c)
    if idx < 0:
        return SPURIOUS
    lr = c[SR.ICH_LR0_EL2 + idx]
    if (1 if lr & LR_GROUP else 0) != grp:
        return SPURIOUS
    return lr & 0xFFFFFFFF


@njit(cache=True)
def _icv_read(c, M, enc):
    if enc == SR.ENC_ICC_IAR1_EL1:
        v = icv_iar(c, 1)
        gic_update_pe(M, c[L.PE_INDEX])
        return v
    if enc == SR.ENC_ICC_IAR0_EL1:
        v = icv_iar(c, 0)
        gic_update_pe(M, c[L.PE_INDEX])
        return v
    if enc == SR.ENC_ICC_HPPIR1_EL1:
        return icv_hppir(c, 1)
    if enc == SR.ENC_ICC_HPPIR0_EL1:
        return icv_hppir(c, 0)
    if enc == SR.ENC_ICC_PMR_EL1:
        return _vmcr_field(c, ICH_VMCR_VPMR_SHIFT, 8)
    if enc == SR.ENC_ICC_BPR0_EL1:
        return _vmcr_field(c, ICH_VMCR_VBPR0_SHIFT, 3)
    if enc == SR.ENC_ICC_BPR1_EL1:
        if c[SR.ICH_VMCR_EL2] & ICH_VMCR_VCBPR:
            return min(_vmcr_field(c, ICH_VMCR_VBPR0_SHIFT, 3) + 1, 7)
        return _vmcr_field(c, ICH_VMCR_VBPR1_SHIFT, 3)
    if enc == SR.ENC_ICC_AP0R0_EL1:
        return c[SR.ICH_AP0R0_EL2]
    if enc == SR.ENC_ICC_AP1R0_EL1:
        return c[SR.ICH_AP1R0_EL2]
    if enc == SR.ENC_ICC_RPR_EL1:
        return icv_running_priority(c)
    if enc == SR.ENC_ICC_CTLR_EL1:
        vmcr = c[SR.ICH_VMCR_EL2]
        v = ICC_CTLR_RESET
        if vmcr & ICH_VMCR_VCBPR:
            v |= 1
        if vmcr & ICH_VMCR_VEOIM:
            v |= 2
        return v
    if enc == SR.ENC_ICC_IGRPEN0_EL1:
        return c[SR.ICH_VMCR_EL2] & ICH_VMCR_VENG0
    if enc == SR.ENC_ICC_IGRPEN1_EL1:
        return (c[SR.ICH_VMCR_EL2] & ICH_VMCR_VENG1) >> 1
    return 0


@njit(cache=True)
def _icv_write(c, M, enc, v):
    if enc == SR.ENC_ICC_EOIR1_EL1:
        icv_eoir(c, M, 1, v)
    elif enc == SR.ENC_ICC_EOIR0_EL1:
        icv_eoir(c, M, 0, v)
    elif enc == SR.ENC_ICC_DIR_EL1:
        icv_dir(c, M, v)
    elif enc == SR.ENC_ICC_PMR_EL1:
        _vmcr_set(c, ICH_VMCR_VPMR_SHIFT, 8, v & PRIO_MASK)
    elif enc == SR.ENC_ICC_BPR0_EL1:
        _vmcr_set(c, ICH_VMCR_VBPR0_SHIFT, 3, max(v & 7, ICC_BPR0_MIN))
    elif enc == SR.ENC_ICC_BPR1_EL1:
        if not c[SR.ICH_VMCR_EL2] & ICH_VMCR_VCBPR:
            _vmcr_set(c, ICH_VMCR_VBPR1_SHIFT, 3, max(v & 7, ICC_BPR1_MIN))
    elif enc == SR.ENC_ICC_AP0R0_EL1:
        c[SR.ICH_AP0R0_EL2] = v & 0xFFFFFFFF
    elif enc == SR.ENC_ICC_AP1R0_EL1:
        c[SR.ICH_AP1R0_EL2] = v & 0xFFFFFFFF
    elif enc == SR.ENC_ICC_CTLR_EL1:
        _vmcr_set(c, 4, 1, v & 1)          # CBPR -> VCBPR
        _vmcr_set(c, 9, 1, (v >> 1) & 1)   # EOImode -> VEOIM
    elif enc == SR.ENC_ICC_IGRPEN0_EL1:
        _vmcr_set(c, 0, 1, v & 1)
    elif enc == SR.ENC_ICC_IGRPEN1_EL1:
        _vmcr_set(c, 1, 1, v & 1)
    else:
        return
    gic_update_pe(M, c[L.PE_INDEX])


# ---------------------------------------------------------------------------------------------
# Hypervisor control (ICH_*_EL2)
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def _lr_index(enc):
    """n for ICH_LR<n>_EL2, else -1."""
    for i in range(NUM_LRS):
        if enc == SR.ENC_ICH_LR0_EL2 + i:
            return i
    return -1


@njit(cache=True)
def _ich_read(c, enc):
    if enc == SR.ENC_ICH_HCR_EL2:
        return c[SR.ICH_HCR_EL2]
    if enc == SR.ENC_ICH_VTR_EL2:
        return ICH_VTR
    if enc == SR.ENC_ICH_VMCR_EL2:
        return c[SR.ICH_VMCR_EL2]
    if enc == SR.ENC_ICH_MISR_EL2:
        return ich_misr(c)
    if enc == SR.ENC_ICH_EISR_EL2:
        return ich_eisr(c)
    if enc == SR.ENC_ICH_ELRSR_EL2:
        return ich_elrsr(c)
    if enc == SR.ENC_ICH_AP0R0_EL2:
        return c[SR.ICH_AP0R0_EL2]
    if enc == SR.ENC_ICH_AP1R0_EL2:
        return c[SR.ICH_AP1R0_EL2]
    i = _lr_index(enc)
    if i >= 0:
        return c[SR.ICH_LR0_EL2 + i]
    return 0


@njit(cache=True)
def _ich_write(c, M, enc, v):
    if enc == SR.ENC_ICH_HCR_EL2:
        c[SR.ICH_HCR_EL2] = v & ICH_HCR_WMASK
    elif enc == SR.ENC_ICH_VMCR_EL2:
        c[SR.ICH_VMCR_EL2] = (v & ICH_VMCR_WMASK) | ICH_VMCR_VFIQEN
        # a BPR written below its minimum reads as the minimum
        _vmcr_set(c, ICH_VMCR_VBPR0_SHIFT, 3,
                  max(_vmcr_field(c, ICH_VMCR_VBPR0_SHIFT, 3), ICC_BPR0_MIN))
        _vmcr_set(c, ICH_VMCR_VBPR1_SHIFT, 3,
                  max(_vmcr_field(c, ICH_VMCR_VBPR1_SHIFT, 3), ICC_BPR1_MIN))
    elif enc == SR.ENC_ICH_AP0R0_EL2:
        c[SR.ICH_AP0R0_EL2] = v & 0xFFFFFFFF
    elif enc == SR.ENC_ICH_AP1R0_EL2:
        c[SR.ICH_AP1R0_EL2] = v & 0xFFFFFFFF
    else:
        i = _lr_index(enc)
        if i < 0:
            return
        c[SR.ICH_LR0_EL2 + i] = v & LR_WMASK
    gic_update_pe(M, c[L.PE_INDEX])


# ---------------------------------------------------------------------------------------------
# Entry points from armvirt.cpu.sysregs
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def gic_sysreg_read(c, M, enc, op0, op1, crn, crm, op2, rt, pc):
    """MRS of a KIND_GIC register. Returns (ok, value); on False an exception was taken."""
    route = _route(c, enc)
    if route == 1:
        raise_sysreg_trap(c, M, 2, op0, op1, crn, crm, op2, rt, True, pc)
        return False, 0
    if route == 2:
        return True, _icv_read(c, M, enc)
    if ((enc >> 11) & 7) == 4:   # op1 = 4: ICH_*_EL2
        return True, _ich_read(c, enc)
    return True, _icc_read(c, M, enc)


@njit(cache=True)
def gic_sysreg_write(c, M, enc, op0, op1, crn, crm, op2, rt, value, pc):
    """MSR to a KIND_GIC register. Returns ok; on False an exception was taken."""
    route = _route(c, enc)
    if route == 1:
        raise_sysreg_trap(c, M, 2, op0, op1, crn, crm, op2, rt, False, pc)
        return False
    if route == 2:
        _icv_write(c, M, enc, value)
    elif ((enc >> 11) & 7) == 4:
        _ich_write(c, M, enc, value)
    else:
        _icc_write(c, M, enc, value)
    return True


@njit(cache=True)
def gic_sysreg_peek(c, M, enc):
    """The value a debugger shows: as an MRS at EL2 would read it, but without side effects
    (an acknowledge register shows what it would return)."""
    if enc == SR.ENC_ICC_IAR1_EL1 or enc == SR.ENC_ICC_HPPIR1_EL1:
        return icc_hppir(c, M, 1)
    if enc == SR.ENC_ICC_IAR0_EL1 or enc == SR.ENC_ICC_HPPIR0_EL1:
        return icc_hppir(c, M, 0)
    if ((enc >> 11) & 7) == 4:
        return _ich_read(c, enc)
    if enc == SR.ENC_ICC_EOIR0_EL1 or enc == SR.ENC_ICC_EOIR1_EL1 or \
            enc == SR.ENC_ICC_DIR_EL1 or _cls(enc) == CLS_SGI:
        return 0
    return _icc_read(c, M, enc)
